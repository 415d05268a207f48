"""The register map of the peripheral (HWPE control) port: the one place these facts live.

DESIGN section 7. The register file (``regfile.py``), the controller (``controller.py``), the simulation
driver (``sim/driver.py``) and the C header (``c_header``) are all generated from, or check against,
the tables below; nothing else spells an offset, a field position or an error code.

Offsets are byte offsets from the accelerator's base address. The register file decodes address bits
``[WINDOW_BITS-1:2]`` only (a ``2**WINDOW_BITS``-byte window); the interconnect selects the base.
"""
from dataclasses import dataclass
from enum import Enum, IntEnum

from .config import Config
from .formats import FORMAT_CODE_BITS, FORMAT_CODES, FORMATS, OP_BITS, GemmOp, format_by_name

__all__ = [
    "Reg", "Access", "REGISTERS", "JOB_REGS", "Field", "FIELDS", "JobError", "ERROR_BITS",
    "ACQUIRE_NONE", "WINDOW_BITS", "PERIPH_ID_BITS", "DIM_MAX",
    "MacCfg", "pack_macfg", "unpack_macfg", "pack_mcfg0", "unpack_mcfg0", "pack_mcfg1", "unpack_mcfg1",
    "job_registers", "job_error", "resolved_pitches", "c_header", "markdown_table",
]

#: Address bits the register file decodes: offsets 0x00..0xFC, unmapped ones read 0 and ignore writes.
WINDOW_BITS = 8
#: Width of the peripheral port's transaction id (``id``/``r_id``): enough for 256 initiators.
PERIPH_ID_BITS = 8
#: Value ACQUIRE returns when no context is free (-1 as a 32-bit two's complement word).
ACQUIRE_NONE = 0xFFFF_FFFF
#: Largest M, N or K (16-bit fields).
DIM_MAX = 0xFFFF


class Reg(IntEnum):
    """Register byte offsets."""
    TRIGGER = 0x00
    ACQUIRE = 0x04
    FINISHED = 0x08
    STATUS = 0x0C
    RUNNING_JOB = 0x10
    SOFT_CLEAR = 0x14
    X_ADDR = 0x40
    W_ADDR = 0x44
    Z_ADDR = 0x48
    MCFG0 = 0x4C
    MCFG1 = 0x50
    MACFG = 0x54
    Y_ADDR = 0x58
    X_STRIDE = 0x5C
    W_STRIDE = 0x60
    Z_STRIDE = 0x64
    CYCLES = 0x68
    ERROR = 0x6C


class Access(Enum):
    WO = "write-only"   # reads return 0
    RO = "read-only"    # writes are ignored
    RC = "read with side effect"
    RW = "read-write"   # per-context job register


@dataclass(frozen=True)
class RegInfo:
    reg: Reg
    access: Access
    bits: int          # implemented bits [bits-1:0]; the rest read as 0
    doc: str


REGISTERS = {r.reg: r for r in (
    RegInfo(Reg.TRIGGER, Access.WO, 32,
            "write 0: commit the acquired context and queue it; any other value: commit only "
            "(unlock, nothing is queued)"),
    RegInfo(Reg.ACQUIRE, Access.RC, 32,
            "read: id of a free context, now locked for programming; -1 if none is free or "
            "another context is locked"),
    RegInfo(Reg.FINISHED, Access.RO, 32, "jobs finished (including refused ones), wraps"),
    RegInfo(Reg.STATUS, Access.RO, 16, "bit i: context i is queued or running"),
    RegInfo(Reg.RUNNING_JOB, Access.RO, 4, "context id of the running (or last started) job"),
    RegInfo(Reg.SOFT_CLEAR, Access.WO, 32,
            "write: abort, empty the queue, return to idle; value 0 also clears the job registers"),
    RegInfo(Reg.X_ADDR, Access.RW, 32, "byte address of X"),
    RegInfo(Reg.W_ADDR, Access.RW, 32, "byte address of W"),
    RegInfo(Reg.Z_ADDR, Access.RW, 32, "byte address of Z (and of Y unless MACFG.Y_SEP)"),
    RegInfo(Reg.MCFG0, Access.RW, 32, "[31:16] K, [15:0] M"),
    RegInfo(Reg.MCFG1, Access.RW, 16, "[15:0] N"),
    RegInfo(Reg.MACFG, Access.RW, 18,
            "[17] OUT_FMT_EN, [16:14] out format, [13] Y_SEP, [12:10] op, [9:7] format"),
    RegInfo(Reg.Y_ADDR, Access.RW, 32, "byte address of Y when MACFG.Y_SEP = 1"),
    RegInfo(Reg.X_STRIDE, Access.RW, 32, "row pitch of X in bytes, 0 = dense (N elements)"),
    RegInfo(Reg.W_STRIDE, Access.RW, 32, "row pitch of W in bytes, 0 = dense (K elements)"),
    RegInfo(Reg.Z_STRIDE, Access.RW, 32, "row pitch of Z and Y in bytes, 0 = dense (K elements)"),
    RegInfo(Reg.CYCLES, Access.RO, 32,
            "cycles of the last finished job: from the cycle it left the queue (= the cycle of the "
            "accepted TRIGGER write when nothing was queued) to the cycle of its evt"),
    RegInfo(Reg.ERROR, Access.RO, 3, "JobError of the last job started (0 = ok)"),
)}

