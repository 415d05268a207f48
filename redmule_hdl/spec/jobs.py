"""Job registers in software: packing the fields of one job, and the Python model of the job checks.

The simulation drivers program jobs with ``job_registers``; ``job_error`` and ``resolved_pitches`` are
what the controller (``system/controller.py``) computes in hardware, and the tests compare the two.
"""
from dataclasses import dataclass

from redmule_hdl.config import Config
from redmule_hdl.spec.formats import FORMAT_CODES, format_by_name
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import FIELDS, JobError, Reg

__all__ = ["MacCfg", "pack_macfg", "unpack_macfg", "pack_mcfg0", "unpack_mcfg0", "pack_mcfg1",
           "unpack_mcfg1", "job_registers", "job_error", "resolved_pitches", "byte_ranges",
           "self_overlap"]


@dataclass(frozen=True)
class MacCfg:
    """The decoded MACFG register. ``out_fmt`` is the effective output format code."""
    op: int
    in_fmt: int
    out_fmt: int
    y_sep: bool
    out_fmt_en: bool


def _fmt_code(fmt):
    """A format name / FpFormat, or a raw int code (so tests can program unsupported codes)."""
    if isinstance(fmt, int) and not isinstance(fmt, bool):
        return fmt
    return format_by_name(fmt).code


def _op_code(op):
    if isinstance(op, int) and not isinstance(op, bool):
        return int(op)
    return int(GemmOp.parse(op))


def pack_macfg(op, in_fmt="fp16", out_fmt=None, *, y_sep=False):
    """MACFG value. ``out_fmt=None`` leaves OUT_FMT_EN clear (output format = input format).

    Formats are names ("fp16", "e5m2", "e4m3"), ``FpFormat`` objects or raw codes; ``op`` is a GemmOp,
    a name or a raw code.
    """
    v = FIELDS["OP"].put(0, _op_code(op))
    v = FIELDS["FORMAT"].put(v, _fmt_code(in_fmt))
    v = FIELDS["Y_SEP"].put(v, bool(y_sep))
    if out_fmt is not None:
        v = FIELDS["OUT_FORMAT"].put(v, _fmt_code(out_fmt))
        v = FIELDS["OUT_FMT_EN"].put(v, 1)
    return v


def unpack_macfg(value):
    en = bool(FIELDS["OUT_FMT_EN"].get(value))
    in_fmt = FIELDS["FORMAT"].get(value)
    return MacCfg(op=FIELDS["OP"].get(value), in_fmt=in_fmt,
                  out_fmt=FIELDS["OUT_FORMAT"].get(value) if en else in_fmt,
                  y_sep=bool(FIELDS["Y_SEP"].get(value)), out_fmt_en=en)


def pack_mcfg0(m, k):
    return FIELDS["K"].put(FIELDS["M"].put(0, m), k)


def unpack_mcfg0(value):
    """(M, K)"""
    return FIELDS["M"].get(value), FIELDS["K"].get(value)


def pack_mcfg1(n):
    return FIELDS["N"].put(0, n)


def unpack_mcfg1(value):
    return FIELDS["N"].get(value)


def job_registers(*, x_addr, w_addr, z_addr, m, n, k, op, in_fmt="fp16", out_fmt=None,
                  y_addr=None, x_stride=0, w_stride=0, z_stride=0):
    """The job register values of one job as ``{Reg: value}`` (in offset order).

    ``y_addr=None`` reads Y from Z's address (Y_SEP = 0).
    """
    return {
        Reg.X_ADDR: x_addr, Reg.W_ADDR: w_addr, Reg.Z_ADDR: z_addr,
        Reg.MCFG0: pack_mcfg0(m, k), Reg.MCFG1: pack_mcfg1(n),
        Reg.MACFG: pack_macfg(op, in_fmt, out_fmt, y_sep=y_addr is not None),
        Reg.Y_ADDR: 0 if y_addr is None else y_addr,
        Reg.X_STRIDE: x_stride, Reg.W_STRIDE: w_stride, Reg.Z_STRIDE: z_stride,
    }


def _size(code):
    return FORMAT_CODES[code].bytes


def resolved_pitches(regs):
    """(x_pitch, w_pitch, z_pitch) in bytes for valid formats: a zero stride means dense rows."""
    m, k = unpack_mcfg0(regs[Reg.MCFG0])
    n = unpack_mcfg1(regs[Reg.MCFG1])
    cfg = unpack_macfg(regs[Reg.MACFG])
    return (regs[Reg.X_STRIDE] or n * _size(cfg.in_fmt),
            regs[Reg.W_STRIDE] or k * _size(cfg.in_fmt),
            regs[Reg.Z_STRIDE] or k * _size(cfg.out_fmt))


#: A range whose ``(rows-1)*pitch`` might reach this many bytes counts as overlapping everything
#: (the controller's range pipelines are exact below it; its rows could wrap around the address space).
SPAN_LIMIT = 1 << 31


def _span_overruns(rows_minus_1, pitch):
    """The controller's conservative test: some bit j of ``rows-1`` times ``pitch`` reaches 2**31."""
    return any((rows_minus_1 >> j) & 1 and pitch * (1 << j) >= SPAN_LIMIT
               for j in range(rows_minus_1.bit_length()))


