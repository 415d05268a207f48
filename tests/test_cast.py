"""FP8 <-> FP16 casts, exhaustively against the reference model (redmule_hdl.golden.cast), and with a
table of three FP8 formats against ml_dtypes."""
import ml_dtypes
import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.lib import data

from redmule_hdl.arith.cast import Fp8ToFp16, Fp16ToFp8
from redmule_hdl.interfaces import ElementFormat, element_format
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import E4M3, E5M2, FP8_FORMATS, FP16, FpFormat, fp8_select_bits

from .helpers import refused, run_testbench

FMT_E5M2, FMT_E4M3 = FP8_FORMATS.index(E5M2), FP8_FORMATS.index(E4M3)

LANES = 64


def pack(values, width):
    return sum(int(v) << (width * i) for i, v in enumerate(values))


def unpack(word, width, count):
    return [(word >> (width * i)) & ((1 << width) - 1) for i in range(count)]


def run_cast(dut, fmt, inputs, in_width, out_width):
    """Push ``inputs`` through the combinational converter ``dut``, dut.lanes at a time."""
    out = []

    async def testbench(ctx):
        ctx.set(dut.fmt, fmt)
        for start in range(0, len(inputs), dut.lanes):
            beat = inputs[start:start + dut.lanes]
            ctx.set(dut.a, pack(beat, in_width))
            out.extend(unpack(ctx.get(dut.z), out_width, len(beat)))

    run_testbench(dut, testbench, clocked=False)
    return np.array(out)


def assert_bits_equal(label, inputs, got, want):
    """Every converted pattern equals the expected one; else name the first wrong input."""
    bad = np.flatnonzero(got != want)
    if len(bad):
        i = bad[0]
        d_in, d_out = 2 + 2 * inputs.itemsize, 2 + 2 * want.itemsize
        raise AssertionError(f"{label}: {len(bad)} wrong, first: {inputs[i]:#0{d_in}x} -> got "
                             f"{int(got[i]):#0{d_out}x}, want {int(want[i]):#0{d_out}x}")


def test_select_constants():
    assert FP8_FORMATS[FMT_E5M2] is E5M2 and FP8_FORMATS[FMT_E4M3] is E4M3
    assert (FMT_E5M2, FMT_E4M3) == (0, 1)
    # The controller's ElementFormat.fp8 code is the casts' select, as wide as their port.
    assert element_format("e5m2")["fp8"] == FMT_E5M2 and element_format("e4m3")["fp8"] == FMT_E4M3
    assert Shape.cast(data.Layout.cast(ElementFormat)["fp8"].shape).width == fp8_select_bits(FP8_FORMATS) == 1


@pytest.mark.parametrize("fmt", (FMT_E5M2, FMT_E4M3), ids=("e5m2", "e4m3"))
def test_fp16_to_fp8_exhaustive(fmt):
    inputs = np.arange(1 << 16, dtype=np.uint16)
    got = run_cast(Fp16ToFp8(LANES), fmt, inputs, 16, 8)
    want = golden.cast(inputs, "fp16", FP8_FORMATS[fmt].name)
    assert_bits_equal(f"fp16 -> {FP8_FORMATS[fmt].name}", inputs, got, want)


@pytest.mark.parametrize("fmt", (FMT_E5M2, FMT_E4M3), ids=("e5m2", "e4m3"))
def test_fp8_to_fp16_exhaustive(fmt):
    inputs = np.arange(1 << 8, dtype=np.uint8)
    # Odd lane count: the last beat is partial.
    got = run_cast(Fp8ToFp16(LANES - 1), fmt, inputs, 8, 16)
    want = golden.cast(inputs, FP8_FORMATS[fmt].name, "fp16")
    assert_bits_equal(f"{FP8_FORMATS[fmt].name} -> fp16", inputs, got, want)


#: A third IEEE-like 8-bit format, for the test only: ml_dtypes' float8_e3m4 (bias 3, infinities at
#: exponent 7 with a zero mantissa, NaN otherwise; max 15.5). Canonical NaN: the quiet NaN 0x78.
E3M4 = FpFormat("e3m4", code=None, exp_bits=3, man_bits=4, canonical_nan=0x78)
THREE = (E5M2, E4M3, E3M4)
_ML = {E5M2: ml_dtypes.float8_e5m2, E4M3: ml_dtypes.float8_e4m3, E3M4: ml_dtypes.float8_e3m4}


def test_e3m4_is_ieee_like():
    # The format E3M4 describes is the one ml_dtypes implements.
    info = ml_dtypes.finfo(ml_dtypes.float8_e3m4)
    assert (info.nexp, info.nmant, float(info.max)) == (E3M4.exp_bits, E3M4.man_bits, 15.5)
    values = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e3m4).astype(np.float64)
    assert values[E3M4.inf] == np.inf and values[E3M4.inf | E3M4.sign_mask] == -np.inf
    assert values[E3M4.max_normal] == 15.5 and np.isnan(values[E3M4.canonical_nan])


def _ml_widen(bits, fmt):
    """FP16 bits of FP8 ``bits`` of ``fmt`` by ml_dtypes, NaN canonical."""
    v = bits.view(_ML[fmt])
    out = v.astype(np.float16).view(np.uint16)
    return np.where(np.isnan(v.astype(np.float32)), np.uint16(FP16.canonical_nan), out)


def _ml_narrow(bits, fmt):
    """FP8 bits of ``fmt`` of FP16 ``bits`` by ml_dtypes (RNE, overflow to +-Inf), NaN canonical."""
    v = bits.view(np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        out = v.astype(_ML[fmt]).view(np.uint8)
    return np.where(np.isnan(v), np.uint8(fmt.canonical_nan), out)


@pytest.mark.parametrize("index", range(len(THREE)), ids=[f.name for f in THREE])
def test_a_table_of_three_formats(index):
    """Casts built with a table of three FP8 formats: a 2-bit select, and every format of the table
    exact on all 256 FP8 and all 65536 FP16 inputs."""
    fmt = THREE[index]
    widen, narrow = Fp8ToFp16(LANES - 1, formats=THREE), Fp16ToFp8(LANES, formats=THREE)
    assert len(widen.fmt) == len(narrow.fmt) == 2
    fp8 = np.arange(1 << 8, dtype=np.uint8)
    got = run_cast(widen, index, fp8, 8, 16)
    assert_bits_equal(f"{fmt.name} -> fp16", fp8, got, _ml_widen(fp8, fmt))
    fp16 = np.arange(1 << 16, dtype=np.uint16)
    got = run_cast(narrow, index, fp16, 16, 8)
    assert_bits_equal(f"fp16 -> {fmt.name}", fp16, got, _ml_narrow(fp16, fmt))


def test_lanes_are_independent():
    # Every lane of a beat converts on its own: shuffled values, one lane each.
    rng = np.random.default_rng(1)
    inputs = rng.permutation(np.arange(1 << 16, dtype=np.uint16))[:4 * 3]
    got = run_cast(Fp16ToFp8(3), FMT_E4M3, inputs, 16, 8)
    assert (got == golden.cast(inputs, "fp16", "e4m3")).all()


@pytest.mark.parametrize("cls", (Fp8ToFp16, Fp16ToFp8))
@pytest.mark.parametrize("value, error", [(0, ValueError), (-4, ValueError), (True, TypeError),
                                          (2.0, TypeError), (None, TypeError)])
def test_lanes_validation(cls, value, error):
    with refused(error, "lanes must be an int >= 1"):
        cls(value)
