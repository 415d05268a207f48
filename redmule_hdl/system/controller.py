"""The controller: checks the job at the head of the register file's queue, runs it, reports it."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int, fp8_beats_word_aligned
from redmule_hdl.interfaces import (CeControl, ElementFormat, EngineJob, JobRegs, StreamerJob, ce_control,
                                    element_format)
from redmule_hdl.spec.formats import FORMAT_CODES
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JobError

__all__ = ["Controller", "decode_job"]


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
    When the engine and the streamer are idle, the controller takes it (``head`` handshake) and in the
    same cycle either

    * starts it: ``engine_job`` handshake (the engine latches M, N, K, op) and a ``start`` pulse to the
      streamer, whose ``sjob`` (addresses, resolved pitches, formats) stays valid until ``finish``
      (it is decoded from the running context, which cannot change while the job runs); or
    * refuses it (ERROR != 0): nothing is started, no memory is touched, and ``evt`` follows in the
      next cycle.

    A started job finishes in the cycle after the engine's ``done`` (which comes with the last store's
    grant) once the streamer reports ``stores_done``: ``evt`` and ``finish`` are high in that cycle.

    CYCLES is the number of clock edges from the cycle in which the job left the queue (its ``head``
    handshake) to the cycle of its ``evt``: a job taken in cycle ``t`` whose evt is in cycle ``t + c``
    reports ``c``. When nothing was queued the register file presents a job in the cycle of its
    accepted TRIGGER write, so then ``t`` is the trigger cycle. A refused job reports 1.

    ``clear`` (soft clear) aborts at once: ``abort`` to the engine and the streamer in the same cycle,
    back to idle without ``evt``. The next job starts only once the streamer reports ``idle`` (its
    outstanding reads have returned), so an aborted job can never leak into it.

    Ports:
        head (stream in, ``JobRegs``): from ``RegFile.head``.
        finish (out): to ``RegFile.finish``.  clear (in): from ``RegFile.clear``.
        cycles, error (out): the CYCLES and ERROR registers.
        evt (out): one-cycle pulse per finished or refused job.
        engine_job (stream out, ``EngineJob``), engine_done (in).
        sjob (out, ``StreamerJob``), start (out), stores_done (in), streamer_idle (in).
        abort (out): to the engine and the streamer.
    Parameters: ``misaligned``, the memory port can read element-aligned rows (else every address and
    pitch must be word aligned); ``D``, elements per beat (the offsets of a row's later beats).
    """

    class _State(enum.Enum):
        IDLE = 0
        RUN = 1
        REFUSE = 2

    def __init__(self, *, misaligned, D):
        if not isinstance(misaligned, bool):
            raise TypeError(f"misaligned must be a bool, not {misaligned!r}")
        self.misaligned = misaligned
        self.D = check_int("D", D, 2)
        super().__init__({
            "head": In(stream.Signature(JobRegs)),
            "finish": Out(1),
            "clear": In(1),
            "cycles": Out(32),
            "error": Out(JobError),
            "evt": Out(1),
            "engine_job": Out(stream.Signature(EngineJob)),
            "engine_done": In(1),
            "sjob": Out(StreamerJob),
            "start": Out(1),
            "stores_done": In(1),
            "streamer_idle": In(1),
            "abort": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        State = self._State
        state = Signal(State)
        count = Signal(32)
        done_seen = Signal()
        job_error = Signal(JobError)    # of the job taken; ERROR shows it from the job's evt on

        error, sjob, ejob = decode_job(m, self.head.payload, misaligned=self.misaligned, D=self.D)
        m.d.comb += [
            self.sjob.eq(sjob),
            self.engine_job.payload.eq(ejob),
            self.abort.eq(self.clear),
        ]

        can_take = (state == State.IDLE) & ~self.clear & self.streamer_idle & self.engine_job.ready
        take = can_take & self.head.valid
        m.d.comb += self.head.ready.eq(can_take)
        with m.If(state != State.IDLE):
            m.d.sync += count.eq(count + 1)

        with m.If(take):
            m.d.sync += [job_error.eq(error), count.eq(1), done_seen.eq(0)]
            with m.If(error == JobError.OK):
                m.d.comb += [self.engine_job.valid.eq(1), self.start.eq(1)]
                m.d.sync += state.eq(State.RUN)
            with m.Else():
                m.d.sync += state.eq(State.REFUSE)

        finished = Signal()
        with m.Switch(state):
            with m.Case(State.RUN):
                # Both registered: the engine's done and the streamer's stores_done come with the last
                # store's grant and one cycle after it, so no input of the memory port reaches evt.
                m.d.sync += done_seen.eq(done_seen | self.engine_done)
                m.d.comb += finished.eq(done_seen & self.stores_done)
            with m.Case(State.REFUSE):
                m.d.comb += finished.eq(1)
        with m.If(finished & ~self.clear):
            m.d.comb += [self.evt.eq(1), self.finish.eq(1)]
            # CYCLES and ERROR change together, at the job's evt: a job queued behind this one, which
            # starts in the next cycle, cannot overwrite them before software has read them.
            m.d.sync += [self.cycles.eq(count), self.error.eq(job_error), state.eq(State.IDLE)]

        with m.If(self.clear):
            m.d.sync += [state.eq(State.IDLE), done_seen.eq(0)]
        return m
