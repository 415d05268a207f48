"""Number formats, GEMM-Ops codes and FMA modes: the one place these facts live.

Everything else (hardware, reference model, simulation drivers, register map, C header) imports them.
"""
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["FpFormat", "FP16", "E5M2", "E4M3", "FORMATS", "FORMAT_CODES", "format_by_name",
           "format_by_code", "GemmOp", "FmaMode", "FP16_ONE", "FP16_NEG_ZERO", "FP16_POS_ZERO"]


@dataclass(frozen=True)
class FpFormat:
    """An IEEE-like binary floating-point format with Inf and NaN.

    ``code`` is the value of the MACFG format field that selects it.
    """
    name: str
    code: int
    exp_bits: int
    man_bits: int
    canonical_nan: int

    @property
    def width(self):
        return 1 + self.exp_bits + self.man_bits

    @property
    def bias(self):
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def exp_max(self):
        """The all-ones exponent field (Inf / NaN)."""
        return (1 << self.exp_bits) - 1

    @property
    def sign_mask(self):
        return 1 << (self.width - 1)

    @property
    def inf(self):
        return self.exp_max << self.man_bits

    @property
    def max_normal(self):
        return self.inf - 1

    @property
    def bytes(self):
        return self.width // 8


FP16 = FpFormat("fp16", code=1, exp_bits=5, man_bits=10, canonical_nan=0x7E00)
E5M2 = FpFormat("e5m2", code=0, exp_bits=5, man_bits=2, canonical_nan=0x7E)
E4M3 = FpFormat("e4m3", code=2, exp_bits=4, man_bits=3, canonical_nan=0x7C)

FORMATS = {f.name: f for f in (FP16, E5M2, E4M3)}
FORMAT_CODES = {f.code: f for f in FORMATS.values()}
# Width of the MACFG format fields.
FORMAT_CODE_BITS = 3

FP16_ONE = 0x3C00
FP16_POS_ZERO = 0x0000
FP16_NEG_ZERO = 0x8000


def format_by_name(name):
    """Look a format up by name ("fp16", "e5m2", "e4m3"); ValueError otherwise."""
    if isinstance(name, FpFormat):
        return name
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown number format {name!r}; expected one of {sorted(FORMATS)}") from None


def format_by_code(code):
    """Look a format up by its MACFG code; ValueError for an unsupported code."""
    try:
        return FORMAT_CODES[code]
    except (KeyError, TypeError):
        raise ValueError(f"unsupported format code {code!r}; supported codes are "
                         f"{ {c: f.name for c, f in sorted(FORMAT_CODES.items())} }") from None


class GemmOp(IntEnum):
    """GEMM-Ops codes (MACFG.op): ``Z[m,k] = fold(step, n, init)``, see DESIGN section 4."""
    MATMUL = 0
    GEMM = 1
    ADDMAX = 2
    ADDMIN = 3
    MULMAX = 4
    MULMIN = 5
    MAXMIN = 6
    MINMAX = 7

    @property
    def uses_y(self):
        return self is not GemmOp.MATMUL

    @classmethod
    def parse(cls, op):
        """Accept a code 0..7, a GemmOp or a lower-case name; ValueError otherwise."""
        if isinstance(op, str):
            try:
                return cls[op.upper()]
            except KeyError:
                raise ValueError(f"unknown op {op!r}; expected one of "
                                 f"{[o.name.lower() for o in cls]}") from None
        try:
            return cls(op)
        except ValueError:
            raise ValueError(f"unknown op code {op!r}; expected 0..{len(cls) - 1}") from None


OP_BITS = 3


class FmaMode(IntEnum):
    """Operating modes of the FP16 FMA unit."""
    FMA = 0   # a * b + c
    ADD = 1   # a + c        (multiplicand forced to 1.0)
    MUL = 2   # a * b        (addend forced to -0)