def byte_ranges(regs):
    """``{"x", "w", "y", "z"}`` -> ``(start, end, overruns)`` of a valid job's byte ranges, end
    exclusive: ``[addr, addr + (rows-1)*pitch + row bytes)`` (Y and Z: M rows of K output elements,
    Z's pitch; X: M rows of N input elements; W: N rows of K); ``overruns`` as the controller's
    check (``(rows-1)*pitch`` might reach 2 GiB, or the end passes 2**32). Y is Z's range unless Y_SEP."""
    m, k = unpack_mcfg0(regs[Reg.MCFG0])
    n = unpack_mcfg1(regs[Reg.MCFG1])
    cfg = unpack_macfg(regs[Reg.MACFG])
    x_pitch, w_pitch, z_pitch = resolved_pitches(regs)
    si, so = _size(cfg.in_fmt), _size(cfg.out_fmt)
    y_addr = regs[Reg.Y_ADDR] if cfg.y_sep else regs[Reg.Z_ADDR]
    out = {}
    for name, addr, rows, pitch, row in (("x", regs[Reg.X_ADDR], m, x_pitch, n * si),
                                         ("w", regs[Reg.W_ADDR], n, w_pitch, k * si),
                                         ("y", y_addr, m, z_pitch, k * so),
                                         ("z", regs[Reg.Z_ADDR], m, z_pitch, k * so)):
        end = addr + (rows - 1) * pitch + row
        # A range past 2**32 wraps around to address 0: it overruns too.
        out[name] = (addr, end, _span_overruns(rows - 1, pitch) or end > 1 << 32)
    return out


def self_overlap(regs, config=None):
    """True when a valid job is refused with ``JobError.OVERLAP`` on ``config`` (default
    ``Config()``): it has more than one tile (M > L or K > D), and its Z range shares a byte with
    its X or W range, or, for an op that reads Y from an address other than Z's (Y_SEP), with its Y
    range. A range that overruns (see ``byte_ranges``) counts as overlapping.

    Why: tile t's Z is stored while tile t+1 computes, and later tiles read X, W and Y again, so an
    operand byte that an earlier tile's store replaced may be read, or not, depending on the grant
    and memory timing. A single-tile job reads all its operands before its only store, and
    Z = X*W + Z with Y at Z's address reads each Y element before its own Z replaces it.
    """
    config = Config() if config is None else config
    m, k = unpack_mcfg0(regs[Reg.MCFG0])
    if m <= config.L and k <= config.D:
        return False
    cfg = unpack_macfg(regs[Reg.MACFG])
    ranges = byte_ranges(regs)
    z0, z1, z_over = ranges["z"]
    names = ["x", "w"]
    if GemmOp(cfg.op).uses_y and ranges["y"][0] != z0:
        names.append("y")
    return any(ranges[r][2] or z_over or (ranges[r][0] < z1 and z0 < ranges[r][1]) for r in names)


def job_error(regs, config=None):
    """The JobError the controller of ``config`` (default ``Config()``) reports for job registers
    ``regs`` (``{Reg: value}``).

    Rules (checked in this order, first fault wins):
    SIZE_ZERO: M, N or K is 0. BAD_OP: op is not a GemmOp. BAD_FORMAT: the input format, or the output
    format when OUT_FMT_EN, is not in ``formats.FORMAT_CODES``. MISALIGNED: X_ADDR, W_ADDR and the
    resolved X and W pitches must be multiples of the input element size, Z_ADDR, Y_ADDR (only when
    Y_SEP and the op reads Y) and the resolved Z pitch multiples of the output element size; without
    ``config.misaligned`` every one of them must be a multiple of 4 (word aligned), and so must the
    offset of every later beat of a row: with D elements of 1 byte (FP8) and D not a multiple of 4, X
    may not have N > D, and W, Y and Z may not have K > D. A port of D FP8 elements
    (``config.beat_format == "fp8"``) adds no rule: it moves an FP16 beat as two transfers D bytes
    apart, word aligned when the beat is, since ``Config`` gives it a D that is a multiple of 4
    without ``misaligned``. OVERLAP: ``self_overlap`` (a job of more than one tile whose Z shares a
    byte with its operands).
    """
    config = Config() if config is None else config
    m, k = unpack_mcfg0(regs[Reg.MCFG0])
    n = unpack_mcfg1(regs[Reg.MCFG1])
    cfg = unpack_macfg(regs[Reg.MACFG])
    if 0 in (m, n, k):
        return JobError.SIZE_ZERO
    if cfg.op not in set(GemmOp):
        return JobError.BAD_OP
    if cfg.in_fmt not in FORMAT_CODES or cfg.out_fmt not in FORMAT_CODES:
        return JobError.BAD_FORMAT
    x_pitch, w_pitch, z_pitch = resolved_pitches(regs)
    ins = [regs[Reg.X_ADDR], regs[Reg.W_ADDR], x_pitch, w_pitch]
    outs = [regs[Reg.Z_ADDR], z_pitch]
    if cfg.y_sep and GemmOp(cfg.op).uses_y:
        outs.append(regs[Reg.Y_ADDR])
    in_align = _size(cfg.in_fmt) if config.misaligned else 4
    out_align = _size(cfg.out_fmt) if config.misaligned else 4
    if any(v % in_align for v in ins) or any(v % out_align for v in outs):
        return JobError.MISALIGNED
    if not config.narrow_fp8_ok:
        in_fp8, out_fp8 = _size(cfg.in_fmt) == 1, _size(cfg.out_fmt) == 1
        if (in_fp8 and max(n, k) > config.D) or (out_fp8 and k > config.D):
            return JobError.MISALIGNED
    if self_overlap(regs, config):
        return JobError.OVERLAP
    return JobError.OK