#: The per-context job registers, in offset order.
JOB_REGS = tuple(r for r in Reg if REGISTERS[r].access is Access.RW)


@dataclass(frozen=True)
class Field:
    """A bit field ``[lsb + width - 1 : lsb]`` of register ``reg``."""
    name: str
    reg: Reg
    lsb: int
    width: int

    @property
    def mask(self):
        """Mask of the field in place (shifted)."""
        return ((1 << self.width) - 1) << self.lsb

    @property
    def msb(self):
        return self.lsb + self.width - 1

    def get(self, value):
        return (int(value) >> self.lsb) & ((1 << self.width) - 1)

    def put(self, value, field_value):
        field_value = int(field_value)
        if not 0 <= field_value < 1 << self.width:
            raise ValueError(f"{self.name} must fit in {self.width} bits, not {field_value!r}")
        return (int(value) & ~self.mask) | (field_value << self.lsb)


FIELDS = {f.name: f for f in (
    Field("M", Reg.MCFG0, 0, 16),
    Field("K", Reg.MCFG0, 16, 16),
    Field("N", Reg.MCFG1, 0, 16),
    Field("FORMAT", Reg.MACFG, 7, FORMAT_CODE_BITS),
    Field("OP", Reg.MACFG, 10, OP_BITS),
    Field("Y_SEP", Reg.MACFG, 13, 1),
    Field("OUT_FORMAT", Reg.MACFG, 14, FORMAT_CODE_BITS),
    Field("OUT_FMT_EN", Reg.MACFG, 17, 1),
)}


def _check_tables():
    # Fields must lie inside their register's implemented bits and must not overlap.
    used = {}
    for f in FIELDS.values():
        assert f.msb < REGISTERS[f.reg].bits, f
        assert not used.get(f.reg, 0) & f.mask, f
        used[f.reg] = used.get(f.reg, 0) | f.mask
    assert all(r < 1 << WINDOW_BITS for r in Reg)
    # STATUS has a bit per context, RUNNING_JOB holds a context id.
    assert Config.MAX_CONTEXTS <= REGISTERS[Reg.STATUS].bits
    assert Config.MAX_CONTEXTS <= 1 << REGISTERS[Reg.RUNNING_JOB].bits


_check_tables()


class JobError(IntEnum):
    """ERROR register codes. When a job has several faults the lowest non-zero code is reported."""
    OK = 0
    SIZE_ZERO = 1    # M, N or K is zero
    BAD_OP = 2       # op code is not a GemmOp (unreachable here: all 2**OP_BITS codes are ops)
    BAD_FORMAT = 3   # input format, or output format with OUT_FMT_EN, not in formats.FORMAT_CODES
    MISALIGNED = 4   # an address or row pitch is not element aligned (not word aligned without
                     # Config.misaligned)


ERROR_BITS = max(JobError).bit_length()


# ---- packing helpers ------------------------------------------------------------------------------

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


