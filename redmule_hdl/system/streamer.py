"""The streamer: the TCDM port, address generators, cast-in/cast-out and the port arbiter (DESIGN 5, 6).

It turns a ``StreamerJob`` into the engine's operand streams X, W, Y and stores the engine's Z stream,
in exactly the order of ``redmule_hdl.engine`` (loop order m-tile -> k-tile, see that module's
docstring), through one shared TCDM initiator port.

Data path::

    address generators X W Y Z ──> arbiter ──> tcdm.req/add/wen/be/data
                                      │ read: tag (stream, byte offset, group-last) into the tag FIFO
    tcdm.r_data ──> >> 8*offset ──> cast-in (FP8 -> FP16) ──> X / W / Y FIFO (or straight through) ──> engine
    engine z ──> cast-out (FP16 -> FP8) ──> << 8*offset, byte enables from the mask ──> tcdm (store)

Beat addressing. A beat is ``D`` elements of one row starting at element address ``a``; the request
goes to ``a & ~3`` and the response is shifted right by ``a & 3`` bytes. With ``misaligned=True`` the
port is 32 bits wider than a beat, so every element-aligned row works. With ``misaligned=False`` there
is no shifter: the controller must guarantee that every beat address is word aligned (base addresses
and pitches multiples of 4 and ``D * element size`` a multiple of 4); address bits [1:0] are ignored.
Element size is 1 byte for FP8 (E5M2 code 0, E4M3 code 2) and 2 bytes for FP16 (code 1); X and W use
``in_fmt``, Y and Z ``out_fmt``. Reads always fetch the whole port width (``port_width/8`` bytes from
``a & ~3``), which can extend past the end of a row or matrix; stores enable exactly the bytes of the
valid elements (engine mask) and never touch any other byte.

Flow control. Each load stream owns ``depth`` credits (its FIFO depth): a read is issued only while
``reads in flight + beats buffered < depth``, so responses, which arrive in order with no backpressure,
always have room. A tag FIFO (depth: the sum of the credits, rounded up to a power of two) records
the stream of every read in flight. A response is forwarded to the engine in the cycle it arrives
when its FIFO is empty (bypass); otherwise it is queued. With a read latency of 1, a depth of 2 lets
a stream sustain one beat per cycle.

Arbitration (one request per cycle; a raised request stays unchanged until granted, the arbiter
re-arbitrates only after a grant). Priority, highest first:

1. W, if the W stream has no beat buffered or in flight: the array stalls at its next feed without it.
2. Z, whenever the engine offers a Z beat: stores free the Z-buffer.
3. Y, then X, "on demand": the engine is ready for the stream and the beat belongs to the group
   (the L rows of a tile for Y, the L rows of an n-chunk for X) the engine is filling now. Y goes
   first: after the first tile, a late Y stalls the whole array at the next tile's first pass, while
   the X group of the next n-chunk usually has slack. (Measured on the full accelerator, 10 GEMM
   shapes on 4x2x3 and 3x2x1: Y first 1107 cycles in total, X first 1131. Also measured and not
   better: prefetching X before W, W urgent below two beats, W and Y FIFOs of depth 4.)
4. Prefetch into free FIFO space: W, then X, then Y.

A stream that has no credit does not request, so no stream can hold the port while the engine waits
for another: the scheme cannot deadlock.

Latencies (cycles): ``start`` -> first request: 1. ``r_valid`` -> engine stream ``valid``: 0 (the
response is forwarded combinationally when the FIFO is empty). Engine ``z.valid`` -> store request:
0 (combinational; ``z.ready`` is the grant), unless an urgent W request or a request still waiting
for ``gnt`` goes first. Last store grant -> ``stores_done``: 0 (it rises with the grant); ``idle``
rises in the next cycle.

Combinational paths this costs (for timing closure): ``tcdm.r_valid/r_data`` -> shift -> cast-in ->
engine stream ``valid/payload`` (and, through the engine's W handshake, its array enable);
engine ``z.payload`` -> cast-out -> shift -> ``tcdm.data/be``; ``tcdm.gnt`` -> ``z.ready``.

Abort (``abort``, also ``start`` while busy): the port behaves normally in the cycle of the abort (a
request granted then is accounted for), and at its end every generator, credit, FIFO and the
request lock are cleared. A request still waiting for ``gnt`` is therefore withdrawn in the next
cycle: this is the only case in which an ungranted request disappears. Reads in flight are counted
and their responses discarded when they arrive; ``busy`` stays high until the last one has arrived.
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.cast import Fp8ToFp16, Fp16ToFp8
from redmule_hdl.spec.formats import E4M3, FP16
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.interfaces import StreamerJob, TcdmSignature, beat_layout, z_beat_layout
from redmule_hdl.spec.regmap import DIM_BITS

__all__ = ["Streamer"]


class _Src(enum.Enum, shape=2):
    X = 0
    W = 1
    Y = 2
    Z = 3


_Tag = data.StructLayout({"src": _Src, "off": 2, "last": 1})


def _check_depth(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if not 1 <= value <= 64:
        raise ValueError(f"{name} must be in 1..64, not {value!r}")


def _wrap_inc(ptr, depth):
    return Mux(ptr == depth - 1, 0, ptr + 1) if depth > 1 else ptr


class Streamer(wiring.Component):
    """Address generators, cast-in/cast-out and the TCDM port arbiter (see the module docstring).

    Ports:
        job (``StreamerJob``), start: a one-cycle ``start`` latches ``job`` and begins it; the first
            request is raised in the next cycle. The controller guarantees M, N, K >= 1, valid formats,
            non-zero pitches and (``misaligned=False``) word-aligned beat addresses.
        abort: soft clear (see the module docstring).
        busy, idle (= ~busy): a job, or the reads in flight of an aborted job, is in progress.
        stores_done: all Z stores of the job are granted; high from the cycle of the last store's
            grant (combinationally) until the next ``start`` (low while a job's stores are pending).
        x, w, y (streams out): operand beats for the engine (D FP16 elements).
        z (stream in): result beats from the engine (``data``, ``mask``); ``ready`` is the store's grant.
        tcdm (``TcdmSignature``): the memory port.
    Parameters:
        x_depth, w_depth, y_depth: FIFO depth (= read credits) of each load stream; default 2, which
            sustains one beat per cycle at a read latency of 1 (``latency + 1`` in general).
    Storage: ``(x_depth + w_depth + y_depth) * (16*D + 1)`` bits of FIFOs, a tag FIFO of 5-bit entries.
    """

    def __init__(self, config, *, x_depth=2, w_depth=2, y_depth=2):
        for name, value in (("x_depth", x_depth), ("w_depth", w_depth), ("y_depth", y_depth)):
            _check_depth(name, value)
        self.config = config
        self.depths = {"x": x_depth, "w": w_depth, "y": y_depth}
        super().__init__({
            "job": In(StreamerJob),
            "start": In(1),
            "abort": In(1),
            "busy": Out(1),
            "idle": Out(1),
            "stores_done": Out(1),
            "x": Out(stream.Signature(beat_layout(config))),
            "w": Out(stream.Signature(beat_layout(config))),
            "y": Out(stream.Signature(beat_layout(config))),
            "z": In(stream.Signature(z_beat_layout(config))),
            "tcdm": Out(TcdmSignature(config.port_width)),
        })

    def elaborate(self, platform):
        c = self.config
        L, D = c.L, c.D
        m = Module()
        bus = self.tcdm

        job = Signal(StreamerJob)
        clear = self.start | self.abort
        with m.If(self.start):
            m.d.sync += job.eq(self.job)

        in_fp16 = job.in_fmt == FP16.code
        out_fp16 = job.out_fmt == FP16.code
        in_chunk = Mux(in_fp16, 2 * D, D)      # bytes of D input elements
        out_chunk = Mux(out_fp16, 2 * D, D)    # bytes of D output elements
        nonzero = (self.job.m != 0) & (self.job.n != 0) & (self.job.k != 0)

        # L row pitches, used once per m-tile: computed when the job starts (the first m-tile does
        # not need them).
        x_lpitch = Signal(32)
        z_lpitch = Signal(32)
        with m.If(self.start):
            m.d.sync += [x_lpitch.eq(self.job.x_pitch * L), z_lpitch.eq(self.job.z_pitch * L)]

        def rows_of(m0):
            remaining = job.m - m0
            return Mux(remaining >= L, L, remaining)

        # ---- address generators: registers advanced when their request is granted ------------------
        grant = {s: Signal(name=f"grant_{s.name.lower()}") for s in _Src}

        # X: m-tile -> k-tile -> n-chunk (n0) -> row r.
        x_active = Signal()
        x_m0, x_k0, x_n0 = (Signal(DIM_BITS + 1, name=f"x_{n}") for n in ("m0", "k0", "n0"))
        x_r = Signal(range(L))
        x_tile, x_chunk, x_cur = (Signal(32, name=f"x_{n}") for n in ("tile", "chunk", "cur"))
        x_group_last = x_r == rows_of(x_m0) - 1
        with m.If(grant[_Src.X]):
            with m.If(~x_group_last):
                m.d.sync += [x_r.eq(x_r + 1), x_cur.eq(x_cur + job.x_pitch)]
            with m.Else():
                m.d.sync += x_r.eq(0)
                with m.If(x_n0 + D < job.n):
                    m.d.sync += [x_n0.eq(x_n0 + D), x_chunk.eq(x_chunk + in_chunk),
                                 x_cur.eq(x_chunk + in_chunk)]
                with m.Else():
                    m.d.sync += x_n0.eq(0)
                    with m.If(x_k0 + D < job.k):
                        m.d.sync += [x_k0.eq(x_k0 + D), x_chunk.eq(x_tile), x_cur.eq(x_tile)]
                    with m.Else():
                        next_tile = x_tile + x_lpitch
                        m.d.sync += [x_k0.eq(0), x_m0.eq(x_m0 + L), x_tile.eq(next_tile),
                                     x_chunk.eq(next_tile), x_cur.eq(next_tile)]
                        with m.If(x_m0 + L >= job.m):
                            m.d.sync += x_active.eq(0)

        # W: m-tile -> k-tile -> row n.
        w_active = Signal()
        w_m0, w_k0, w_n = (Signal(DIM_BITS + 1, name=f"w_{n}") for n in ("m0", "k0", "n"))
        w_col, w_cur = Signal(32, name="w_col"), Signal(32, name="w_cur")
        with m.If(grant[_Src.W]):
            with m.If(w_n + 1 < job.n):
                m.d.sync += [w_n.eq(w_n + 1), w_cur.eq(w_cur + job.w_pitch)]
            with m.Else():
                m.d.sync += w_n.eq(0)
                with m.If(w_k0 + D < job.k):
                    m.d.sync += [w_k0.eq(w_k0 + D), w_col.eq(w_col + in_chunk),
                                 w_cur.eq(w_col + in_chunk)]
                with m.Else():
                    m.d.sync += [w_k0.eq(0), w_m0.eq(w_m0 + L), w_col.eq(job.w_addr),
                                 w_cur.eq(job.w_addr)]
                    with m.If(w_m0 + L >= job.m):
                        m.d.sync += w_active.eq(0)

        # Y and Z: m-tile -> k-tile -> row r (Y uses Z's pitch).
        def row_walker(name, src):
            active = Signal(name=f"{name}_active")
            m0, k0 = Signal(DIM_BITS + 1, name=f"{name}_m0"), Signal(DIM_BITS + 1, name=f"{name}_k0")
            r = Signal(range(L), name=f"{name}_r")
            tile, col, cur = (Signal(32, name=f"{name}_{n}") for n in ("tile", "col", "cur"))
            group_last = r == rows_of(m0) - 1
            final = group_last & (k0 + D >= job.k) & (m0 + L >= job.m)
            with m.If(grant[src]):
                with m.If(~group_last):
                    m.d.sync += [r.eq(r + 1), cur.eq(cur + job.z_pitch)]
                with m.Else():
                    m.d.sync += r.eq(0)
                    with m.If(k0 + D < job.k):
                        m.d.sync += [k0.eq(k0 + D), col.eq(col + out_chunk), cur.eq(col + out_chunk)]
                    with m.Else():
                        next_tile = tile + z_lpitch
                        m.d.sync += [k0.eq(0), m0.eq(m0 + L), tile.eq(next_tile),
                                     col.eq(next_tile), cur.eq(next_tile)]
                        with m.If(m0 + L >= job.m):
                            m.d.sync += active.eq(0)
            return active, (m0, k0, r), (tile, col, cur), group_last, final

        y_active, y_idx, y_ptrs, y_group_last, _ = row_walker("y", _Src.Y)
        z_active, z_idx, z_ptrs, _, z_final = row_walker("z", _Src.Z)
        y_cur, z_cur = y_ptrs[2], z_ptrs[2]

        # Start and abort override the advance above (later statements win).
        with m.If(clear):
            m.d.sync += [x_active.eq(0), w_active.eq(0), y_active.eq(0), z_active.eq(0)]
        with m.If(self.start):
            uses_y = self.job.op != GemmOp.MATMUL
            m.d.sync += [
                x_active.eq(nonzero), w_active.eq(nonzero), y_active.eq(nonzero & uses_y),
                z_active.eq(nonzero),
                x_m0.eq(0), x_k0.eq(0), x_n0.eq(0), x_r.eq(0),
                x_tile.eq(self.job.x_addr), x_chunk.eq(self.job.x_addr), x_cur.eq(self.job.x_addr),
                w_m0.eq(0), w_k0.eq(0), w_n.eq(0),
                w_col.eq(self.job.w_addr), w_cur.eq(self.job.w_addr),
                *(s.eq(0) for s in (*y_idx, *z_idx)),
                *(p.eq(self.job.y_addr) for p in y_ptrs),
                *(p.eq(self.job.z_addr) for p in z_ptrs),
            ]

        # ---- load FIFOs with bypass, and their credits ------------------------------------------------
        loads = {_Src.X: self.x, _Src.W: self.w, _Src.Y: self.y}
        depth = {_Src.X: self.depths["x"], _Src.W: self.depths["w"], _Src.Y: self.depths["y"]}
        used = {s: Signal(range(depth[s] + 1), name=f"{s.name.lower()}_used") for s in loads}
        ahead = {s: Signal(range(depth[s] + 2), name=f"{s.name.lower()}_ahead")
                 for s in (_Src.X, _Src.Y)}
        deliver = {s: Signal(name=f"deliver_{s.name.lower()}") for s in loads}
        resp_beat = Signal(beat_layout(c))
        resp_last = Signal()
        take = {}
        take_last = {}
        for s, port in loads.items():
            take[s], take_last[s] = self._fifo(m, s.name.lower(), depth[s], deliver[s],
                                               resp_beat, resp_last, port, clear)
        # A group ends when the engine takes its last beat; ``ahead`` counts groups fully requested
        # but not yet fully taken, so ``ahead == 0`` means the next request belongs to the group the
        # engine is filling now.
        group_issued = {_Src.X: grant[_Src.X] & x_group_last, _Src.Y: grant[_Src.Y] & y_group_last}
        for s in loads:
            m.d.sync += used[s].eq(used[s] + grant[s] - take[s])
            if s in ahead:
                m.d.sync += ahead[s].eq(ahead[s] + group_issued[s] - (take[s] & take_last[s]))
        with m.If(clear):
            m.d.sync += [*(u.eq(0) for u in used.values()), *(a.eq(0) for a in ahead.values())]

        # ---- arbiter ----------------------------------------------------------------------------------
        want = {
            _Src.X: x_active & (used[_Src.X] < depth[_Src.X]),
            _Src.W: w_active & (used[_Src.W] < depth[_Src.W]),
            _Src.Y: y_active & (used[_Src.Y] < depth[_Src.Y]),
            _Src.Z: z_active & self.z.valid,
        }
        priority = [
            (want[_Src.W] & (used[_Src.W] == 0), _Src.W),
            (want[_Src.Z], _Src.Z),
            (want[_Src.Y] & self.y.ready & (ahead[_Src.Y] == 0), _Src.Y),
            (want[_Src.X] & self.x.ready & (ahead[_Src.X] == 0), _Src.X),
            (want[_Src.W], _Src.W),
            (want[_Src.X], _Src.X),
            (want[_Src.Y], _Src.Y),
        ]
        hold = Signal()        # a request was raised and not granted: keep it
        hold_src = Signal(_Src)
        pick = Signal(_Src)
        src = Signal(_Src)
        req = Signal()
        for i, (cond, s) in enumerate(priority):
            with (m.If if i == 0 else m.Elif)(cond):
                m.d.comb += pick.eq(s)
        m.d.comb += [
            src.eq(Mux(hold, hold_src, pick)),
            req.eq(hold | want[_Src.X] | want[_Src.W] | want[_Src.Y] | want[_Src.Z]),
        ]
        granted = req & bus.gnt
        for s in _Src:
            m.d.comb += grant[s].eq(granted & (src == s))
        m.d.sync += [hold.eq(req & ~bus.gnt & ~clear), hold_src.eq(src)]

        # ---- store data path: cast-out, shift, byte enables --------------------------------------------
        m.submodules.cast_out = cast_out = Fp16ToFp8(D)
        zdata = self.z.payload.data.as_value()
        zmask = self.z.payload.mask
        m.d.comb += [cast_out.fmt.eq(job.out_fmt == E4M3.code), cast_out.a.eq(zdata)]
        st_raw = Mux(out_fp16, zdata, cast_out.z)
        st_be_raw = Mux(out_fp16, Cat(*(zmask[j].replicate(2) for j in range(D))), zmask)
        if c.misaligned:
            st_off = z_cur[:2]
            st_data = (st_raw << (st_off * 8))[:c.port_width]
            st_be = (st_be_raw << st_off)[:c.port_width // 8]
        else:
            st_data, st_be = st_raw, st_be_raw

        cur = Signal(32)         # element address of the selected request
        with m.Switch(src):
            for s, reg in ((_Src.X, x_cur), (_Src.W, w_cur), (_Src.Y, y_cur), (_Src.Z, z_cur)):
                with m.Case(s):
                    m.d.comb += cur.eq(reg)
        is_store = src == _Src.Z
        m.d.comb += [
            bus.req.eq(req),
            bus.add.eq(Cat(Const(0, 2), cur[2:])),
            bus.wen.eq(~is_store),
            bus.be.eq(Mux(is_store, st_be, Const((1 << len(bus.be)) - 1, len(bus.be)))),
            bus.data.eq(st_data),
            self.z.ready.eq(grant[_Src.Z]),
            self.stores_done.eq(~z_active | (grant[_Src.Z] & z_final)),
        ]

        # ---- tag FIFO: one entry per read in flight ------------------------------------------------------
        n_tags = 1 << (sum(depth.values()) - 1).bit_length()
        tags = Array(Signal(_Tag, name=f"tag{i}") for i in range(n_tags))
        t_wp, t_rp = Signal(range(n_tags), name="tag_wp"), Signal(range(n_tags), name="tag_rp")
        t_level = Signal(range(n_tags + 1), name="tag_level")
        drop = Signal(range(n_tags + 1))   # responses of an aborted job still to come
        issue_read = granted & ~is_store
        resp = bus.r_valid & (t_level != 0)
        head = tags[t_rp]
        new_tag = Signal(_Tag)
        m.d.comb += [
            new_tag.src.eq(src),
            new_tag.off.eq(cur[:2] if c.misaligned else 0),
            new_tag.last.eq(Mux(src == _Src.X, x_group_last, y_group_last)),
        ]
        with m.If(issue_read):
            m.d.sync += [tags[t_wp].eq(new_tag), t_wp.eq(t_wp + 1)]
        with m.If(resp):
            m.d.sync += t_rp.eq(t_rp + 1)
        m.d.sync += t_level.eq(t_level + issue_read - resp)
        with m.If(clear):
            m.d.sync += drop.eq(t_level + issue_read - resp)
        with m.Elif(resp & (drop != 0)):
            m.d.sync += drop.eq(drop - 1)

        # ---- response data path: shift, cast-in, route -----------------------------------------------------
        m.submodules.cast_in = cast_in = Fp8ToFp16(D)
        if c.misaligned:
            shifted = (bus.r_data >> (head.off * 8))[:c.beat_width]
        else:
            shifted = bus.r_data[:c.beat_width]
        resp_fmt = Mux(head.src == _Src.Y, job.out_fmt, job.in_fmt)
        m.d.comb += [
            cast_in.fmt.eq(resp_fmt == E4M3.code),
            cast_in.a.eq(shifted[:8 * D]),
            resp_beat.eq(Mux(resp_fmt == FP16.code, shifted, cast_in.z)),
            resp_last.eq(head.last),
        ]
        for s in loads:
            m.d.comb += deliver[s].eq(resp & (drop == 0) & (head.src == s))

        busy = x_active | w_active | y_active | z_active | (t_level != 0)
        m.d.comb += [self.busy.eq(busy), self.idle.eq(~busy)]
        return m

    @staticmethod
    def _fifo(m, name, depth, push_valid, push_beat, push_last, port, clear):
        """A FIFO of ``depth`` beats in registers whose output bypasses it when it is empty.

        Returns ``(take, take_last)``: the engine takes a beat, and that beat's group-last flag.
        The caller's credits guarantee it never overflows.
        """
        push_beat = push_beat.as_value()
        entries = Array(Signal(len(push_beat) + 1, name=f"{name}_fifo{i}") for i in range(depth))
        rp = Signal(range(depth), name=f"{name}_rp")
        wp = Signal(range(depth), name=f"{name}_wp")
        level = Signal(range(depth + 1), name=f"{name}_level")
        nonempty = level != 0
        head = entries[rp]
        take = Signal(name=f"{name}_take")
        take_last = Signal(name=f"{name}_take_last")
        m.d.comb += [
            port.valid.eq(nonempty | push_valid),
            port.payload.eq(Mux(nonempty, head[:-1], push_beat)),
            take_last.eq(Mux(nonempty, head[-1], push_last)),
            take.eq(port.valid & port.ready),
        ]
        push = push_valid & (nonempty | ~port.ready)
        pop = take & nonempty
        with m.If(push):
            m.d.sync += [entries[wp].eq(Cat(push_beat, push_last)), wp.eq(_wrap_inc(wp, depth))]
        with m.If(pop):
            m.d.sync += rp.eq(_wrap_inc(rp, depth))
        m.d.sync += level.eq(level + push - pop)
        with m.If(clear):
            m.d.sync += [level.eq(0), rp.eq(0), wp.eq(0)]
        return take, take_last
