"""The compute engine: L rows x H computing elements, the X/W/Z buffers and their scheduler.

Stream protocol: the engine consumes X, W and Y beats and produces Z beats in the order of
``spec.schedule`` (m-tile -> k-tile; inside a tile X by n-chunk then row, W by n, Y and Z by row).
Elements of a beat beyond N (X) or K (W, Y) are don't-care; Z beats carry a mask of the columns
below K. The three input streams are independent: each is consumed as soon as the engine has room,
so a producer serving whichever stream is ready never deadlocks. Timing: docs/architecture.md
("Timing model").
"""
from types import SimpleNamespace

from amaranth.hdl import ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.engine.ce import CE_SIGNATURE, ComputeElement
from redmule_hdl.engine.job_slots import JobSlots
from redmule_hdl.engine.tile_walk import ROWS, TileWalk
from redmule_hdl.engine.w_buffer import WBuffer
from redmule_hdl.engine.x_buffer import XBuffer
from redmule_hdl.engine.z_buffer import ZBuffer
from redmule_hdl.interfaces import CeControl, EngineJob, beat_layout, z_beat_layout
from redmule_hdl.spec.regmap import DIM_BITS

__all__ = ["Engine"]


class Engine(wiring.Component):
    """The RedMulE compute engine for a ``Config`` (L, H, P).

    Ports:
        job (stream in, ``EngineJob``: m, n, k, uses_y, ce): M, N, K >= 1; accepted while one of the
            two job slots is free, so the next job can be accepted while the current one runs.
        x, w, y (streams in): operand beats of D FP16 elements, order in the module docstring.
        z (stream out): result beats (``data``, ``mask``).
        busy: a job is in progress.   done: one-cycle pulse with each job's last Z beat.
        abort: return to idle at once (soft clear); accepted jobs and buffered beats are dropped.
    Timing: a tile of L x D outputs costs ``ceil(N/H) * D`` cycles with all CEs busy; tiles follow
    each other without bubbles while the streams keep up. If a beat is late or ``z`` is not ready, the
    whole array stalls (one global enable) and resumes without losing or repeating work.
    Jobs in a row: the X fill, the sequencer and the Y/Z phases each walk the accepted jobs in order
    (``JobSlots``). When the next job is there before the sequencer feeds the last step of the current
    one and it has the same CE control, its first tile follows like another tile of the same job: the
    current job's last Z leaves during the next job's first pass. Otherwise the current job's last Z
    flushes out first (D cycles), and the next job starts after.
    """

    class _State(enum.Enum):
        """The sequencer's state."""
        IDLE = 0
        RUN = 1     # feeding the steps of tiles
        FLUSH = 2   # D cycles after the last tile of a job not followed at once: its Z enters the Z-buffer

    class _ZPhase(enum.Enum):
        PREP = 0    # drain the held Z, then fill Y for the next window
        READY = 1   # waiting for the next window
        SHIFT = 2   # Y goes out to CE 0, Z comes in from CE H-1

    def __init__(self, config, *, ce_module=None):
        self.config = check_config(config)
        # Export mode: instantiate the CEs as ``Instance(ce_module)`` of one separately elaborated
        # ``ComputeElement(P)`` module (``redmule_hdl.export``); None elaborates every CE (simulation).
        self.ce_module = ce_module
        super().__init__({
            "job": In(stream.Signature(EngineJob)),
            "x": In(stream.Signature(beat_layout(config.D))),
            "w": In(stream.Signature(beat_layout(config.D))),
            "y": In(stream.Signature(beat_layout(config.D))),
            "z": Out(stream.Signature(z_beat_layout(config.D))),
            "busy": Out(1),
            "done": Out(1),
            "abort": In(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        m.submodules.xbuf = xbuf = XBuffer(c.L, c.D)
        m.submodules.wbuf = wbuf = WBuffer(c.H, c.D)
        m.submodules.zbuf = zbuf = ZBuffer(c.L, c.D)
        ces = [[self._ce(m, f"ce_{r}_{h}") for h in range(c.H)] for r in range(c.L)]

        # Nets shared by the parts below; each part drives its own.
        m.submodules.slots = slots = JobSlots(EngineJob, ("seq", "xfill", "ytile", "ztile"),
                                              release="ztile")
        s = SimpleNamespace(
            slots=slots,
            seq=slots.walk.seq, xfill=slots.walk.xfill,
            ytile=slots.walk.ytile, ztile=slots.walk.ztile,
            ce=Signal(CeControl, name="ce"),    # the CE control of the jobs in the array
            state=Signal(self._State, name="state"),
            en=Signal(name="en"),               # the array's global enable
            zphase=Signal(self._ZPhase, name="zphase"),
            x_regs=[[Signal(16, name=f"x_{r}_{h}") for h in range(c.H)] for r in range(c.L)],
            pad=[Signal(name=f"pad_{h}") for h in range(c.H)],
            # Column 0 is in the first pass of a tile (its addend is Y or +0), and that tile's job reads Y.
            first_pass=Signal(name="first_pass"), first_uses_y=Signal(name="first_uses_y"),
            # The array's first pass of a tile, or the flush after a job's last tile (and its start).
            dp_window=Signal(name="dp_window"), dp_window_start=Signal(name="dp_window_start"),
            first_window=Signal(name="first_window"),     # the next window brings no Z (array empty)
            flush_pending=Signal(name="flush_pending"),   # the next window is a flush (no tile, no Y)
            chain=Signal(name="chain"),   # the sequencer's next job will follow its job without a flush
            clear=[],                 # statements that return the parts to idle (abort)
        )
        m.d.comb += self.busy.eq(slots.any_full)
        # The order matters where parts assign the same register: later statements win.
        self._sequencer(m, s, xbuf, wbuf)
        self._ce_array(m, s, ces, xbuf, wbuf, zbuf)
        self._x_fill(m, s, xbuf)
        wiring.connect(m, wiring.flipped(self.w), wbuf.beat)
        self._z_buffer(m, s, zbuf)
        self._job_control(m, s, xbuf)
        return m

    def _ce(self, m, name):
        """CE ``name``: a ``ComputeElement`` submodule, or in export mode an ``Instance`` of
        ``ce_module`` with the same ports (returned as an interface of the CE's signature)."""
        if self.ce_module is None:
            m.submodules[name] = ce = ComputeElement(self.config.P)
            return ce
        port = CE_SIGNATURE.create(path=(name,))
        m.submodules[name] = Instance(
            self.ce_module, i_clk=ClockSignal(), i_rst=ResetSignal(),
            **{("i_" if member.flow == In else "o_") + key: getattr(port, key)
               for key, member in CE_SIGNATURE.members.items()})
        return port

    def _sequencer(self, m, s, xbuf, wbuf):
        """Feeds one reduction step to CE column ``n mod H`` every P+1 cycles, tile after tile and
        job after job.

        The global enable ``en`` stalls everything while the next step's X or W operand is missing or
        the Z-buffer is not ready for the next tile's first pass.
        """
        c, State = self.config, self._State
        L, H, P, D = c.L, c.H, c.P, c.D
        seq, state, en = s.seq, s.state, s.en
        job = seq.job
        cyc = Signal(range(P + 1))       # cycle within a step
        h_cur = Signal(range(H))         # column fed at this step
        n = Signal(DIM_BITS + 1)         # reduction step within the tile
        e = Signal(range(D))             # n mod D: position in the X chunk
        flush = Signal(range(D))
        m.submodules.tile = tile = TileWalk(c)
        m.d.comb += [tile.m.eq(job.m), tile.k.eq(job.k), tile.restart.eq(self.abort)]
        s.clear += [state.eq(State.IDLE), s.flush_pending.eq(0)]

        feeding = (state == State.RUN) & (cyc == 0)
        real = n < job.n
        seq_window = ((state == State.RUN) & (n < H)) | (state == State.FLUSH)
        seq_window_start = ((state == State.RUN) & (n == 0) & (cyc == 0)) | \
                           ((state == State.FLUSH) & (flush == 0))
        # The datapath runs one cycle behind the sequencer: operands fed in cycle t are used from t+1.
        feed_ok = ~(feeding & real) | (wbuf.beat.valid & xbuf.can_take)
        z_ok = ~s.dp_window_start | (s.zphase == self._ZPhase.READY)
        m.d.comb += en.eq(feed_ok & z_ok)

        m.d.comb += [
            wbuf.column.eq(h_cur),
            wbuf.feed.eq(feeding & real),
            wbuf.shift.eq(en),
            xbuf.take.eq(en & feeding & real),
            xbuf.take_last.eq((e == D - 1) | (n + 1 == job.n)),
        ]
        # Per-column operand registers, loaded when the column is fed.
        with m.If(en & feeding):
            for h in range(H):
                with m.If(h_cur == h):
                    m.d.sync += s.pad[h].eq(~real)
                    with m.If(real):
                        m.d.sync += [s.x_regs[r][h].eq(xbuf.head[r]) for r in range(L)]
            with m.If(h_cur == 0):
                m.d.sync += [s.first_pass.eq(n == 0), s.first_uses_y.eq(job.uses_y)]

        # A job follows the current one at once if it is there and runs the same op in the array.
        chain = s.chain
        m.d.comb += chain.eq(seq.next_active & (seq.next_job.ce.as_value() == s.ce.as_value()))
        with m.If(en):
            m.d.sync += [s.dp_window.eq(seq_window), s.dp_window_start.eq(seq_window_start)]
        with m.Switch(state):
            with m.Case(State.IDLE):
                # A new job starts once the previous window (the last flush) has left the datapath.
                with m.If(seq.active & ~s.dp_window):
                    m.d.sync += [state.eq(State.RUN), cyc.eq(0), n.eq(0), h_cur.eq(0), e.eq(0),
                                 s.ce.eq(job.ce), s.first_window.eq(1)]
            with m.Case(State.RUN):
                with m.If(en):
                    with m.If(cyc == P):
                        m.d.sync += cyc.eq(0)
                        with m.If((h_cur == H - 1) & (n + 1 >= job.n)):
                            m.d.sync += [n.eq(0), h_cur.eq(0), e.eq(0)]
                            m.d.comb += tile.advance.eq(1)
                            with m.If(tile.is_last):
                                m.d.comb += [seq.finish.eq(1), tile.restart.eq(1)]
                                with m.If(~chain):
                                    m.d.sync += [state.eq(State.FLUSH), flush.eq(0),
                                                 s.flush_pending.eq(1)]
                        with m.Else():
                            m.d.sync += [
                                n.eq(n + 1),
                                h_cur.eq(Mux(h_cur == H - 1, 0, h_cur + 1)),
                                e.eq(Mux(e == D - 1, 0, e + 1)),
                            ]
                    with m.Else():
                        m.d.sync += cyc.eq(cyc + 1)
            with m.Case(State.FLUSH):
                with m.If(en):
                    m.d.sync += flush.eq(flush + 1)
                    with m.If(flush == D - 1):
                        m.d.sync += state.eq(State.IDLE)

    def _ce_array(self, m, s, ces, xbuf, wbuf, zbuf):
        """Wires the L rings of H CEs: X per CE, W per column, the ring's accumulator path and the
        Z-buffer (Y into CE 0 in a tile's first pass, Z out of CE H-1). The CEs register their
        operands one cycle ahead, so each also gets X and W as they will be after this cycle."""
        L, H = self.config.L, self.config.H
        for r in range(L):
            for h in range(H):
                ce = ces[r][h]
                # x_regs[r][h] takes xbuf.head[r] when W column h is fed: the sequencer feeds both.
                x_next = Mux(wbuf.feed & (wbuf.column == h), xbuf.head[r], s.x_regs[r][h])
                if h == 0:
                    start = Mux(s.first_uses_y, zbuf.head[r], 0)
                    acc = Mux(s.first_pass, start, ces[r][H - 1].z)
                else:
                    acc = ces[r][h - 1].z
                m.d.comb += [
                    ce.x.eq(s.x_regs[r][h]), ce.x_next.eq(x_next), ce.w_next.eq(wbuf.w_next[h]),
                    ce.acc.eq(acc),
                    ce.ctrl.eq(s.ce), ce.pad.eq(s.pad[h]), ce.en.eq(s.en),
                ]
            m.d.comb += zbuf.shift_in[r].eq(ces[r][H - 1].z)
        m.d.comb += zbuf.shift.eq(s.en & s.dp_window)

    def _x_fill(self, m, s, xbuf):
        """Tells the X-buffer how many rows the group it is filling has (tile and n-chunk walk)."""
        c = self.config
        job = s.xfill.job
        m.submodules.xfill_walk = xfill = TileWalk(c, inner=[("n0", c.D, "n")])
        m.d.comb += [xfill.m.eq(job.m), xfill.k.eq(job.k), xfill.n.eq(job.n),
                     xfill.restart.eq(self.abort)]
        wiring.connect(m, wiring.flipped(self.x), xbuf.beat)
        m.d.comb += [
            xbuf.fill_enable.eq(s.xfill.active),
            xbuf.fill_rows.eq(xfill.rows),
        ]
        # The walk moves in the cycle after a group's last beat: the X-buffer takes no beat in that
        # cycle (its pending group is full), and the walk's row count is off the path from the beat.
        group_done = Signal()
        m.d.sync += group_done.eq(xbuf.group_done)
        s.clear += [group_done.eq(0)]
        with m.If(group_done):
            m.d.comb += xfill.advance.eq(1)
            with m.If(xfill.is_last):
                m.d.comb += [s.xfill.finish.eq(1), xfill.restart.eq(1)]

    def _z_buffer(self, m, s, zbuf):
        """The Z-buffer's phases: drain the previous tile's Z, preload the next tile's Y, then shift
        during the tile's first pass (Y out to CE 0, Z in from CE H-1)."""
        c, ZPhase = self.config, self._ZPhase
        L, D = c.L, c.D
        zphase = s.zphase
        yjob, zjob = s.ytile.job, s.ztile.job
        m.submodules.ytile = ytile = TileWalk(c)                         # tile of the next window
        m.submodules.ztile = ztile = TileWalk(c, inner=[("r", 1, ROWS)])  # Z held in the buffer, by row
        m.d.comb += [ytile.m.eq(yjob.m), ytile.k.eq(yjob.k), ytile.restart.eq(self.abort),
                     ztile.m.eq(zjob.m), ztile.k.eq(zjob.k), ztile.restart.eq(self.abort)]
        held_z = Signal()
        row0_sent = Signal()   # in this window, row 0 of the held Z already left by the forward
        all_sent = Signal()    # ... and it was the held Z's only row
        window_flush = Signal()   # the current window is a flush (it belongs to no tile)
        shifts = Signal(range(D))
        yrow = Signal(range(L))
        s.clear += [zphase.eq(ZPhase.PREP), held_z.eq(0), yrow.eq(0), row0_sent.eq(0), all_sent.eq(0),
                    window_flush.eq(0)]

        m.d.comb += [
            zbuf.rd_row.eq(ztile.r),
            self.z.payload.data.eq(zbuf.rd_data),
            zbuf.wr_row.eq(yrow),
            zbuf.wr_data.eq(self.y.payload),
        ]
        for j in range(D):
            m.d.comb += self.z.payload.mask[j].eq(ztile.k0 + j < zjob.k)

        # Row 0 of a Z can leave from the window's last shift on (the Z-buffer forwards the element
        # entering it), the other rows in the PREP phase that follows. The forward does not wait for
        # the array's enable: while the array stalls, CE H-1 holds the last element, so the forwarded
        # row is already final; this keeps the memory's grant and response signals out of the path
        # to the store request (no combinational path from an input port to an output port).
        last_step = (zphase == ZPhase.SHIFT) & s.dp_window & (shifts == D - 1)
        last_shift = last_step & zbuf.shift
        forward = last_step & ~s.first_window & ~row0_sent
        m.d.comb += [
            zbuf.rd_forward.eq(forward),
            self.z.valid.eq(((zphase == ZPhase.PREP) & held_z) | forward),
        ]
        # The Y walk's tile is the next window's once it is the sequencer's job, or the sequencer's
        # next job when that one will follow without a flush (``chain``).
        y_next = s.ytile.active & ((s.ytile.ptr == s.seq.ptr) | ((s.state == self._State.RUN) & s.chain))
        with m.Switch(zphase):
            with m.Case(ZPhase.PREP):
                # While a Z is held it drains (below); then the next window's Y fills the rows. The
                # next window is a flush (no Y) or the first pass of the Y walk's tile.
                with m.If(held_z):
                    pass
                with m.Elif(s.flush_pending | (y_next & ~yjob.uses_y)):
                    m.d.sync += zphase.eq(ZPhase.READY)
                with m.Elif(y_next):
                    m.d.comb += [self.y.ready.eq(1), zbuf.wr_en.eq(self.y.valid)]
                    with m.If(self.y.valid):
                        with m.If(yrow == ytile.rows - 1):
                            m.d.sync += [yrow.eq(0), zphase.eq(ZPhase.READY)]
                        with m.Else():
                            m.d.sync += yrow.eq(yrow + 1)
            with m.Case(ZPhase.READY):
                with m.If(zbuf.shift):
                    m.d.sync += [zphase.eq(ZPhase.SHIFT), shifts.eq(1), window_flush.eq(s.flush_pending)]
                    # (The sequencer may set flush_pending in this cycle, for the window after this one.)
                    with m.If(s.flush_pending):
                        m.d.sync += s.flush_pending.eq(0)
            with m.Case(ZPhase.SHIFT):
                with m.If(zbuf.shift):
                    m.d.sync += shifts.eq(shifts + 1)
                    with m.If(shifts == D - 1):
                        m.d.sync += [zphase.eq(ZPhase.PREP), held_z.eq(~s.first_window & ~all_sent),
                                     s.first_window.eq(0)]
                        with m.If(~window_flush):
                            m.d.comb += ytile.advance.eq(1)
                            with m.If(ytile.is_last):
                                m.d.comb += [s.ytile.finish.eq(1), ytile.restart.eq(1)]
        # Drain (after the phase logic: finishing the last row overrides the held_z set above).
        with m.If(self.z.valid & self.z.ready):
            m.d.comb += ztile.advance.eq(1)
            with m.If(ztile.last.r):
                m.d.sync += held_z.eq(0)
            with m.If(ztile.is_last):
                m.d.comb += [self.done.eq(1), s.ztile.finish.eq(1), ztile.restart.eq(1)]
        # The forward happens at most once per window (it may come before the window's last shift).
        with m.If(last_shift):
            m.d.sync += [row0_sent.eq(0), all_sent.eq(0)]
        with m.Elif(forward & self.z.ready):
            m.d.sync += [row0_sent.eq(1), all_sent.eq(ztile.last.r)]

    def _job_control(self, m, s, xbuf):
        """Accepts a job into a free slot and aborts at once (every part back to idle)."""
        wiring.connect(m, wiring.flipped(self.job), s.slots.put)
        m.d.comb += [s.slots.clear.eq(self.abort), xbuf.clear.eq(self.abort)]
        with m.If(self.abort):
            m.d.sync += [*s.clear, s.dp_window.eq(0), s.dp_window_start.eq(0)]