# ---- the job checks (Python model of the controller) ----------------------------------------------

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


def job_error(regs, *, misaligned=True):
    """The JobError the controller reports for job registers ``regs`` (``{Reg: value}``).

    Rules (checked in this order, first fault wins):
    SIZE_ZERO: M, N or K is 0. BAD_OP: op is not a GemmOp. BAD_FORMAT: the input format, or the output
    format when OUT_FMT_EN, is not in ``formats.FORMAT_CODES``. MISALIGNED: X_ADDR, W_ADDR and the
    resolved X and W pitches must be multiples of the input element size, Z_ADDR, Y_ADDR (only when
    Y_SEP and the op reads Y) and the resolved Z pitch multiples of the output element size; without
    ``misaligned`` every one of them must be a multiple of 4 (word aligned).
    """
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
    in_align = _size(cfg.in_fmt) if misaligned else 4
    out_align = _size(cfg.out_fmt) if misaligned else 4
    if any(v % in_align for v in ins) or any(v % out_align for v in outs):
        return JobError.MISALIGNED
    return JobError.OK


# ---- C header -------------------------------------------------------------------------------------

def c_header(config=None, *, prefix="REDMULE"):
    """Render the register map as a C header, from the tables of this module and ``formats``.

    With a ``Config``, its parameters are added as ``<prefix>_L`` etc.
    """
    guard = f"{prefix}_REGS_H"
    lines = [
        "/* Register map of the RedMulE matrix engine (redmule-hdl).",
        " * Generated by redmule_hdl.regmap.c_header(): do not edit. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
    ]

    def define(name, value, comment=None):
        text = f"#define {prefix}_{name:<24} {value}"
        lines.append(f"{text}  /* {comment} */" if comment else text)

    if config is not None:
        lines.append("/* Generator parameters */")
        for name, value, doc in (
                ("L", config.L, "rows of the CE array"),
                ("H", config.H, "CEs per row"),
                ("P", config.P, "FMA pipeline registers"),
                ("D", config.D, "elements per beat, H*(P+1)"),
                ("CONTEXTS", config.contexts, "job contexts"),
                ("MISALIGNED", int(config.misaligned), "element-aligned rows supported"),
                ("PORT_WIDTH", config.port_width, "TCDM data bits")):
            define(name, value, doc)
        lines.append("")
    lines.append("/* Register offsets (bytes from the base address) */")
    for r in Reg:
        define(r.name, f"0x{int(r):02X}", REGISTERS[r].doc)
    lines.append("")
    lines.append("/* Register fields: <REG>_<FIELD>_SHIFT and the in-place _MASK */")
    for f in FIELDS.values():
        define(f"{f.reg.name}_{f.name}_SHIFT", f.lsb)
        define(f"{f.reg.name}_{f.name}_MASK", f"0x{f.mask:08X}u")
    lines.append("")
    define("ACQUIRE_NONE", f"0x{ACQUIRE_NONE:08X}u", "ACQUIRE when no context is free")
    lines.append("")
    lines.append("/* GEMM-Ops (MACFG.OP) */")
    for op in GemmOp:
        define(f"OP_{op.name}", int(op))
    lines.append("")
    lines.append("/* Number formats (MACFG.FORMAT, MACFG.OUT_FORMAT) */")
    for f in sorted(FORMATS.values(), key=lambda f: f.code):
        define(f"FMT_{f.name.upper()}", f.code, f"{f.width}-bit, {f.exp_bits} exponent bits")
    lines.append("")
    lines.append("/* ERROR register codes */")
    for e in JobError:
        define(f"ERR_{e.name}", int(e))
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


# ---- documentation --------------------------------------------------------------------------------

def markdown_table():
    """The register map as a Markdown table (the README embeds this output; a test keeps it equal)."""
    lines = ["| offset | name | access | behaviour |", "|---|---|---|---|"]
    for r in Reg:
        info = REGISTERS[r]
        scope = ", per context" if info.access is Access.RW else ""
        lines.append(f"| 0x{int(r):02X} | {r.name} | {info.access.value}{scope} | {info.doc} |")
    return "\n".join(lines)
