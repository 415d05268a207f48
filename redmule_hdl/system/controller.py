"""The controller: checks the job at the head of the register file's queue, runs it, reports it."""
from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int, fp8_beats_word_aligned
from redmule_hdl.engine.job_slots import JOBS_IN_FLIGHT, ring_next
from redmule_hdl.interfaces import (CeControl, ElementFormat, EngineControlSignature, EngineJob, JobRegs,
                                    JobStatusSignature, StreamerControlSignature, StreamerJob, ce_control,
                                    element_format)
from redmule_hdl.spec.formats import FORMAT_CODES
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import ADDR_BITS, DIM_BITS, JobError
from redmule_hdl.spec.schedule import OVERLAP_CHECK_CYCLES

__all__ = ["Controller", "decode_job"]


#: The registered stages of each byte range of the read-after-write guard, in order: the operands,
#: the product and row size as two carry-save rows, their sum (the span), the end.
_RANGE_STAGES = ("operands", "carry_save", "span", "end")


def _any_code(code, codes):
    """``code`` is one of ``codes`` (a constant-folded OR of comparisons; 0 if ``codes`` is empty)."""
    result = 0
    for c in codes:
        result = result | (code == c)
    return result


def _element_format(m, code, name):
    """Decode a format code into the streamer's ``ElementFormat`` (meaningful for valid codes)."""
    fmt = Signal(ElementFormat, name=name)
    with m.Switch(code):
        for c in FORMAT_CODES:
            with m.Case(c):
                m.d.comb += fmt.eq(ElementFormat.const(element_format(c)))
    return fmt


def decode_job(m, regs, *, misaligned, D):
    """Combinational decode of a job's registers (``JobRegs`` view ``regs``).

    Returns ``(error, sjob, ejob)``: the ``JobError`` code (first fault wins, the order of
    ``spec.jobs.job_error``, which is the Python model of this logic), the streamer's job and the
    engine's job (both ``Signal`` views, meaningful when ``error`` is 0). Every fact the other blocks
    need (whether Y is read, element sizes and FP8 formats, the CE control word) is decoded here.
    """
    mm, nn, kk = regs.mcfg0.m, regs.mcfg1.n, regs.mcfg0.k
    cfg = regs.macfg
    op = cfg.op
    out_code = Mux(cfg.out_fmt_en, cfg.out_format, cfg.format)
    uses_y = op != GemmOp.MATMUL
    in_fmt = _element_format(m, cfg.format, "in_fmt")
    out_fmt = _element_format(m, out_code, "out_fmt")

    sjob = Signal(StreamerJob, name="sjob")
    ejob = Signal(EngineJob, name="ejob")
    m.d.comb += [
        sjob.x_addr.eq(regs.x_addr),
        sjob.w_addr.eq(regs.w_addr),
        sjob.z_addr.eq(regs.z_addr),
        sjob.y_addr.eq(Mux(cfg.y_sep, regs.y_addr, regs.z_addr)),
        # Pitch 0 = dense rows: N (X) or K (W, Y, Z) elements.
        sjob.x_pitch.eq(Mux(regs.x_stride == 0, Mux(in_fmt.wide, nn << 1, nn), regs.x_stride)),
        sjob.w_pitch.eq(Mux(regs.w_stride == 0, Mux(in_fmt.wide, kk << 1, kk), regs.w_stride)),
        sjob.z_pitch.eq(Mux(regs.z_stride == 0, Mux(out_fmt.wide, kk << 1, kk), regs.z_stride)),
        sjob.m.eq(mm), sjob.n.eq(nn), sjob.k.eq(kk), sjob.uses_y.eq(uses_y),
        sjob.in_fmt.eq(in_fmt), sjob.out_fmt.eq(out_fmt),
        ejob.m.eq(mm), ejob.n.eq(nn), ejob.k.eq(kk), ejob.uses_y.eq(uses_y),
    ]
    with m.Switch(op):
        for code in GemmOp:
            with m.Case(code):
                m.d.comb += ejob.ce.eq(CeControl.const(ce_control(code)))

    # Alignment: element aligned (FP16: even), or word aligned without the misaligned port.
    if misaligned:
        in_mask, out_mask = Mux(in_fmt.wide, 1, 0), Mux(out_fmt.wide, 1, 0)
    else:
        in_mask, out_mask = 3, 3
    y_checked = Mux(cfg.y_sep & uses_y, regs.y_addr, 0)
    in_bits = (sjob.x_addr | sjob.w_addr | sjob.x_pitch | sjob.w_pitch)[:2]
    out_bits = (sjob.z_addr | sjob.z_pitch | y_checked)[:2]
    bad_align = ((in_bits & in_mask) != 0) | ((out_bits & out_mask) != 0)
    if not fp8_beats_word_aligned(misaligned, D):
        # A row's later FP8 beats would start inside a word, which the narrow port cannot move.
        more_k = kk > D
        bad_align = bad_align | (~in_fmt.wide & ((nn > D) | more_k)) | (~out_fmt.wide & more_k)

    size_zero = (mm == 0) | (nn == 0) | (kk == 0)
    op_codes = {int(o) for o in GemmOp}
    # Every code of the OP field is an op today; the check stays for a wider field or fewer ops.
    bad_op = 0 if op_codes >= set(range(1 << len(op))) else ~_any_code(op, op_codes)
    bad_fmt = ~_any_code(cfg.format, FORMAT_CODES) | ~_any_code(out_code, FORMAT_CODES)
    error = Signal(JobError, name="job_error")
    with m.If(size_zero):
        m.d.comb += error.eq(JobError.SIZE_ZERO)
    with m.Elif(bad_op):
        m.d.comb += error.eq(JobError.BAD_OP)
    with m.Elif(bad_fmt):
        m.d.comb += error.eq(JobError.BAD_FORMAT)
    with m.Elif(bad_align):
        m.d.comb += error.eq(JobError.MISALIGNED)
    return error, sjob, ejob


