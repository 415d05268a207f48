"""The register map of the peripheral (HWPE control) port: the one place these facts live.

The register file (``system/regfile.py``) stores the registers of ``REGISTERS``, the controller
(``system/controller.py``) reads the fields of ``FIELDS``, the simulation driver, the C header and the
README table (``spec/render.py``) are generated from these tables; nothing else spells an offset, a
field position or an error code. ``spec/jobs.py`` packs job registers and models the job checks.

Offsets are byte offsets from the accelerator's base address. The register file decodes address bits
``[WINDOW_BITS-1:2]`` only (a ``2**WINDOW_BITS``-byte window); the interconnect selects the base.
"""
from dataclasses import dataclass
from enum import Enum, IntEnum

from amaranth.hdl import Shape
from amaranth.lib import enum

from redmule_hdl.config import Config
from redmule_hdl.spec.formats import FormatCode
from redmule_hdl.spec.ops import GemmOp

__all__ = ["Reg", "Access", "RegInfo", "REGISTERS", "JOB_REGS", "Field", "FIELDS", "JobError",
           "ACQUIRE_NONE", "WINDOW_BITS", "PERIPH_ID_BITS", "DIM_BITS", "ADDR_BITS", "WORD_BITS"]

#: Address bits the register file decodes: offsets 0x00..0xFC, unmapped ones read 0 and ignore writes.
WINDOW_BITS = 8
#: Width of the peripheral port's transaction id (``id``/``r_id``): enough for 256 initiators.
PERIPH_ID_BITS = 8
#: Value ACQUIRE returns when no context is free (-1 as a 32-bit two's complement word).
ACQUIRE_NONE = 0xFFFF_FFFF
#: Width of a byte address (and of a row pitch) on both ports and in the job registers.
ADDR_BITS = 32
#: Width of a register and of the peripheral port's data.
WORD_BITS = 32
#: Width of the M, N and K fields (MCFG0, MCFG1): at most 65535 rows, reduction steps or columns.
DIM_BITS = 16


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
    RegInfo(Reg.ERROR, Access.RO, 3, "JobError of the last finished job, refused ones included (0 = ok)"),
)}

#: The per-context job registers, in offset order.
JOB_REGS = tuple(r for r in Reg if REGISTERS[r].access is Access.RW)


@dataclass(frozen=True)
class Field:
    """A bit field ``[lsb + width - 1 : lsb]`` of register ``reg``; ``shape`` is a width or an enum
    with a shape (then the field holds that enum's codes)."""
    name: str
    reg: Reg
    lsb: int
    shape: object

    @property
    def width(self):
        return Shape.cast(self.shape).width

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
    Field("M", Reg.MCFG0, 0, DIM_BITS),
    Field("K", Reg.MCFG0, 16, DIM_BITS),
    Field("N", Reg.MCFG1, 0, DIM_BITS),
    Field("FORMAT", Reg.MACFG, 7, FormatCode),
    Field("OP", Reg.MACFG, 10, GemmOp),
    Field("Y_SEP", Reg.MACFG, 13, 1),
    Field("OUT_FORMAT", Reg.MACFG, 14, FormatCode),
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
    assert Shape.cast(JobError).width == REGISTERS[Reg.ERROR].bits



class JobError(enum.IntEnum, shape=3):
    """ERROR register codes. When a job has several faults the lowest non-zero code is reported."""
    OK = 0
    SIZE_ZERO = 1    # M, N or K is zero
    BAD_OP = 2       # op code is not a GemmOp (unreachable today: every 3-bit code is an op)
    BAD_FORMAT = 3   # input format, or output format with OUT_FMT_EN, not a FormatCode
    MISALIGNED = 4   # an address or row pitch is not element aligned (not word aligned without
                     # Config.misaligned)
    OVERLAP = 5      # a job of more than one tile (M > L or K > D) whose Z range shares a byte with
                     # its X or W range, or with its Y range when Y_SEP gives Y another address


_check_tables()
