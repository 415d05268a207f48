"""Number formats: the one place these facts live.

Everything else (hardware, reference model, simulation drivers, register map, C header) imports them.
"""
from dataclasses import dataclass

from amaranth.lib import data, enum

__all__ = ["FormatCode", "FpFormat", "FP16", "E5M2", "E4M3", "FORMATS", "FORMAT_CODES", "FP8_FORMATS",
           "fp8_select_bits", "format_by_name", "format_by_code", "fp_layout", "FP16_ONE", "FP16_NEG_ZERO"]


class FormatCode(enum.IntEnum, shape=3):
    """Value of a MACFG format field (FORMAT, OUT_FORMAT); the shape is the field's width."""
    E5M2 = 0
    FP16 = 1
    E4M3 = 2


@dataclass(frozen=True)
class FpFormat:
    """An IEEE-like binary floating-point format with Inf and NaN.

    ``code`` is the value of the MACFG format field that selects it.
    """
    name: str
    code: FormatCode
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


FP16 = FpFormat("fp16", code=FormatCode.FP16, exp_bits=5, man_bits=10, canonical_nan=0x7E00)
E5M2 = FpFormat("e5m2", code=FormatCode.E5M2, exp_bits=5, man_bits=2, canonical_nan=0x7E)
E4M3 = FpFormat("e4m3", code=FormatCode.E4M3, exp_bits=4, man_bits=3, canonical_nan=0x7C)

FORMATS = {f.name: f for f in (FP16, E5M2, E4M3)}
FORMAT_CODES = {f.code: f for f in FORMATS.values()}
#: The FP8 formats, in the order of the casts' run-time select (``arith.cast``): a format's index here
#: is its ``interfaces.ElementFormat.fp8`` code.
FP8_FORMATS = (E5M2, E4M3)
assert set(FORMAT_CODES) == set(FormatCode)

FP16_ONE = 0x3C00
FP16_NEG_ZERO = 0x8000


def fp8_select_bits(formats):
    """Bits of an index into the table ``formats`` (the casts' ``fmt`` port, ``ElementFormat.fp8``)."""
    if not formats:
        raise ValueError("a table of FP8 formats needs at least one format")
    return max(1, (len(formats) - 1).bit_length())


def fp_layout(fmt):
    """``lib.data`` layout of the bit fields of an :class:`FpFormat` (LSB first: mant, exp, sign)."""
    return data.StructLayout({"mant": fmt.man_bits, "exp": fmt.exp_bits, "sign": 1})


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
