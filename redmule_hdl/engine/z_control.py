"""The Z-buffer's phases: drain the held Z, preload the next window's Y, shift during the window."""
from amaranth.hdl import Module, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.engine.job_slots import JOBS_IN_FLIGHT, WalkerSignature
from redmule_hdl.engine.tile_walk import ROWS, TileWalk
from redmule_hdl.interfaces import EngineJob, beat_layout, z_beat_layout

__all__ = ["ZControl"]


class ZControl(wiring.Component):
    """Controls the Z-buffer: drains the previous tile's Z, preloads the next tile's Y, then shifts
    during the tile's first pass (Y out to CE 0, Z in from CE H-1). Two walkers of the engine's
    ``JobSlots``: ``ytile`` (the tile of the next window) and ``ztile`` (the Z held, by row; it
    releases the job's slot).

    Ports:
        ytile, ztile (flipped ``WalkerSignature``): the jobs of the Y preload and of the Z drain.
        seq_ptr: the sequencer's slot.   running, chain, start, flush: the sequencer's (see
            ``Sequencer``).   en, window: the array's enable and the sequencer's window.
        abort: back to the first phase at once.
        ready: waiting for the next window (the sequencer may start it).
        y (stream in): Y beats, written into the Z-buffer's rows.
        z (stream out): Z beats, read from the Z-buffer's rows (``data``) with the mask of the
            columns below K. ``done``: one-cycle pulse with a job's last Z beat.
        shift, wr_en, wr_row, wr_data, rd_row, rd_forward (out), rd_data (in): the Z-buffer's.
    Windows: a window is the first pass of a tile, or a flush (the D cycles after a job's last tile
    when the next job does not follow at once: its Z enters the Z-buffer, no Y leaves).
    ``first_window`` (the next window brings no Z: the array was empty) is set by ``start``, and
    ``flush_pending`` (the next window is a flush) by ``flush``; the phases below clear them.
    """

    class Phase(enum.Enum):
        PREP = 0    # drain the held Z, then fill Y for the next window
        READY = 1   # waiting for the next window
        SHIFT = 2   # Y goes out to CE 0, Z comes in from CE H-1

    def __init__(self, config, *, depth=JOBS_IN_FLIGHT):
        self.config = c = check_config(config)
        super().__init__({
            "ytile": In(WalkerSignature(EngineJob, depth, fields=("m", "k", "uses_y"))),
            "ztile": In(WalkerSignature(EngineJob, depth, fields=("m", "k"))),
            "seq_ptr": In(range(depth)),
            "running": In(1), "chain": In(1), "start": In(1), "flush": In(1),
            "en": In(1), "window": In(1), "abort": In(1),
            "ready": Out(1),
            "y": In(stream.Signature(beat_layout(c.D))),
            "z": Out(stream.Signature(z_beat_layout(c.D))),
            "done": Out(1),
            "shift": Out(1), "wr_en": Out(1), "wr_row": Out(range(c.L)), "wr_data": Out(beat_layout(c.D)),
            "rd_row": Out(range(c.L)), "rd_forward": Out(1), "rd_data": In(beat_layout(c.D)),
        })

    def elaborate(self, platform):
        c, Phase = self.config, self.Phase
        L, D = c.L, c.D
        m = Module()
        zphase = Signal(Phase)
        yjob, zjob = self.ytile.job, self.ztile.job
        m.submodules.ywalk = ytile = TileWalk(c)                           # tile of the next window
        m.submodules.zwalk = ztile = TileWalk(c, inner=[("r", 1, ROWS)])   # Z held in the buffer, by row
        held_z = Signal()
        row0_sent = Signal()   # in this window, row 0 of the held Z already left by the forward
        all_sent = Signal()    # ... and it was the held Z's only row
        window_flush = Signal()   # the current window is a flush (it belongs to no tile)
        first_window = Signal()   # the next window brings no Z (array empty)
        flush_pending = Signal()  # the next window is a flush (no tile, no Y)
        shifts = Signal(range(D))
        yrow = Signal(range(L))

        m.d.comb += [
            ytile.m.eq(yjob.m), ytile.k.eq(yjob.k), ztile.m.eq(zjob.m), ztile.k.eq(zjob.k),
            self.ready.eq(zphase == Phase.READY),
            self.shift.eq(self.en & self.window),
            self.rd_row.eq(ztile.r),
            self.z.payload.data.eq(self.rd_data),
            self.wr_row.eq(yrow),
            self.wr_data.eq(self.y.payload),
        ]
        for j in range(D):
            m.d.comb += self.z.payload.mask[j].eq(ztile.k0 + j < zjob.k)

        # The sequencer's pulses set the flags; the phases below clear them (and win).
        with m.If(self.start):
            m.d.sync += first_window.eq(1)
        with m.If(self.flush):
            m.d.sync += flush_pending.eq(1)

        # Row 0 of a Z can leave from the window's last shift on (the Z-buffer forwards the element
        # entering it), the other rows in the PREP phase that follows. The forward does not wait for
        # the array's enable: while the array stalls, CE H-1 holds the last element, so the forwarded
        # row is already final; this keeps the memory's grant and response signals out of the path
        # to the store request (no combinational path from an input port to an output port).
        last_step = (zphase == Phase.SHIFT) & self.window & (shifts == D - 1)
        last_shift = last_step & self.shift
        forward = last_step & ~first_window & ~row0_sent
        m.d.comb += [
            self.rd_forward.eq(forward),
            self.z.valid.eq(((zphase == Phase.PREP) & held_z) | forward),
        ]
        # The Y walk's tile is the next window's once it is the sequencer's job, or the sequencer's
        # next job when that one will follow without a flush (``chain``).
        y_next = self.ytile.active & ((self.ytile.ptr == self.seq_ptr) | (self.running & self.chain))
        with m.Switch(zphase):
            with m.Case(Phase.PREP):
                # While a Z is held it drains (below); then the next window's Y fills the rows. The
                # next window is a flush (no Y) or the first pass of the Y walk's tile.
                with m.If(held_z):
                    pass
                with m.Elif(flush_pending | (y_next & ~yjob.uses_y)):
                    m.d.sync += zphase.eq(Phase.READY)
                with m.Elif(y_next):
                    m.d.comb += [self.y.ready.eq(1), self.wr_en.eq(self.y.valid)]
                    with m.If(self.y.valid):
                        with m.If(yrow == ytile.rows - 1):
                            m.d.sync += [yrow.eq(0), zphase.eq(Phase.READY)]
                        with m.Else():
                            m.d.sync += yrow.eq(yrow + 1)
            with m.Case(Phase.READY):
                with m.If(self.shift):
                    m.d.sync += [zphase.eq(Phase.SHIFT), shifts.eq(1), window_flush.eq(flush_pending)]
                    # (The sequencer may set flush_pending in this cycle, for the window after this one.)
                    with m.If(flush_pending):
                        m.d.sync += flush_pending.eq(0)
            with m.Case(Phase.SHIFT):
                with m.If(self.shift):
                    m.d.sync += shifts.eq(shifts + 1)
                    with m.If(shifts == D - 1):
                        m.d.sync += [zphase.eq(Phase.PREP), held_z.eq(~first_window & ~all_sent),
                                     first_window.eq(0)]
                        with m.If(~window_flush):
                            m.d.comb += ytile.advance.eq(1)
                            with m.If(ytile.is_last):
                                m.d.comb += [self.ytile.finish.eq(1), ytile.restart.eq(1)]
        # Drain (after the phase logic: finishing the last row overrides the held_z set above).
        with m.If(self.z.valid & self.z.ready):
            m.d.comb += ztile.advance.eq(1)
            with m.If(ztile.last.r):
                m.d.sync += held_z.eq(0)
            with m.If(ztile.is_last):
                m.d.comb += [self.done.eq(1), self.ztile.finish.eq(1), ztile.restart.eq(1)]
        # The forward happens at most once per window (it may come before the window's last shift).
        with m.If(last_shift):
            m.d.sync += [row0_sent.eq(0), all_sent.eq(0)]
        with m.Elif(forward & self.z.ready):
            m.d.sync += [row0_sent.eq(1), all_sent.eq(ztile.last.r)]

        with m.If(self.abort):
            m.d.comb += [ytile.restart.eq(1), ztile.restart.eq(1)]
            m.d.sync += [zphase.eq(Phase.PREP), held_z.eq(0), yrow.eq(0), row0_sent.eq(0),
                         all_sent.eq(0), window_flush.eq(0), flush_pending.eq(0)]
        return m