class Controller(wiring.Component):
    """Job decode and checks, engine and streamer start, completion, CYCLES and ERROR.

    The job at the head of the register file's queue is checked combinationally (``decode_job``).
    Up to ``IN_FLIGHT`` (2) jobs run at once: the controller takes the head (``head`` handshake) while
    fewer are running and the engine and the streamer each have a free job slot, and in the same
    cycle either

    * starts it: ``engine_job`` handshake (the engine latches M, N, K, op) and ``streamer_job``
      handshake (the streamer latches addresses, resolved pitches, formats), both in that cycle; the
      next job's loads then overlap the current job's end; or
    * refuses it (ERROR != 0), only when no job is running, so that jobs finish in order: nothing is
      started, no memory is touched, and ``evt`` follows in the next cycle.

    A started job finishes in the cycle of the streamer's ``stored`` pulse (the cycle after its last
    store's grant): ``evt`` and ``status.finish`` are high in that cycle. Jobs finish in the order they
    started.

    CYCLES is the number of clock edges from the cycle in which the job left the queue (its ``head``
    handshake) to the cycle of its ``evt``: a job taken in cycle ``t`` whose evt is in cycle ``t + c``
    reports ``c``, plus the cycles it waited at the head for its overlap check while nothing ran.
    When nothing was queued the register file presents a job in the cycle of its accepted TRIGGER
    write, so then CYCLES counts from the trigger. A job refused by its decode reports 1, one refused
    for OVERLAP 1 + ``GUARD_CYCLES`` when it was triggered while nothing ran. CYCLES and ERROR
    change together, at the job's evt.

    ``status.clear`` (soft clear) aborts at once: ``abort`` to the engine and the streamer in the same cycle,
    back to idle without ``evt``. The next job starts only once the streamer reports ``idle`` (its
    outstanding reads have returned), so an aborted job can never leak into it.

    Ports:
        head (stream in, ``JobRegs``): from ``RegFile.head``.
        status (``Out(JobStatusSignature())``): to ``RegFile.status``: ``finish``, ``cycles`` and
            ``error`` (the CYCLES and ERROR registers) out, ``clear`` in.
        evt (out): one-cycle pulse per finished or refused job.
        engine (``Out(EngineControlSignature())``), streamer (``Out(StreamerControlSignature())``):
            ``job`` (stream out), the job started, to each; ``valid`` in the cycle of the ``head``
            handshake of a job that starts (it depends on both ``ready``); ``abort`` (out) to both;
            ``stored`` and ``idle`` (in) from the streamer.
    Parameters: ``misaligned``, the memory port can read element-aligned rows (else every address and
    pitch must be word aligned); ``D``, elements per beat (the offsets of a row's later beats) and
    columns of a tile; ``L``, rows of a tile.

    Overlap check (``JobError.OVERLAP``): a job of more than one tile (M > L or K > D) whose Z byte
    range shares a byte with its own X or W range, or with its Y range when Y is read from another
    address than Z, is refused: its later tiles would read operands that its earlier tiles' stores
    may already have replaced, and whether they do depends on grant and memory timing. The ranges
    come from the read-after-write guard's pipelines, so such a job is decided ``GUARD_CYCLES``
    cycles after it reaches the head of the queue; while nothing runs, a job of more than one tile
    waits for that (a single-tile job reads everything before its only store and starts at once).
    Its CYCLES count those cycles too (CYCLES still runs from the trigger when nothing was queued).
    """

    #: Jobs running at once (the job slots of the engine and the streamer).
    IN_FLIGHT = JOBS_IN_FLIGHT
    #: Cycles a queued job's read-after-write check takes before it may start beside a running job:
    #: one per registered stage of ``_read_after_write_guard``.
    GUARD_CYCLES = len(_RANGE_STAGES) + 1     # + the registered hazard
    assert GUARD_CYCLES == OVERLAP_CHECK_CYCLES

    def __init__(self, *, misaligned, D, L):
        if not isinstance(misaligned, bool):
            raise TypeError(f"misaligned must be a bool, not {misaligned!r}")
        self.misaligned = misaligned
        self.D = check_int("D", D, 2)
        self.L = check_int("L", L, 1)
        super().__init__({
            "head": In(stream.Signature(JobRegs)),
            "status": Out(JobStatusSignature()),
            "evt": Out(1),
            "engine": Out(EngineControlSignature()),
            "streamer": Out(StreamerControlSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.IN_FLIGHT
        counts = Array(Signal(len(self.status.cycles), name=f"count{i}") for i in range(depth))   # per running job, in order
        oldest = Signal(range(depth))
        newest = Signal(range(depth))     # the slot of the next job started
        running = Signal(range(depth + 1))
        refusing = Signal()               # a refused job's evt is due in this cycle
        refused_error = Signal(JobError)
        refused_cycles = Signal(range(self.GUARD_CYCLES + 2))

        error, sjob, ejob = decode_job(m, self.head.payload, misaligned=self.misaligned, D=self.D)
        clear = self.status.clear
        engine_job, streamer_job = self.engine.job, self.streamer.job
        m.d.comb += [
            streamer_job.payload.eq(sjob),
            engine_job.payload.eq(ejob),
            self.engine.abort.eq(clear),
            self.streamer.abort.eq(clear),
        ]

        # After an abort (nothing running) the streamer must be idle first: no leftover of the
        # aborted job may meet the new one.
        port_free = (running != 0) | self.streamer.idle
        # Beside a running job, a job starts only if it reads no byte that job writes (its loads
        # would overtake the running job's stores). The same pipelines check the job's own Z
        # against its operands; ``checked`` says both results are valid for the head.
        checked, beside_ok, self_overlap = self._read_after_write_guard(
            m, sjob, valid=self.head.valid, take=self.head.valid & self.head.ready)
        multi_tile = (sjob.m > self.L) | (sjob.k > self.D)
        decode_ok = error == JobError.OK
        overlap = multi_tile & self_overlap
        ok = decode_ok & ~overlap
        code = Mux(decode_ok, JobError.OVERLAP, error)
        # A decode fault is final at once; a multi-tile job waits for its overlap check.
        decided = ~decode_ok | ~multi_tile | checked
        can_start = ((running < depth) & engine_job.ready & streamer_job.ready & port_free
                     & ((running == 0) | beside_ok))
        can_refuse = (running == 0) & self.streamer.idle
        can_go = ~clear & ~refusing & Mux(ok, can_start, can_refuse)
        can_take = can_go & decided
        take = can_take & self.head.valid
        m.d.comb += self.head.ready.eq(can_take)
        # Cycles the head has waited only for its overlap check (counted into its CYCLES, so that a
        # job triggered while nothing runs still counts from its trigger).
        check_wait = Signal(range(self.GUARD_CYCLES + 1))
        with m.If(take | ~self.head.valid):
            m.d.sync += check_wait.eq(0)
        with m.Elif(can_go & ~decided):
            m.d.sync += check_wait.eq(check_wait + 1)
        for i in range(depth):
            m.d.sync += counts[i].eq(counts[i] + 1)

        started = take & ok
        with m.If(take):
            with m.If(ok):
                m.d.comb += [engine_job.valid.eq(1), streamer_job.valid.eq(1)]
                m.d.sync += [counts[newest].eq(1 + check_wait), newest.eq(ring_next(newest, depth))]
            with m.Else():
                m.d.sync += [refusing.eq(1), refused_error.eq(code), refused_cycles.eq(1 + check_wait)]

        stored = ~clear & self.streamer.stored     # a running job finished (an aborted one does not)
        status = self.status
        with m.If(stored | (~clear & refusing)):
            m.d.comb += [self.evt.eq(1), status.finish.eq(1)]
            with m.If(refusing):
                m.d.sync += [status.cycles.eq(refused_cycles), status.error.eq(refused_error),
                             refusing.eq(0)]
            with m.Else():
                m.d.sync += [status.cycles.eq(counts[oldest]), status.error.eq(JobError.OK),
                             oldest.eq(ring_next(oldest, depth))]
        m.d.sync += running.eq(running + started - stored)

        with m.If(clear):
            m.d.sync += [running.eq(0), refusing.eq(0), oldest.eq(0), newest.eq(0)]
        return m

    @staticmethod
    def _read_after_write_guard(m, head, *, valid, take):
        """``(checked, beside_ok, self_overlap)``: ``checked``, the other two are valid for the
        head job (``StreamerJob`` view ``head``); ``beside_ok``, it reads nothing that the job started
        last writes (meaningful while exactly that job runs); ``self_overlap``, its own Z range
        shares a byte with its X or W range, or with its Y range when it reads Y from an address
        other than Z's (the overlap check, see the class docstring).

        Byte ranges, end exclusive: Z of the job started last ``[z, z + (M-1)*pitch + K*size)``
        against the head's X, W and (if read) Y. Each of the head's ranges goes through registered
        stages: the operands, the product and row size as two carry-save rows, their sum, the end,
        then the comparison; every stage has at most one carry chain, and none of this is on the
        path from the register file to the start of a job. The result is valid once the head has
        been presented (a queued context cannot change) for ``GUARD_CYCLES`` cycles since the last
        take. A range whose ``(rows-1)*pitch`` might reach 2 GiB counts as overlapping.
        """
        def row_bytes(count, fmt):
            return Mux(fmt.wide, count << 1, count)

        def byte_range(base, rows, pitch, row):
            """``(base, span, end, overrun)`` of the range ``[base, base + (rows-1)*pitch + row)``:
            one register stage each of ``_RANGE_STAGES``: the operands are sampled every cycle;
            ``span`` is two registers after ``base``, ``end`` and ``overrun`` (the product might reach
            2**31) three. Below 2**31 the product and a row below 2**18 keep the span exact in 33
            bits."""
            ops = [Signal(ADDR_BITS), Signal(DIM_BITS), Signal(ADDR_BITS), Signal(_ROW_BITS)]
            b, r, p, w = ops
            terms = [w, *(Mux(r[j], p << j, 0) for j in range(len(r)))]
            save_sum, save_carry, span = (Signal(_SPAN_BITS) for _ in range(3))
            end = Signal(_SPAN_BITS + 1)
            # Conservative: some r[j]*p*2**j >= 2**31, so the product might not fit in 32 bits.
            overrun = [Signal(), Signal(), Signal()]
            stages = {
                "operands": [o.eq(v) for o, v in zip(ops, (base, rows - 1, pitch, row))],
                "carry_save": [
                    Cat(save_sum, save_carry).eq(Cat(*_carry_save(m, terms, _SPAN_BITS))),
                    overrun[0].eq(Cat(*(r[j] & p[ADDR_BITS - 1 - j:].any()
                                        for j in range(len(r)))).any()),
                ],
                "span": [span.eq(save_sum + save_carry), overrun[1].eq(overrun[0])],
                "end": [end.eq(b + span), overrun[2].eq(overrun[1])],
            }
            assert tuple(stages) == _RANGE_STAGES
            for statements in stages.values():
                m.d.sync += statements
            return SimpleNamespace(base=b, span=span, span_overrun=overrun[1], end=end,
                                   overrun=overrun[2])

        ranges = [byte_range(*operands) for operands in (
            (head.x_addr, head.m, head.x_pitch, row_bytes(head.n, head.in_fmt)),
            (head.w_addr, head.n, head.w_pitch, row_bytes(head.k, head.in_fmt)),
            (head.y_addr, head.m, head.z_pitch, row_bytes(head.k, head.out_fmt)))]
        # Y and Z of a job have the same span, so the Z range of the job taken in cycle t comes from
        # the Y pipeline: its span is there in cycle t+3 (the head's operands were sampled in cycle
        # t), and the Z range is complete from t+4, before a next job's check can end (t+6).
        y = ranges[2]
        # The head's own Z range: Z_ADDR plus the Y span, in step with the Y pipeline.
        own_z, own_z_end, y_apart = Signal(ADDR_BITS), Signal(_SPAN_BITS + 1), Signal()
        m.d.sync += [own_z.eq(head.z_addr), own_z_end.eq(own_z + y.span),
                     y_apart.eq(head.y_addr != head.z_addr)]
        z_lo, z_hi, z_over = Signal(ADDR_BITS), Signal(_SPAN_BITS + 1), Signal()
        taken = Signal(_RANGE_STAGES.index("span") + 1)     # take, delayed by 1, 2, ... cycles
        m.d.sync += taken.eq(Cat(take, taken[:-1]))
        with m.If(take):
            m.d.sync += z_lo.eq(head.z_addr)
        with m.If(taken[-1]):
            m.d.sync += [z_hi.eq(z_lo + y.span), z_over.eq(y.span_overrun)]
        overlaps = [r.overrun | z_over | ((r.base < z_hi) & (z_lo < r.end)) for r in ranges]
        own = [r.overrun | y.overrun | ((r.base < own_z_end) & (own_z < r.end)) for r in ranges]
        uses_y = Signal()
        hazard = Signal()
        self_overlap = Signal()
        m.d.sync += [uses_y.eq(head.uses_y),
                     hazard.eq(overlaps[0] | overlaps[1] | (uses_y & overlaps[2])),
                     self_overlap.eq(own[0] | own[1] | (uses_y & y_apart & own[2]))]
        age = Signal(range(Controller.GUARD_CYCLES + 1))
        with m.If(take | ~valid):
            m.d.sync += age.eq(0)
        with m.Elif(age != Controller.GUARD_CYCLES):
            m.d.sync += age.eq(age + 1)
        checked = age == Controller.GUARD_CYCLES
        return checked, checked & ~hazard, self_overlap


#: Bits of a range's span in the read-after-write guard: ``(rows-1)*pitch < 2**31`` plus a row.
_SPAN_BITS = 33
#: Bits of a range's row in bytes in the guard: a row of ``DIM_BITS`` elements of up to 2 bytes, and
#: one bit of margin.
_ROW_BITS = DIM_BITS + 2


def _carry_save(m, terms, width):
    """Two signals whose sum is the sum of ``terms`` modulo ``2**width``: a tree of 3:2 compressors
    (full adders side by side, no carry chain), combinational in ``m``."""
    def named(value):
        # Each compressor uses its inputs three times: as expressions, the tree would be copied
        # at every level (3**depth times in the netlist); a signal is emitted once.
        s = Signal(width)
        m.d.comb += s.eq(value)
        return s

    terms = [named(t[:width]) for t in terms]
    while len(terms) > 2:
        reduced = []
        while len(terms) >= 3:
            a, b, c = terms.pop(), terms.pop(), terms.pop()
            reduced += [named(a ^ b ^ c), named(((a & b) | (a & c) | (b & c)) << 1)]
        terms = reduced + terms
    return terms
