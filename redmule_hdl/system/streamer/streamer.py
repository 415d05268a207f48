"""The streamer: the TCDM port, address generators, cast-in/cast-out and the port arbiter.

It turns a ``StreamerJob`` into the engine's operand streams X, W, Y and stores the engine's Z stream,
in the order of ``spec.schedule`` (m-tile -> k-tile), through one shared TCDM initiator port.

Data path::

    address generators X W Y Z ──> arbiter ──> tcdm.req/add/wen/be/data
                                      │ read: tag (stream, byte offset, group-last) into the tag FIFO
    tcdm.r_data ──> >> 8*offset ──> cast-in (FP8 -> FP16) ──> X / W / Y FIFO (or straight through) ──> engine
    engine z ──> cast-out (FP16 -> FP8) ──> << 8*offset, byte enables from the mask ──> tcdm (store)

Beat addressing. A beat is ``D`` elements of one row starting at element address ``a``; the engine
always sees it as D FP16 elements. The port moves ``config.transfer_bytes`` bytes per transfer (D
elements of ``config.beat_format``). A transfer at byte address ``t`` goes to ``t & ~3`` and its
response is shifted right by ``t & 3`` bytes. With ``misaligned=True`` the port is 32 bits wider than a
transfer, so every element-aligned row works. With ``misaligned=False`` there is no shifter: the
controller must guarantee that every transfer address is word aligned (base addresses and pitches
multiples of 4 and ``D * element size`` a multiple of 4; ``Config`` refuses an fp8 port whose D is not
a multiple of 4); address bits [1:0] are ignored. Element size is 1 byte for FP8 (E5M2 code 0, E4M3
code 2) and 2 bytes for FP16 (code 1); X and W use ``in_fmt``, Y and Z ``out_fmt``. Reads always fetch
the whole port width (``port_width/8`` bytes from ``t & ~3``), which can extend past the end of a row
or matrix; stores enable exactly the bytes of the valid elements (engine mask) and never touch any
other byte.

Two transfers per beat (``config.splits_fp16``: ``beat_format="fp8"``, a port of D FP8 elements). A
beat of FP8 elements is one transfer, as on an FP16 port. A beat of FP16 elements (X, W with FP16
input; Y, Z with FP16 output) is two: its low D bytes at ``a``, then its high D bytes at ``a + D``.
When a low half is granted, the high half becomes the highest priority in the next cycle (its
address ``a + D`` registered at that grant), so the two are granted back to back and, responses being
in order, answered back to back. The read tag
carries ``low``: the response path keeps a low half in an ``8*D``-bit register and delivers the
beat with its high half. Credits, FIFOs and groups count beats (taken at the low half's grant, the
address generator moves on at the high half's); the tag FIFO counts transfers (twice the credits).
A store sends bytes [0, D) then [D, 2D) of the FP16 row with their byte enables; ``z.ready`` comes
with the high half's grant.

Flow control. Each load stream owns ``depth`` credits (its FIFO depth): a beat's reads are issued only
while ``beats in flight + beats buffered < depth``, so responses, which arrive in order with no
backpressure, always have room. A tag FIFO (depth: the sum of the credits times the transfers per
beat, rounded up to a power of two) records the stream of every read in flight. A beat is written
into its FIFO in the cycle its (last) response arrives and offered to the engine from the next cycle
(no bypass: the response's shift and cast-in and the engine's operand logic are separate cycles, for
the clock). With a read latency of 1, a depth of 3 lets a stream sustain one beat per cycle (one per
two cycles for a two-transfer beat: the port's rate).

Arbitration (one request per cycle; a raised request stays unchanged until granted, the arbiter
re-arbitrates only after a grant). Priority, highest first:

0. The high half of an FP16 beat whose low half was granted (only with ``splits_fp16``).
1. W, if the W stream has no beat buffered or in flight (a two-transfer W beat: none once the beat
   taken in this cycle leaves, as it reaches the engine a cycle later through the load FIFO): the
   array stalls at its next feed without it.
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

Latencies (cycles): ``start`` -> first request: 1. ``r_valid`` -> engine stream ``valid``: 1 (the
response is written into the FIFO; for a two-transfer beat, from its high half's ``r_valid``).
Engine ``z`` handshake -> store request: 1 (the Z beat register; ``z.ready`` is high while it is
empty or its beat's last transfer is granted), unless an urgent W request or a request still waiting
for ``gnt`` goes first. Last store grant of a job -> ``stored``: 1 (registered); ``idle`` rises in the
same cycle unless responses are outstanding or another job is in the slots.

Jobs in a row. The streamer holds two jobs (``JobSlots``). Each address generator walks the jobs in
order on its own: when it has requested the last beat of one job it moves to the next at once, so
the next job's X, W and Y loads overlap the current job's last computations and stores. Credits,
FIFOs and the tag FIFO simply continue; each read's tag carries its element format.

Combinational paths (for timing closure): ``tcdm.r_valid/r_data`` -> shift -> cast-in -> a FIFO
entry; the Z beat register -> cast-out -> shift -> ``tcdm.data/be``; ``tcdm.gnt`` -> ``z.ready``.
Neither the engine's operand streams nor its Z-buffer share a cycle with the port's data.

Write responses (``Config.write_responses``): the memory answers every granted write too, in order
with the reads. Each write then gets a tag like a read, its response is dropped, and at most
``z_depth`` Z beats are in flight (default 2: one store per cycle at a latency of 1).

Abort (``abort``): the port behaves normally in the cycle of the abort (a request granted then is
accounted for), and at its end every generator, credit and FIFO is cleared. A request still waiting
for ``gnt`` stays raised with its address, data and byte enables until it is granted (no protocol
allows withdrawing it); its response, if any, is dropped. If it is the high half of a beat it keeps
its half, and no high half follows a low half granted in or after the abort cycle. The streamer
keeps the waiting request's address (``PortRequest``) and, for a store, its sources (the Z beat, the
output format and the byte offset, cast out by a second store path) in registers of its own (the
engine drops its Z beat and the generators leave their job at the abort), and
its grant belongs to no job: it moves no address generator, credit or
group, and cannot end a job. Responses in flight are counted and discarded when they arrive;
``idle`` stays low until the waiting request is granted and the last response has arrived, so the
next job cannot start before.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config, check_int
from redmule_hdl.engine.job_slots import JobSlots
from redmule_hdl.interfaces import (StreamerControlSignature, StreamerJob, TcdmSignature, beat_layout,
                                   z_beat_layout)
from redmule_hdl.spec.formats import FP16
from redmule_hdl.spec.regmap import ADDR_BITS
from redmule_hdl.system.streamer.address import RowAddress, WAddress, XAddress
from redmule_hdl.system.streamer.arbiter import Arbiter, Source
from redmule_hdl.system.streamer.credits import Credits
from redmule_hdl.system.streamer.loads import LoadFifo, ResponsePath
from redmule_hdl.system.streamer.request import PortRequest
from redmule_hdl.system.streamer.stores import StorePath
from redmule_hdl.system.streamer.two_transfers import TwoTransfers

__all__ = ["Streamer"]


class Streamer(wiring.Component):
    """Address generators, cast-in/cast-out and the TCDM port arbiter (see the module docstring).

    Ports:
        control (``In(StreamerControlSignature())``):
            job (stream in, ``StreamerJob``): a handshake (``ready``: a job slot is free) latches the
                job; its first request is raised in the next cycle if the port has nothing else to
                do, else after the requests of the job before it. After an abort, a job is accepted
                once ``idle`` (responses of the aborted job are dropped). The controller guarantees
                M, N, K >= 1, valid formats, non-zero pitches and (``misaligned=False``)
                word-aligned beat addresses.
            abort (in): soft clear (see the module docstring).
            idle (out): no job, no request waiting for its grant and no response outstanding.
            stored (out): one-cycle pulse per job, the cycle after its last Z store is granted
                (jobs finish in the order they started).
        x, w, y (streams out): operand beats for the engine (D FP16 elements).
        z (stream in): result beats from the engine (``data``, ``mask``) into a one-beat register;
            ``ready``: it is empty, or the grant of its beat's last store transfer.
        tcdm (``TcdmSignature``): the memory port.
    Parameters:
        config: L, D, port width, ``misaligned``, ``write_responses``, ``beat_format``.
        x_depth, w_depth, y_depth: FIFO depth (= read credits, in beats) of each load stream; default
            3, which sustains one beat per cycle at a read latency of 1 (``latency + 2`` in general:
            a response is written into the FIFO and read by the engine in the next cycle).
        z_depth: Z beats in flight with ``write_responses`` (ignored otherwise).
    Storage: ``(x_depth + w_depth + y_depth) * (16*D + 1)`` bits of FIFOs, the Z beat register
    and a copy for a store waiting at an abort (``17*D`` bits each), a tag FIFO of 7-bit entries
    (8-bit and twice as many, and an ``8*D``-bit assembly register, with ``splits_fp16``).
    """

    #: Formal only: ``lemmas(m, **parts)``, set by a property harness to add assertions over the
    #: streamer's parts (their ports and, through their own ``lemmas``, registers), which k-induction
    #: needs; ``None`` in hardware (nothing is added).
    lemmas = None

    def __init__(self, config, *, x_depth=3, w_depth=3, y_depth=3, z_depth=2):
        for name, value in (("x_depth", x_depth), ("w_depth", w_depth), ("y_depth", y_depth),
                            ("z_depth", z_depth)):
            check_int(name, value, 1, 64)
        self.z_depth = z_depth
        self.config = check_config(config)
        self.depths = {Source.X: x_depth, Source.W: w_depth, Source.Y: y_depth}
        super().__init__({
            "control": In(StreamerControlSignature()),
            "x": Out(stream.Signature(beat_layout(config.D))),
            "w": Out(stream.Signature(beat_layout(config.D))),
            "y": Out(stream.Signature(beat_layout(config.D))),
            "z": In(stream.Signature(z_beat_layout(config.D))),
            "tcdm": Out(TcdmSignature(config.port_width)),
        })

    def elaborate(self, platform):
        c = self.config
        D = c.D
        m = Module()
        bus = self.tcdm
        job, abort = self.control.job, self.control.abort

        # ---- job slots and address generators, advanced when their beat's last transfer is granted --
        gen = {Source.X: XAddress(c), Source.W: WAddress(c), Source.Y: RowAddress(c, "y"),
               Source.Z: RowAddress(c, "z")}
        m.submodules.slots = slots = JobSlots(
            StreamerJob, {s.name.lower(): g.walker.signature.flip() for s, g in gen.items()},
            release=Source.Z.name.lower())
        walk = {s: getattr(slots.walk, s.name.lower()) for s in Source}    # each stream's job
        grant = {s: Signal(name=f"grant_{s.name.lower()}") for s in Source}   # a transfer
        # A beat's first transfer (credits and groups count from it) and its last (the generator
        # moves on); the same grant unless an FP16 beat takes two transfers (see "Two transfers").
        first = {s: Signal(name=f"first_{s.name.lower()}") for s in Source}
        last = {s: Signal(name=f"last_{s.name.lower()}") for s in Source}
        for s, g in gen.items():
            m.submodules[f"{s.name.lower()}_addr"] = g
            wiring.connect(m, walk[s], g.walker)
            m.d.comb += [g.advance.eq(last[s]), g.offered.eq(job.payload)]
        m.d.comb += gen[Source.Y].skip.eq(~walk[Source.Y].job.uses_y)    # a job without Y
        m.d.comb += slots.clear.eq(abort)
        wiring.connect(m, wiring.flipped(job), slots.put)
        # The Z generator finishes a job with the grant of its last store.
        m.d.sync += self.control.stored.eq(gen[Source.Z].finishing & ~abort)

        # ---- load FIFOs (no bypass) and the credits of every stream -------------------------------------
        loads = {Source.X: self.x, Source.W: self.w, Source.Y: self.y}
        depth = self.depths
        # With write responses, at most z_depth Z beats are in flight (their responses are tagged
        # too). Credits count beats; the tags count transfers.
        beats_in_flight = sum(depth.values()) + (self.z_depth if c.write_responses else 0)
        transfers = c.transfers_per_beat(FP16)
        m.submodules.responses = responses = ResponsePath(c, beats_in_flight * transfers)
        fifo, credits = {}, {}
        for s, port in loads.items():
            name = s.name.lower()
            m.submodules[f"{name}_fifo"] = fifo[s] = LoadFifo(c.D, depth[s], memories=c.storage("fifos"))
            m.d.comb += [
                fifo[s].push_valid.eq(responses.deliver[s.value]),
                fifo[s].push_beat.eq(responses.beat),
                fifo[s].push_last.eq(responses.last),
                fifo[s].clear.eq(abort),
            ]
            wiring.connect(m, fifo[s].out, wiring.flipped(port))
            m.submodules[f"{name}_credits"] = credits[s] = Credits(depth[s], groups=s != Source.W)
            m.d.comb += [credits[s].issued.eq(first[s]), credits[s].consumed.eq(fifo[s].take),
                         credits[s].clear.eq(abort)]
            if s != Source.W:
                m.d.comb += [credits[s].issued_last.eq(gen[s].group_last),
                             credits[s].consumed_last.eq(fifo[s].take_last)]
        want = {s: gen[s].active & credits[s].available for s in loads}
        if c.write_responses:
            m.submodules.z_credits = z_credits = Credits(self.z_depth)
            m.d.comb += [z_credits.issued.eq(first[Source.Z]),
                         z_credits.consumed.eq(responses.deliver[Source.Z.value]),
                         z_credits.clear.eq(abort)]

        # ---- the Z beat register: the engine's Z-buffer select and the cast-out in separate cycles --
        # A pipeline register of one beat: it takes a beat when it is empty or its beat leaves in
        # this cycle (the grant of its last transfer), so Z still moves one beat per store.
        z_beat = Signal.like(self.z.payload, name="z_beat")
        z_full = Signal()
        z_take = self.z.valid & self.z.ready
        m.d.comb += self.z.ready.eq(~z_full | last[Source.Z])
        with m.If(z_take):
            m.d.sync += z_beat.eq(self.z.payload)
        with m.If(abort):
            m.d.sync += z_full.eq(0)
        with m.Elif(z_take | last[Source.Z]):
            m.d.sync += z_full.eq(z_take)
        want[Source.Z] = gen[Source.Z].active & z_full
        if c.write_responses:
            want[Source.Z] &= z_credits.available

        # ---- arbiter and the request ------------------------------------------------------------------
        # Two transfers (``splits_fp16``): the high half of an FP16 beat outranks every other request.
        if c.splits_fp16:
            m.submodules.two_transfers = halves = TwoTransfers(c)
            high = halves.high
            half_levels = [(high & (halves.high_src == s), s) for s in Source]
        else:
            high = Const(0)
            half_levels = []
        # W is urgent when it has no beat buffered or in flight. A two-transfer W beat requested then
        # reaches the engine t + 2 cycles later (its transfers, the read latency, the load FIFO),
        # +1 if a high half goes first: 5 on the FP8 port, more than the P + 1 = 4 cycles between
        # W beats at P = 3 (the FP16 job on the paper's FP8 instance lost a cycle at the first
        # tile's second X group). So a two-transfer W stream is urgent already in the cycle its
        # last beat is taken (``drained``); one-transfer beats arrive in time from ``empty``.
        w_urgent = credits[Source.W].empty
        if c.splits_fp16:
            w_urgent = Mux(walk[Source.W].job.in_fmt.wide, credits[Source.W].drained, w_urgent)
        levels = [
            *half_levels,
            (want[Source.W] & w_urgent, Source.W),
            (want[Source.Z], Source.Z),
            (want[Source.Y] & self.y.ready & credits[Source.Y].current_group, Source.Y),
            (want[Source.X] & self.x.ready & credits[Source.X].current_group, Source.X),
            (want[Source.W], Source.W),
            (want[Source.X], Source.X),
            (want[Source.Y], Source.Y),
        ]
        m.submodules.arbiter = arbiter = Arbiter(s for _, s in levels)
        m.d.comb += [
            arbiter.raised.eq(Cat(*(cond for cond, _ in levels))),
            arbiter.gnt.eq(bus.gnt),
        ]
        src = arbiter.src
        is_store = src == Source.Z
        beat_addr = Signal(ADDR_BITS)   # element address of the selected stream's beat
        with m.Switch(src):
            for s, g in gen.items():
                with m.Case(s):
                    m.d.comb += beat_addr.eq(g.cur)

        m.submodules.request = request = PortRequest(c.port_width, keeps=("add",))
        wiring.connect(m, request.tcdm, wiring.flipped(bus))
        orphan = request.orphan     # its grant moves no generator, credit, group or Z beat
        for s in Source:
            m.d.comb += grant[s].eq(arbiter.grants[s.value] & ~orphan)
        m.submodules.stores = stores = StorePath(c)
        if c.splits_fp16:
            wide = Signal()     # the selected stream's beat is FP16: two transfers
            fmts = {Source.X: walk[Source.X].job.in_fmt, Source.W: walk[Source.W].job.in_fmt,
                    Source.Y: walk[Source.Y].job.out_fmt, Source.Z: walk[Source.Z].job.out_fmt}
            with m.Switch(src):
                for s, fmt in fmts.items():
                    with m.Case(s):
                        m.d.comb += wide.eq(fmt.wide)
            m.d.comb += [
                halves.src.eq(src), halves.beat_addr.eq(beat_addr), halves.wide.eq(wide),
                halves.granted.eq(arbiter.granted), halves.orphan.eq(orphan),
                halves.abort.eq(abort),
            ]
            transfer_addr = halves.addr
            for s in Source:
                m.d.comb += [first[s].eq(grant[s] & halves.opens), last[s].eq(grant[s] & halves.closes)]
            # A high half's byte offset is that of a + D; the Z generator keeps a until the beat's last
            # transfer, so the offset comes from it without the selected stream's address mux.
            store_offset = gen[Source.Z].cur[:2] + Mux(high, D % 4, 0)
        else:
            transfer_addr = beat_addr
            for s in Source:
                m.d.comb += [first[s].eq(grant[s]), last[s].eq(grant[s])]
            store_offset = gen[Source.Z].cur[:2]
        # An orphan's data and byte enables come from the store's sources as they were at the abort,
        # kept here (as ``PortRequest`` keeps its address) and cast out by a second ``StorePath``:
        # keeping the cast-out data itself put the cast-out and the shift on a path between
        # registers (44.4 FO4 at 12x4x4), and selecting the sources before one cast-out put the
        # orphan flag's fanout on the path to the port (49.2 FO4 register to output).
        # Kept when ``PortRequest`` keeps its address, at every abort that finds no orphan: the enable
        # of these 17*D bits then starts at two registers, not at the arbiter's request and the grant.
        keep = request.keep
        m.submodules.kept_stores = kept_stores = StorePath(c)
        kept_beat = Signal.like(z_beat, name="kept_beat")
        kept_fmt = Signal.like(walk[Source.Z].job.out_fmt, name="kept_fmt")
        kept_offset = Signal(2, name="kept_offset")
        with m.If(keep):
            m.d.sync += [kept_beat.eq(z_beat), kept_fmt.eq(walk[Source.Z].job.out_fmt),
                         kept_offset.eq(store_offset)]
        if c.splits_fp16:
            kept_high = Signal(name="kept_high")
            with m.If(keep):
                m.d.sync += kept_high.eq(high)
            m.d.comb += [stores.high.eq(high), kept_stores.high.eq(kept_high)]
        m.d.comb += [
            stores.beat.eq(z_beat), stores.fmt.eq(walk[Source.Z].job.out_fmt),
            stores.offset.eq(store_offset),
            kept_stores.beat.eq(kept_beat), kept_stores.fmt.eq(kept_fmt),
            kept_stores.offset.eq(kept_offset),
            request.raised.eq(arbiter.req),
            request.store.eq(is_store),
            request.addr.eq(transfer_addr),
            request.data.eq(Mux(orphan, kept_stores.data, stores.data)),
            request.be.eq(Mux(orphan, kept_stores.be, stores.be)),
            request.abort.eq(abort),
        ]

        # ---- responses ----------------------------------------------------------------------------------
        tag_in_fmt = Mux(src == Source.X, walk[Source.X].job.in_fmt, walk[Source.W].job.in_fmt)
        # A read's grant, from the per-source grants (not through the encoded ``src``).
        tracked = arbiter.granted if c.write_responses else (
            arbiter.grants[Source.X.value] | arbiter.grants[Source.W.value] | arbiter.grants[Source.Y.value])
        if c.splits_fp16:
            m.d.comb += responses.tag.low.eq(wide & ~high)
        m.d.comb += [
            responses.issue.eq(tracked),
            responses.orphan.eq(orphan),
            responses.tag.src.eq(src),
            responses.tag.off.eq(transfer_addr[:2] if c.misaligned else 0),
            responses.tag.last.eq(Mux(src == Source.X, gen[Source.X].group_last,
                                      gen[Source.Y].group_last)),
            responses.tag.fmt.eq(Mux(src == Source.Y, walk[Source.Y].job.out_fmt, tag_in_fmt)),
            responses.r_valid.eq(bus.r_valid),
            responses.r_data.eq(bus.r_data),
            responses.clear.eq(abort),
        ]

        busy = slots.any_full | (responses.in_flight != 0) | arbiter.holding | high
        m.d.comb += self.control.idle.eq(~busy)
        if self.lemmas is not None:
            self.lemmas(m, slots=slots, gen=gen, credits=credits, fifo=fifo, responses=responses,
                        arbiter=arbiter, request=request, halves=halves if c.splits_fp16 else None,
                        z_credits=z_credits if c.write_responses else None, z_full=z_full)
        return m
