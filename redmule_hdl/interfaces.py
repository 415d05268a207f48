"""The contracts between blocks: bus signatures, job layouts and beat layouts.

Every block that talks to another imports its side of the contract from here, so a port's width or a
job's fields are defined once. Protocols and timing are described in docs/architecture.md ("Ports").
"""
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int
from redmule_hdl.spec.formats import FP8_FORMATS, fp8_select_bits, format_by_code, format_by_name
from redmule_hdl.spec.ops import FmaMode, GemmOp
from redmule_hdl.spec.regmap import (ADDR_BITS, DIM_BITS, FIELDS, JOB_REGS, PERIPH_ID_BITS, REGISTERS, WORD_BITS,
                                     JobError, Reg)

__all__ = ["PeriphSignature", "TcdmSignature", "JobStatusSignature", "EngineControlSignature",
           "StreamerControlSignature", "JobRegs", "CeControl", "ce_control",
           "EngineJob", "engine_job", "ElementFormat", "element_format", "StreamerJob", "beat_layout",
           "z_beat_layout", "REPLICA"]

#: Attributes of a register that is one of several copies of the same bits, each beside the logic
#: it feeds, so that no single register drives a net across the array (the CEs' operand registers).
#: Yosys' ``keep``: on a wire it only keeps the name, so the FPGA flow (``synth.fpga``) also sets it
#: on the flip-flops that drive such a wire, which ``opt_merge`` then leaves apart.
REPLICA = {"keep": 1}


