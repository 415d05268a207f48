"""FP8 <-> FP16 casts, exhaustively against the reference model (redmule_hdl.golden.cast)."""
import gc
import warnings

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from redmule_hdl.arith.cast import CAST_FORMATS, FMT_E4M3, FMT_E5M2, Fp8ToFp16, Fp16ToFp8
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import E4M3, E5M2

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

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(out)


def test_select_constants():
    assert CAST_FORMATS[FMT_E5M2] is E5M2 and CAST_FORMATS[FMT_E4M3] is E4M3
    assert (FMT_E5M2, FMT_E4M3) == (0, 1)


@pytest.mark.parametrize("fmt", (FMT_E5M2, FMT_E4M3), ids=("e5m2", "e4m3"))
def test_fp16_to_fp8_exhaustive(fmt):
    inputs = np.arange(1 << 16, dtype=np.uint16)
    got = run_cast(Fp16ToFp8(LANES), fmt, inputs, 16, 8)
    want = golden.cast(inputs, "fp16", CAST_FORMATS[fmt].name)
    bad = np.flatnonzero(got != want)
    assert not len(bad), (f"{len(bad)} wrong, first: {inputs[bad[0]]:#06x} -> got {got[bad[0]]:#04x}, "
                          f"want {want[bad[0]]:#04x}")


@pytest.mark.parametrize("fmt", (FMT_E5M2, FMT_E4M3), ids=("e5m2", "e4m3"))
def test_fp8_to_fp16_exhaustive(fmt):
    inputs = np.arange(1 << 8, dtype=np.uint8)
    # Odd lane count: the last beat is partial.
    got = run_cast(Fp8ToFp16(LANES - 1), fmt, inputs, 8, 16)
    want = golden.cast(inputs, CAST_FORMATS[fmt].name, "fp16")
    bad = np.flatnonzero(got != want)
    assert not len(bad), (f"{len(bad)} wrong, first: {inputs[bad[0]]:#04x} -> got {got[bad[0]]:#06x}, "
                          f"want {want[bad[0]]:#06x}")


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(error, match="lanes must be an int >= 1") as info:
            cls(value)
        del info
        gc.collect()
