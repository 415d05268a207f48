"""The job decoder: a job's registers -> its checks, the streamer's job and the engine's job."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_bool, check_int, fp8_beats_word_aligned
from redmule_hdl.interfaces import (CeControl, ElementFormat, EngineJob, JobRegs, StreamerJob, ce_control,
                                    element_format)
from redmule_hdl.spec.formats import FORMAT_CODES
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JobError

__all__ = ["JobDecoder"]


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


class JobDecoder(wiring.Component):
    """Combinational decode of a job's registers.

    Ports:
        regs (in, ``JobRegs``): the job's registers.
        error (out, ``JobError``): the first fault (the order of ``spec.jobs.job_error``, the Python
            model of this logic), ``OK`` if none.
        streamer_job (out, ``StreamerJob``): addresses, pitches with stride 0 resolved to a dense row,
            element formats, M, N, K, whether Y is read.
        engine_job (out, ``EngineJob``): M, N, K, whether Y is read, the CE control word of the op.
    Both jobs are meaningful when ``error`` is ``OK``. Every fact the other blocks need is decoded
    here. Parameters: ``misaligned`` (else every address and pitch must be word aligned); ``D``,
    elements per beat (the offsets of a row's later FP8 beats). Latency: combinational.
    """

    def __init__(self, *, misaligned, D):
        self.misaligned = check_bool("misaligned", misaligned)
        self.D = check_int("D", D, 2)
        super().__init__({
            "regs": In(JobRegs),
            "error": Out(JobError),
            "streamer_job": Out(StreamerJob),
            "engine_job": Out(EngineJob),
        })

    def elaborate(self, platform):
        m = Module()
        regs = self.regs
        mm, nn, kk = regs.mcfg0.m, regs.mcfg1.n, regs.mcfg0.k
        cfg = regs.macfg
        op = cfg.op
        out_code = Mux(cfg.out_fmt_en, cfg.out_format, cfg.format)
        uses_y = op != GemmOp.MATMUL
        in_fmt = _element_format(m, cfg.format, "in_fmt")
        out_fmt = _element_format(m, out_code, "out_fmt")

        sjob, ejob = self.streamer_job, self.engine_job
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
        if self.misaligned:
            in_mask, out_mask = Mux(in_fmt.wide, 1, 0), Mux(out_fmt.wide, 1, 0)
        else:
            in_mask, out_mask = 3, 3
        y_checked = Mux(cfg.y_sep & uses_y, regs.y_addr, 0)
        in_bits = (sjob.x_addr | sjob.w_addr | sjob.x_pitch | sjob.w_pitch)[:2]
        out_bits = (sjob.z_addr | sjob.z_pitch | y_checked)[:2]
        bad_align = ((in_bits & in_mask) != 0) | ((out_bits & out_mask) != 0)
        if not fp8_beats_word_aligned(self.misaligned, self.D):
            # A row's later FP8 beats would start inside a word, which the narrow port cannot move.
            more_k = kk > self.D
            bad_align = bad_align | (~in_fmt.wide & ((nn > self.D) | more_k)) | (~out_fmt.wide & more_k)

        size_zero = (mm == 0) | (nn == 0) | (kk == 0)
        op_codes = {int(o) for o in GemmOp}
        # Every code of the OP field is an op today; the check stays for a wider field or fewer ops.
        bad_op = 0 if op_codes >= set(range(1 << len(op))) else ~_any_code(op, op_codes)
        bad_fmt = ~_any_code(cfg.format, FORMAT_CODES) | ~_any_code(out_code, FORMAT_CODES)
        error = self.error
        with m.If(size_zero):
            m.d.comb += error.eq(JobError.SIZE_ZERO)
        with m.Elif(bad_op):
            m.d.comb += error.eq(JobError.BAD_OP)
        with m.Elif(bad_fmt):
            m.d.comb += error.eq(JobError.BAD_FORMAT)
        with m.Elif(bad_align):
            m.d.comb += error.eq(JobError.MISALIGNED)
        return m
