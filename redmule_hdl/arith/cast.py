"""Lane-wise FP8 <-> FP16 converters for whole memory beats.

Both converters are purely combinational. The FP8 format is selected at run time by ``fmt``, its
index in the converter's table of formats (``formats``, default :data:`spec.formats.FP8_FORMATS`,
whose indices are the ``interfaces.ElementFormat.fp8`` codes). Every format of the table must be an
IEEE-like 8-bit format with infinities and NaN (``FpFormat``).
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.spec.formats import FP8_FORMATS, FP16, FpFormat, fp8_select_bits, fp_layout

__all__ = ["Fp8ToFp16", "Fp16ToFp8"]

_SIG16 = FP16.man_bits + 1       # FP16 significand bits, hidden bit included


def _check_lanes(lanes):
    if isinstance(lanes, bool) or not isinstance(lanes, int):
        raise TypeError(f"lanes must be an int >= 1, not {lanes!r}")
    if lanes < 1:
        raise ValueError(f"lanes must be an int >= 1, not {lanes!r}")
    return lanes


def _check_formats(formats):
    formats = tuple(formats)
    for f in formats:
        if not isinstance(f, FpFormat) or f.width != 8:
            raise TypeError(f"formats must be 8-bit FpFormats, not {f!r}")
    fp8_select_bits(formats)     # at least one
    return formats


def _select(fmt, results):
    """``results[fmt]`` (a ``Mux`` chain, the first result for an index beyond the table)."""
    out = results[0]
    for index, result in enumerate(results[1:], start=1):
        out = Mux(fmt == index, result, out)
    return out


def _fp16_bits(sign, value_num, value_exp):
    """FP16 encoding of the exact value ``(-1)**sign * value_num * 2**value_exp`` (must be exact)."""
    if value_num == 0:
        return sign << 15
    lead = value_num.bit_length() - 1
    exp = lead + value_exp + FP16.bias              # biased exponent of the leading one
    if exp >= 1:
        mant = (value_num << FP16.man_bits >> lead) & ((1 << FP16.man_bits) - 1)
        assert value_num << FP16.man_bits >> lead << lead == value_num << FP16.man_bits
        return sign << 15 | exp << FP16.man_bits | mant
    scale = value_exp + FP16.bias - 1 + FP16.man_bits   # FP16 subnormal: mant * 2**(1-bias-man)
    assert scale >= 0
    return sign << 15 | value_num << scale


def _widen(x, fmt):
    """FP16 bits of the FP8 value ``x`` (a View of ``fp_layout(fmt)``): exact, NaN canonical."""
    exp_offset = FP16.bias - fmt.bias
    mant_shift = FP16.man_bits - fmt.man_bits
    normal = Cat(Const(0, mant_shift), x.mant, (x.exp + exp_offset)[:FP16.exp_bits])
    # Subnormals (exp = 0, including zero) by table: mant * 2**(1 - bias - man_bits), exact in FP16.
    subnormal = Array(Const(_fp16_bits(0, mant, 1 - fmt.bias - fmt.man_bits) & 0x7FFF, 15)
                      for mant in range(1 << fmt.man_bits))[x.mant]
    magnitude = Mux(x.exp == 0, subnormal, Mux(x.exp == fmt.exp_max, FP16.inf, normal))
    is_nan = (x.exp == fmt.exp_max) & (x.mant != 0)
    return Mux(is_nan, FP16.canonical_nan, Cat(magnitude, x.sign))


def _narrow(x, fmt):
    """FP8 bits (format ``fmt``) of the FP16 value ``x`` (a View of ``fp_layout(FP16)``).

    Round to nearest even, overflow to +-Inf, subnormal results, NaN canonical.
    """
    normal = x.exp != 0
    sig = Cat(x.mant, normal)                       # 11-bit significand
    eexp = x.exp | ~normal                          # max(exp, 1)
    exp_offset = FP16.bias - fmt.bias
    target_exp = eexp - exp_offset                  # biased target exponent before clamping
    base_shift = FP16.man_bits - fmt.man_bits
    # Any shift beyond _SIG16 + 1 gives 0 with a clear round bit, like _SIG16 + 1 itself.
    max_shift = _SIG16 + 1
    if 1 - exp_offset >= 1:
        # Every FP16 value is normal or subnormal in the same way in the target: fixed shift.
        shift = Const(base_shift)
        exp_part = target_exp - 1
    else:
        # Results below the target's smallest normal are denormalized by further right shifting.
        below = target_exp < 1
        extra = Mux(below, 1 - target_exp, 0)
        shift = Mux(base_shift + extra > max_shift, max_shift, base_shift + extra)[:max_shift.bit_length()]
        exp_part = Mux(below, 0, target_exp - 1)
    # Shift the significand right with the shifted-out bits kept below: round bit on top of them.
    shifted = (Cat(Const(0, max_shift), sig) >> shift)[:max_shift + _SIG16]
    kept = shifted[max_shift:]
    round_bit = shifted[max_shift - 1]
    sticky = shifted[:max_shift - 1] != 0
    round_up = round_bit & (sticky | kept[0])
    # The hidden bit of a normal result carries into the exponent field (subnormals keep 0).
    packed = (exp_part << fmt.man_bits) + kept + round_up
    magnitude = Mux(packed >= fmt.inf, fmt.inf, packed[:fmt.width - 1])
    is_nan = (x.exp == FP16.exp_max) & (x.mant != 0)
    return Mux(is_nan, fmt.canonical_nan, Cat(magnitude, x.sign))


class Fp8ToFp16(wiring.Component):
    """Widen a beat of FP8 lanes to FP16 lanes (combinational).

    The conversion is exact: every FP8 value, E4M3 subnormals included (they become normal FP16
    numbers), is representable in FP16; infinities are kept, any NaN becomes 0x7E00.

    Parameters
    ----------
    lanes : int
        Elements per beat (>= 1).
    formats : tuple of FpFormat
        The FP8 formats ``fmt`` selects from (default ``spec.formats.FP8_FORMATS``).

    Ports
    -----
    fmt : In(fp8_select_bits(formats))
        Index of the lanes' format in ``formats``.
    a : In(8 * lanes)
        FP8 lanes, lane ``i`` in bits ``8*i .. 8*i+7``.
    z : Out(16 * lanes)
        FP16 lanes, lane ``i`` in bits ``16*i .. 16*i+15``.
    """

    def __init__(self, lanes, *, formats=FP8_FORMATS):
        self.lanes = _check_lanes(lanes)
        self.formats = _check_formats(formats)
        super().__init__({
            "fmt": In(fp8_select_bits(self.formats)),
            "a": In(8 * lanes),
            "z": Out(16 * lanes),
        })

    def elaborate(self, platform):
        m = Module()
        for lane in range(self.lanes):
            x = self.a[8 * lane:8 * (lane + 1)]
            result = _select(self.fmt, [_widen(data.View(fp_layout(f), x), f) for f in self.formats])
            m.d.comb += self.z[16 * lane:16 * (lane + 1)].eq(result)
        return m


class Fp16ToFp8(wiring.Component):
    """Narrow a beat of FP16 lanes to FP8 lanes (combinational).

    Rounds to nearest even; results beyond the format's range become +-Inf (E5M2 57344 -> 61440
    and up, E4M3 248 and up), tiny values become subnormals or +-0, any NaN becomes the format's
    canonical NaN (E5M2 0x7E, E4M3 0x7C).

    Parameters
    ----------
    lanes : int
        Elements per beat (>= 1).
    formats : tuple of FpFormat
        The FP8 formats ``fmt`` selects from (default ``spec.formats.FP8_FORMATS``).

    Ports
    -----
    fmt : In(fp8_select_bits(formats))
        Index of the result's format in ``formats``.
    a : In(16 * lanes)
        FP16 lanes, lane ``i`` in bits ``16*i .. 16*i+15``.
    z : Out(8 * lanes)
        FP8 lanes, lane ``i`` in bits ``8*i .. 8*i+7``.
    """

    def __init__(self, lanes, *, formats=FP8_FORMATS):
        self.lanes = _check_lanes(lanes)
        self.formats = _check_formats(formats)
        super().__init__({
            "fmt": In(fp8_select_bits(self.formats)),
            "a": In(16 * lanes),
            "z": Out(8 * lanes),
        })

    def elaborate(self, platform):
        m = Module()
        for lane in range(self.lanes):
            x = data.View(fp_layout(FP16), self.a[16 * lane:16 * (lane + 1)])
            result = _select(self.fmt, [_narrow(x, f) for f in self.formats])
            m.d.comb += self.z[8 * lane:8 * (lane + 1)].eq(result)
        return m
