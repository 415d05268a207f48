"""MinMax unit against the reference model (redmule_hdl.golden.minimum / maximum), bit for bit."""
import itertools

import numpy as np
import pytest
from amaranth.hdl import Cat

from redmule_hdl.arith.minmax import MinMax
from redmule_hdl.spec import golden
from redmule_hdl.spec.pipeline import MAX_PIPELINE

from .helpers import refused, run_testbench

SPECIALS = [
    0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400, 0x7BFF, 0xFBFF, 0x3C00, 0xBC00,
    0x3C01, 0xBC01, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFC01, 0x7FFF, 0xFFFF,
]
RANDOM_VECTORS = 6000


def simulate(pipeline, a, b, op, en=None, outputs=("z",)):
    """Vector i enters in the i-th enabled cycle; returns each vector's result once, in order (one
    array per name in ``outputs``, or the array alone for one name)."""
    dut = MinMax(pipeline=pipeline)
    assert dut.latency == pipeline
    ops = np.broadcast_to(np.asarray(op), (len(a),))
    words = [int(x) | int(y) << 16 | int(o) << 32 for x, y, o in zip(a, b, ops)]
    out = []
    result = Cat(*(getattr(dut, name) for name in outputs))

    async def testbench(ctx):
        port = Cat(dut.a, dut.b, dut.op)
        if pipeline == 0:
            for word in words:
                ctx.set(port, word)
                out.append(ctx.get(result))
            return
        enabled = cycle = 0
        while len(out) < len(words):
            run = 1 if en is None else int(en[cycle % len(en)])
            cycle += 1
            ctx.set(dut.en, run)
            if run:
                ctx.set(port, words[enabled] if enabled < len(words) else 0)
                if enabled >= pipeline:
                    out.append(ctx.get(result))
                enabled += 1
                await ctx.tick()
            else:
                before = ctx.get(result)
                ctx.set(port, (cycle * 0x9E3779B1) & ((1 << 33) - 1))    # junk, must be ignored
                await ctx.tick()
                assert ctx.get(result) == before, f"output moved in stalled cycle {cycle}"

    run_testbench(dut, testbench, clocked=bool(pipeline))
    arrays, shift = [], 0
    for name in outputs:
        width = len(getattr(dut, name))
        arrays.append(np.array([(v >> shift) & ((1 << width) - 1) for v in out], dtype=np.uint16))
        shift += width
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


def reference(a, b, op):
    return np.where(np.asarray(op) == MinMax.MAX, golden.maximum(a, b), golden.minimum(a, b))


def check(pipeline, a, b, op, en=None):
    a, b = np.asarray(a, dtype=np.uint16), np.asarray(b, dtype=np.uint16)
    got = simulate(pipeline, a, b, op, en)
    want = reference(a, b, op)
    bad = np.flatnonzero(got != want)
    assert not len(bad), (f"{len(bad)} of {len(want)} wrong, first: a={a[bad[0]]:#06x} b={b[bad[0]]:#06x}"
                          f" op={np.broadcast_to(op, a.shape)[bad[0]]}: got {got[bad[0]]:#06x}, "
                          f"want {want[bad[0]]:#06x}")
    return want


def test_op_constants():
    assert (MinMax.MIN, MinMax.MAX) == (0, 1)


@pytest.mark.parametrize("op", (MinMax.MIN, MinMax.MAX), ids=("min", "max"))
@pytest.mark.parametrize("pipeline", (0, 1, 3))
def test_specials_cross_product(pipeline, op):
    a, b = np.array(list(itertools.product(SPECIALS, repeat=2)), dtype=np.uint16).T
    check(pipeline, a, b, op)


@pytest.mark.parametrize("op", (MinMax.MIN, MinMax.MAX), ids=("min", "max"))
@pytest.mark.parametrize("pipeline", (0, 1, 3))
def test_random(pipeline, op):
    rng = np.random.default_rng(10 * pipeline + op)
    n = RANDOM_VECTORS
    a = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    b = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    # a third: equal magnitudes with random signs, close values, same exponent
    third = n // 3
    b[:third] = a[:third] ^ (rng.integers(0, 2, third) << 15).astype(np.uint16)
    b[third:2 * third] = (a[third:2 * third].astype(np.int64) + rng.integers(-2, 3, third)) & 0xFFFF
    check(pipeline, a, b, op)


def test_mixed_ops_and_stall():
    rng = np.random.default_rng(99)
    n = 2000
    a = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    b = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    op = rng.integers(0, 2, n)
    check(3, a, b, op, en=(rng.random(3 * n) < 0.6).astype(int))


def test_nan_rules():
    # one NaN: the other operand, bits unchanged; two NaNs: canonical NaN; -0 < +0
    a = [0x7C01, 0x3C00, 0xFE00, 0x7D00, 0x8000, 0x0000, 0x8000]
    b = [0x3C00, 0xFC01, 0x8000, 0xFE01, 0x0000, 0x8000, 0x8000]
    assert list(check(0, a, b, MinMax.MIN)) == [0x3C00, 0x3C00, 0x8000, 0x7E00, 0x8000, 0x8000, 0x8000]
    assert list(check(0, a, b, MinMax.MAX)) == [0x3C00, 0x3C00, 0x8000, 0x7E00, 0x0000, 0x0000, 0x8000]


@pytest.mark.parametrize("pipeline", (0, 2))
def test_take_a_is_the_choice_behind_z(pipeline):
    """take_a (the choice the computing element registers instead of the value): z is a when it is
    high, b when it is low; both NaN -> high (z is the canonical NaN); equal operands -> high
    (the docstring's "equal operands return a", which z alone cannot show)."""
    a, b = np.array(list(itertools.product(SPECIALS, repeat=2)), dtype=np.uint16).T
    for op in (MinMax.MIN, MinMax.MAX):
        z, take = simulate(pipeline, a, b, op, outputs=("z", "take_a"))
        both_nan = golden.is_nan(a) & golden.is_nan(b)
        assert (take[both_nan] == 1).all()
        assert (take[a == b] == 1).all(), op
        assert (np.where(take == 1, a, b)[~both_nan] == z[~both_nan]).all(), op
        assert (z == reference(a, b, op)).all()


@pytest.mark.parametrize("value, error", [
    (-1, ValueError), (MAX_PIPELINE + 1, ValueError), (True, TypeError), (2.0, TypeError), ("1", TypeError),
])
def test_pipeline_validation(value, error):
    with refused(error, "pipeline must be an int in 0..8"):
        MinMax(pipeline=value)