class PeriphSignature(wiring.Signature):
    """The HWPE peripheral (control) port, 32-bit, seen from the initiator (the core side).

    Request: ``req``, ``add`` (byte address), ``wen`` (1 = read, 0 = write), ``be`` (byte enables of a
    write), ``data`` (write data), ``id`` (transaction id, ``PERIPH_ID_BITS`` bits, returned in
    ``r_id``). A request is accepted in a cycle with ``req & gnt``. Response: ``r_valid`` for one cycle
    exactly one cycle after every accepted request (reads and writes), with ``r_data`` (read data, 0
    for writes) and ``r_id``. The accelerator's port is ``In(PeriphSignature())``.
    """

    def __init__(self):
        super().__init__({
            "req": Out(1),
            "gnt": In(1),
            "add": Out(ADDR_BITS),
            "wen": Out(1),
            "be": Out(WORD_BITS // 8),
            "data": Out(WORD_BITS),
            "id": Out(PERIPH_ID_BITS),
            "r_valid": In(1),
            "r_data": In(WORD_BITS),
            "r_id": In(PERIPH_ID_BITS),
        })

    def __eq__(self, other):
        return type(other) is PeriphSignature

    def __hash__(self):
        return hash(PeriphSignature)

    def __repr__(self):
        return "PeriphSignature()"


class TcdmSignature(wiring.Signature):
    """The wide TCDM initiator port, seen from the initiator.

    ``req``, ``gnt``: a request is accepted in a cycle with ``req & gnt``; until then it stays stable.
    ``add``: byte address, word aligned. ``wen``: 1 = read, 0 = write. ``be``: byte enables (one per
    byte of ``data``). ``data``: write data; word ``i`` is address ``add + 4*i``.
    ``r_valid``, ``r_data``: one response per accepted read, in order, at least one cycle later.

    Parameters: ``port_width``, the data bits (whole bytes, at least 16; ``Config.port_width``).
    """

    def __init__(self, port_width):
        if isinstance(port_width, bool) or not isinstance(port_width, int):
            raise TypeError(f"port_width must be an int, not {port_width!r}")
        if port_width < 16 or port_width % 8:
            raise ValueError(f"port_width must be a multiple of 8 of at least 16, not {port_width!r}")
        self.port_width = port_width
        super().__init__({
            "req": Out(1),
            "gnt": In(1),
            "add": Out(ADDR_BITS),
            "wen": Out(1),
            "be": Out(port_width // 8),
            "data": Out(port_width),
            "r_valid": In(1),
            "r_data": In(port_width),
        })

    def __eq__(self, other):
        return type(other) is TcdmSignature and other.port_width == self.port_width

    def __hash__(self):
        return hash((TcdmSignature, self.port_width))

    def __repr__(self):
        return f"TcdmSignature({self.port_width})"


class JobStatusSignature(wiring.Signature):
    """What the controller reports to the register file, seen from the controller.

    ``finish``: one-cycle pulse, the oldest running job finished or was refused (its context is
    freed). ``cycles``, ``error``: the values of the CYCLES and ERROR registers. ``clear`` (in): one-cycle
    pulse of an accepted SOFT_CLEAR, the cycle after the write.
    """

    def __init__(self):
        super().__init__({
            "finish": Out(1),
            "cycles": Out(REGISTERS[Reg.CYCLES].bits),
            "error": Out(JobError),
            "clear": In(1),
        })

    def __eq__(self, other):
        return type(other) is JobStatusSignature

    def __hash__(self):
        return hash(JobStatusSignature)

    def __repr__(self):
        return "JobStatusSignature()"


def _register_layout(reg):
    """A job register as stored: its implemented bits, with its ``FIELDS`` as named parts."""
    fields = {f.name.lower(): data.Field(f.shape, f.lsb) for f in FIELDS.values() if f.reg is reg}
    bits = REGISTERS[reg].bits
    return data.FlexibleLayout(bits, fields) if fields else bits


#: The job registers of one context (``spec.regmap.JOB_REGS``), as the register file stores them and
#: the controller reads them: ``regs.mcfg0.m``, ``regs.macfg.op``, ``regs.x_addr``, ...
JobRegs = data.StructLayout({r.name.lower(): _register_layout(r) for r in JOB_REGS})


def beat_layout(D):
    """One beat of the engine: ``D`` FP16 elements, element j in bits [16j, 16j+16) (on the port it is
    one transfer, or two on a port of D FP8 elements: ``Config.transfers_per_beat``)."""
    return data.ArrayLayout(16, check_int("D", D, 1))


def z_beat_layout(D):
    """A Z beat leaving the engine: ``D`` FP16 elements and a valid bit per element (columns < K)."""
    return data.StructLayout({"data": beat_layout(D), "mask": D})


class CeControl(data.Struct):
    """How every computing element executes the job's GEMM-Op, decoded once by the controller.

    ``mode``: what the FMA computes (``fma(x, w, acc)``, ``x + w`` or ``x * w``); ``compare_first``:
    the FMA gets ``minmax(x, w)`` from the input comparator (times 1.0) instead of ``x``;
    ``inner_max``: the input comparator takes the maximum (else the minimum); ``outer_max``: the output
    comparator folds the FMA result into ``acc`` with the maximum (else the minimum). With
    ``mode == FMA`` the FMA result is the step's result and the output comparator is unused.
    """
    mode: FmaMode
    compare_first: 1
    inner_max: 1
    outer_max: 1


def ce_control(op):
    """The ``CeControl`` field values (a dict) of GemmOp ``op``: the decode table of the controller."""
    op = GemmOp(op)
    mode = {GemmOp.MATMUL: FmaMode.FMA, GemmOp.GEMM: FmaMode.FMA,
            GemmOp.ADDMAX: FmaMode.ADD, GemmOp.ADDMIN: FmaMode.ADD}.get(op, FmaMode.MUL)
    return {
        "mode": mode,
        "compare_first": int(op in (GemmOp.MAXMIN, GemmOp.MINMAX)),
        "inner_max": int(op is GemmOp.MAXMIN),
        "outer_max": int(op in (GemmOp.ADDMAX, GemmOp.MULMAX, GemmOp.MINMAX)),
    }


class EngineJob(data.Struct):
    """One checked job as the engine receives it: its shape, whether it reads Y, and the CE control."""
    m: DIM_BITS
    n: DIM_BITS
    k: DIM_BITS
    uses_y: 1
    ce: CeControl


def engine_job(op, m, n, k):
    """The ``EngineJob`` field values (a dict) of an M x N x K job of GemmOp ``op``."""
    op = GemmOp(op)
    return {"m": m, "n": n, "k": k, "uses_y": int(op.uses_y), "ce": ce_control(op)}


class ElementFormat(data.Struct):
    """How the elements of a stream are stored in memory, decoded once by the controller.

    ``wide``: 2-byte FP16 elements, moved as they are; else 1-byte FP8 elements, converted by the
    streamer's casts, and ``fp8`` selects the FP8 format (its index in ``spec.formats.FP8_FORMATS``,
    the casts' ``fmt``; as wide as that table needs).
    """
    wide: 1
    fp8: fp8_select_bits(FP8_FORMATS)


def element_format(fmt):
    """The ``ElementFormat`` field values (a dict) of a format (name, ``FpFormat`` or code)."""
    f = format_by_code(fmt) if isinstance(fmt, int) else format_by_name(fmt)
    return {"wide": int(f.bytes == 2), "fp8": FP8_FORMATS.index(f) if f in FP8_FORMATS else 0}


class StreamerJob(data.Struct):
    """One checked job as the controller hands it to the streamer.

    Addresses are byte addresses; pitches are resolved row pitches in bytes (never 0). X and W are
    stored as ``in_fmt``, Y and Z as ``out_fmt``.
    """
    x_addr: ADDR_BITS
    w_addr: ADDR_BITS
    y_addr: ADDR_BITS
    z_addr: ADDR_BITS
    x_pitch: ADDR_BITS
    w_pitch: ADDR_BITS
    z_pitch: ADDR_BITS     # Y uses the same pitch
    m: DIM_BITS
    n: DIM_BITS
    k: DIM_BITS
    uses_y: 1
    in_fmt: ElementFormat
    out_fmt: ElementFormat


class EngineControlSignature(wiring.Signature):
    """The controller's hold on the engine, seen from the controller: ``job`` (stream of ``EngineJob``;
    ``ready``: a job slot is free) and ``abort`` (soft clear: every job is dropped at the end of the
    cycle)."""

    def __init__(self):
        super().__init__({
            "job": Out(stream.Signature(EngineJob)),
            "abort": Out(1),
        })


class StreamerControlSignature(wiring.Signature):
    """The controller's hold on the streamer, seen from the controller: ``job`` (stream of
    ``StreamerJob``; ``ready``: a job slot is free), ``abort`` (soft clear), ``stored`` (in: one-cycle
    pulse per job, the cycle after its last Z store is granted) and ``idle`` (in: no job, no request
    waiting for its grant, no response outstanding)."""

    def __init__(self):
        super().__init__({
            "job": Out(stream.Signature(StreamerJob)),
            "abort": Out(1),
            "stored": In(1),
            "idle": In(1),
        })
