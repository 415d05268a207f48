"""FMA unit against the bit-exact reference model (redmule_hdl.golden), bit pattern for bit pattern."""
import itertools

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Cat, Fragment

from redmule_hdl.arith.fma import FMA
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import FP16, FP16_ONE
from redmule_hdl.spec.ops import FmaMode
from redmule_hdl.spec.pipeline import (CUT_POINTS, FAST_CUT_POINTS, FPGA_SMALL_PLACEMENTS,
                                      MAX_PIPELINE, PLACEMENTS, register_placement)

from .helpers import refused, run_testbench

DEPTHS = (0, 1, 3)
MODES = (FmaMode.FMA, FmaMode.ADD, FmaMode.MUL)
# Random and targeted vectors per (pipeline depth, mode).
VECTORS_PER_RUN = 16000

SPECIALS = [
    0x0000, 0x8000,     # +-0
    0x0001, 0x8001,     # +-min subnormal
    0x0200,             # a mid subnormal
    0x03FF, 0x83FF,     # +-max subnormal
    0x0400, 0x8400,     # +-min normal
    0x7BFF, 0xFBFF,     # +-max normal (65504)
    0x3C00, 0xBC00,     # +-1
    0x3BFF, 0x3C01,     # 1 - ulp, 1 + ulp
    0x4000, 0xB800,     # 2, -0.5
    0x7C00, 0xFC00,     # +-Inf
    0x7E00, 0xFE00,     # quiet NaNs
    0x7C01, 0xFD55,     # signalling NaNs
]


def reference(mode, a, b, c):
    if mode == FmaMode.ADD:
        return golden.add(a, c)
    if mode == FmaMode.MUL:
        return golden.mul(a, b)
    return golden.fma(a, b, c)


def simulate(pipeline, a, b, c, mode, en=None, junk_seed=0, fast=False, fpga_arith=False):
    """Run vectors through an FMA; vector i enters in the i-th enabled cycle.

    ``mode`` is one FmaMode for all vectors or an array. ``en`` (optional) is the clock enable of
    every cycle; vectors are only offered in enabled cycles, disabled cycles get random junk on the
    inputs. Returns the result sampled for every vector (once, in order) and a count of the stalled
    cycles in which the output changed (must be 0). ``fast``: the fast datapath (``FMA(fast=True)``),
    ``fpga_arith``: its FPGA spelling.
    """
    dut = FMA(pipeline=pipeline, fast=fast, fpga_arith=fpga_arith)
    assert dut.latency == pipeline
    n = len(a)
    modes = np.broadcast_to(np.asarray(mode, dtype=np.int64), (n,))
    words = [int(x) | int(y) << 16 | int(z) << 32 | int(md) << 48
             for x, y, z, md in zip(a, b, c, modes)]
    junk = np.random.default_rng(junk_seed)
    out = []
    glitches = []

    async def testbench(ctx):
        port = Cat(dut.a, dut.b, dut.c, dut.mode)
        if pipeline == 0:
            for word in words:
                ctx.set(port, word)
                out.append(ctx.get(dut.z))
            return
        enabled = 0                 # enabled clock edges so far
        cycle = 0
        while len(out) < n:
            run = 1 if en is None else int(en[cycle % len(en)])
            cycle += 1
            ctx.set(dut.en, run)
            if run:
                ctx.set(port, words[enabled] if enabled < n else 0)
                if enabled >= pipeline:
                    out.append(ctx.get(dut.z))      # result of vector `enabled - pipeline`
                enabled += 1
            else:
                before = ctx.get(dut.z)
                ctx.set(port, int(junk.integers(0, 1 << 50)))
                after_junk = ctx.get(dut.z)
                await ctx.tick()
                if ctx.get(dut.z) != before or after_junk != before:
                    glitches.append(cycle)
                continue
            await ctx.tick()

    run_testbench(dut, testbench, clocked=bool(pipeline))
    return np.array(out, dtype=np.uint16), len(glitches)


def check(pipeline, mode, a, b, c, **kwargs):
    a, b, c = (np.asarray(x, dtype=np.uint16) for x in (a, b, c))
    got, glitches = simulate(pipeline, a, b, c, mode, **kwargs)
    want = reference(mode, a, b, c)
    assert len(got) == len(want)
    bad = np.flatnonzero(got != want)
    assert not len(bad), (f"{len(bad)} of {len(want)} wrong, first: a={a[bad[0]]:#06x} b={b[bad[0]]:#06x} "
                          f"c={c[bad[0]]:#06x} mode={FmaMode(mode).name}: got {got[bad[0]]:#06x}, "
                          f"want {want[bad[0]]:#06x}")
    assert glitches == 0
    return want


# ---- vector generators ------------------------------------------------------------------------------

def fp(rng, n, exp_lo, exp_hi, mant_bits=FP16.man_bits, sign=None):
    """Random FP16 patterns: exponent field in exp_lo..exp_hi, only the top mant_bits of the
    mantissa random (fewer bits give exact products and ties)."""
    exp = np.clip(rng.integers(exp_lo, exp_hi + 1, n), 0, FP16.exp_max - 1)
    s = rng.integers(0, 2, n) if sign is None else np.full(n, sign)
    mant = rng.integers(0, 1 << mant_bits, n) << (FP16.man_bits - mant_bits)
    return (s << 15 | exp << FP16.man_bits | mant).astype(np.uint16)


def exp_field(x):
    return (np.asarray(x).astype(np.int64) >> FP16.man_bits) & FP16.exp_max


def with_exp(x, exp):
    """x with its exponent field replaced (clipped to the finite range)."""
    exp = np.clip(exp, 0, FP16.exp_max - 1)
    return ((x.astype(np.int64) & ~(FP16.exp_max << FP16.man_bits)) | exp << FP16.man_bits).astype(np.uint16)


def nudge(rng, x, ulps):
    """Move the magnitude of x by up to +-ulps units in the last place (staying finite)."""
    mag = (x.astype(np.int64) & 0x7FFF) + rng.integers(-ulps, ulps + 1, len(x))
    return (np.clip(mag, 0, FP16.max_normal) | (x.astype(np.int64) & 0x8000)).astype(np.uint16)


def rand_bits(rng, n):
    return rng.integers(0, 1 << 16, n, dtype=np.uint16)


def vectors(mode, n, seed):
    """n random and targeted (a, b, c) vectors for one mode, a mix of several classes."""
    rng = np.random.default_rng(seed)
    k = n // 8                  # vectors per targeted class; uniformly random ones fill up to n
    parts = []
    if mode == FmaMode.FMA:
        # massive cancellation: c ~ -(a*b); short significands make half of the products exact
        short = rng.integers(0, 2, k) == 1
        a = np.where(short, fp(rng, k, 5, 25, mant_bits=4), fp(rng, k, 5, 25)).astype(np.uint16)
        b = np.where(short, fp(rng, k, 5, 25, mant_bits=5), fp(rng, k, 5, 25)).astype(np.uint16)
        c = nudge(rng, golden.mul(a, b) ^ 0x8000, 3)
        parts.append((a, b, c))
        # ties: short significands make exact products and sums on a coarse grid
        a, b = fp(rng, k, 8, 22, mant_bits=5), fp(rng, k, 8, 22, mant_bits=6)
        c = with_exp(fp(rng, k, 0, 0, mant_bits=3), exp_field(a) + exp_field(b) - 15
                     + rng.integers(-3, 4, k))
        parts.append((a, b, c))
        # subnormal results: tiny products plus subnormal or tiny addends
        a = fp(rng, k, 1, 20)
        b = with_exp(rand_bits(rng, k), rng.integers(-11, 2, k) - exp_field(a) + 15)
        c = np.where(rng.integers(0, 2, k) == 1, fp(rng, k, 0, 0), fp(rng, k, 1, 2)).astype(np.uint16)
        parts.append((a, b, c))
        # overflow boundary: products near 65504..65536 with small addends, or addends near max
        a = fp(rng, k, 15, 30)
        b = with_exp(rand_bits(rng, k), 30 - exp_field(a) + 15 + rng.integers(-1, 2, k))
        c = np.where(rng.integers(0, 2, k) == 1, fp(rng, k, 0, 20),
                     nudge(rng, np.full(k, FP16.max_normal, np.uint16) | (rng.integers(0, 2, k) << 15)
                           .astype(np.uint16), 4)).astype(np.uint16)
        parts.append((a, b, c))
        # max normal plus 0..40 (ulp 32 there): both sides of the 65520 tie, also negated
        grid = golden.from_float(np.arange(k) % 41)
        sign = (rng.integers(0, 2, k) << 15).astype(np.uint16)
        parts.append((np.full(k, FP16.max_normal, np.uint16) ^ sign, np.full(k, FP16_ONE, np.uint16),
                      grid ^ sign))
        # a product 2**10..2**10+3 window LSBs long (min subnormal times a normal) minus an addend a
        # few binades below: the result loses one bit and rounds two bits below the product LSB
        a = (rng.integers(1, 4, k) | rng.integers(0, 2, k) << 15).astype(np.uint16)
        b = (rng.integers(15, 31, k) << FP16.man_bits | rng.integers(0, 4, k)
             | rng.integers(0, 2, k) << 15).astype(np.uint16)
        product = golden.to_float(a).astype(np.float64) * golden.to_float(b).astype(np.float64)
        scale = 2.0 ** -rng.integers(1, 14, k) * (1 + rng.random(k))
        parts.append((a, b, golden.from_float(product * scale * np.where(rng.random(k) < 0.8, -1, 1))))
    elif mode == FmaMode.ADD:
        # b is ignored: feed garbage
        a = rand_bits(rng, k)
        parts.append((a, rand_bits(rng, k), nudge(rng, a ^ 0x8000, 4)))              # cancellation
        a = fp(rng, k, 1, 29)
        c = with_exp(fp(rng, k, 0, 0, mant_bits=3),
                     exp_field(a) - rng.integers(10, 14, k))                        # ties, sticky
        parts.append((a, rand_bits(rng, k), c))
        parts.append((fp(rng, k, 0, 1), rand_bits(rng, k), fp(rng, k, 0, 1)))     # subnormal
        parts.append((fp(rng, k, 29, 30), rand_bits(rng, k), fp(rng, k, 25, 30)))  # overflow
        grid = golden.from_float(np.arange(k) % 41)
        sign = (rng.integers(0, 2, k) << 15).astype(np.uint16)
        parts.append((np.full(k, FP16.max_normal, np.uint16) ^ sign, rand_bits(rng, k), grid ^ sign))
    else:
        # c is ignored: feed garbage
        parts.append((fp(rng, k, 1, 29, mant_bits=5), fp(rng, k, 1, 29, mant_bits=6),
                      rand_bits(rng, k)))                                           # ties
        a = fp(rng, k, 1, 20)
        b = with_exp(rand_bits(rng, k), rng.integers(-11, 2, k) - exp_field(a) + 15)
        parts.append((a, b, rand_bits(rng, k)))                                     # subnormal
        a = fp(rng, k, 15, 30)
        b = with_exp(rand_bits(rng, k), 30 - exp_field(a) + 15 + rng.integers(-1, 2, k))
        parts.append((a, b, rand_bits(rng, k)))                                     # overflow
        zero = (rng.integers(0, 2, k) << 15).astype(np.uint16)
        parts.append((zero, rand_bits(rng, k), rand_bits(rng, k)))                  # signed zeros
        a = fp(rng, k, 0, 0)
        parts.append((a, fp(rng, k, 10, 30), rand_bits(rng, k)))                   # subnormal inputs
    rest = n - sum(len(part[0]) for part in parts)
    parts.append((rand_bits(rng, rest), rand_bits(rng, rest), rand_bits(rng, rest)))
    a, b, c = (np.concatenate(x).astype(np.uint16) for x in zip(*parts))
    order = rng.permutation(len(a))
    return a[order], b[order], c[order]


def classes(mode, a, b, c):
    """How many results are subnormal, ties, overflows, exact zeros (sanity of the generators)."""
    want = reference(mode, a, b, c)
    x = golden.to_float(a).astype(np.float64)
    y = golden.to_float(b).astype(np.float64) if mode != FmaMode.ADD else 1.0
    z = golden.to_float(c).astype(np.float64) if mode != FmaMode.MUL else -0.0
    with np.errstate(all="ignore"):
        exact = x * y + z
        r = golden.to_float(want).astype(np.float64)
        other = np.where(r > exact, np.nextafter(r.astype(np.float16), np.float16(-np.inf)),
                         np.nextafter(r.astype(np.float16), np.float16(np.inf))).astype(np.float64)
        tie = np.isfinite(r) & (exact != r) & (np.abs(exact - r) == np.abs(exact - other))
    mag = want & 0x7FFF
    return dict(subnormal=int(((mag > 0) & (mag < 0x400)).sum()), tie=int(tie.sum()),
                overflow=int(((mag == 0x7C00) & np.isfinite(exact)).sum()),
                zero=int((mag == 0).sum()))


# ---- tests --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pipeline", DEPTHS)
def test_specials_cross_product(pipeline):
    a, b, c = np.array(list(itertools.product(SPECIALS, repeat=3)), dtype=np.uint16).T
    want = check(pipeline, FmaMode.FMA, a, b, c)
    assert len(want) == len(SPECIALS) ** 3


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("pipeline", DEPTHS)
def test_random_and_targeted(pipeline, mode):
    a, b, c = vectors(mode, VECTORS_PER_RUN, seed=100 * pipeline + mode)
    counts = classes(mode, a, b, c)
    # The generators must really reach the corner cases.
    assert min(counts.values()) >= VECTORS_PER_RUN // 100, counts
    check(pipeline, mode, a, b, c)


def test_exact_zero_signs():
    cases = [  # a, b, c, result
        (0x8000, 0x3C00, 0x8000, 0x8000),   # (-0)*(+1) + (-0) = -0
        (0x8000, 0xBC00, 0x8000, 0x0000),   # (-0)*(-1) + (-0) = +0
        (0x0000, 0xBC00, 0x0000, 0x0000),   # (+0)*(-1) + (+0) = +0
        (0x3E00, 0x4500, 0xC780, 0x0000),   # 1.5*5 + (-7.5) = +0
        (0xBE00, 0x4500, 0x4780, 0x0000),   # -1.5*5 + 7.5 = +0
        (0x0001, 0x0001, 0x8000, 0x0000),   # 2**-48 + (-0) rounds to +0 (sign of the exact result)
        (0x8001, 0x0001, 0x0000, 0x8000),   # -2**-48 + (+0) rounds to -0
    ]
    a, b, c, result = np.array(cases, dtype=np.uint16).T
    assert list(check(0, FmaMode.FMA, a, b, c)) == list(result)
    # MUL: a*b + (-0) keeps the product's zero sign; ADD: -0 + -0 = -0, x + (-x) = +0
    assert list(check(0, FmaMode.MUL, [0x8000, 0x0000], [0x3C00, 0x3C00], [0, 0])) == [0x8000, 0x0000]
    assert list(check(0, FmaMode.ADD, [0x8000, 0x3C00], [0, 0], [0x8000, 0xBC00])) == [0x8000, 0x0000]


def test_mixed_modes_and_unused_mode():
    # Mode changes every cycle in a pipeline; the unused code 3 behaves as FMA.
    rng = np.random.default_rng(7)
    n = 1500
    a, b, c = rand_bits(rng, n), rand_bits(rng, n), rand_bits(rng, n)
    modes = rng.integers(0, 4, n)
    got, _ = simulate(3, a, b, c, modes)
    want = np.where(modes == FmaMode.ADD, golden.add(a, c),
                    np.where(modes == FmaMode.MUL, golden.mul(a, b), golden.fma(a, b, c)))
    assert (got == want).all()


@pytest.mark.parametrize("pipeline", (1, 3, MAX_PIPELINE))
def test_stall(pipeline):
    # en randomly low: every result comes out exactly once and in order, stalled outputs hold.
    rng = np.random.default_rng(pipeline)
    n = 1000
    a, b, c = vectors(FmaMode.FMA, n, seed=pipeline)
    en = (rng.random(3 * n) < 0.6).astype(int)
    check(pipeline, FmaMode.FMA, a, b, c, en=en, junk_seed=pipeline)


@pytest.mark.parametrize("pipeline", range(MAX_PIPELINE + 1))
def test_latency_every_depth(pipeline):
    a, b, c = vectors(FmaMode.FMA, 300, seed=1000 + pipeline)
    check(pipeline, FmaMode.FMA, a, b, c)


def test_placement_follows_the_measured_table():
    assert len(CUT_POINTS) >= 7
    for pipeline in range(MAX_PIPELINE + 1):
        counts = register_placement(pipeline)
        assert sum(counts) == pipeline
        assert max(counts) <= (1 if pipeline <= len(CUT_POINTS) else 2)
        dut = FMA(pipeline)
        assert dut.placement == counts
        Fragment.get(dut, None)     # elaborates (and uses) it
    # By delay: the wide add is always isolated once there are 2 registers (tests/test_pipeline.py
    # re-measures the depths).
    assert register_placement(1) == (0, 0, 0, 1, 0, 0, 0)
    assert register_placement(3) == (0, 0, 1, 1, 0, 0, 1)
    assert register_placement(7) == (1,) * 7
    assert register_placement(8) == (1, 1, 1, 2, 1, 1, 1)


FPGA_ARITH = pytest.mark.parametrize("fpga_arith", [False, True], ids=["asic", "fpga_arith"])


@FPGA_ARITH
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("pipeline", (4,))
def test_fast_datapath_bit_exact(pipeline, mode, fpga_arith):
    # FMA(fast=True): the same function, a different datapath and cut points; random and targeted
    # vectors with the clock enable randomly low (results once, in order, held while stalled).
    # fpga_arith: the product as one multiply, the adds as carry chains split at "add_low".
    n = 2000
    a, b, c = vectors(mode, n, seed=500 + 10 * pipeline + mode + 7 * fpga_arith)
    en = (np.random.default_rng(pipeline).random(3 * n) < 0.7).astype(int)
    check(pipeline, mode, a, b, c, en=en, junk_seed=pipeline, fast=True, fpga_arith=fpga_arith)


@FPGA_ARITH
def test_fast_datapath_specials_and_every_depth(fpga_arith):
    addends = SPECIALS[::3]
    a, b, c = np.array(list(itertools.product(SPECIALS, SPECIALS, addends)), dtype=np.uint16).T
    check(MAX_PIPELINE, FmaMode.FMA, a, b, c, fast=True, fpga_arith=fpga_arith)
    for pipeline in range(MAX_PIPELINE + 1):
        dut = FMA(pipeline, fast=True, fpga_arith=fpga_arith)
        Fragment.get(dut, None)     # elaborates (and uses) it
        assert dut.latency == pipeline
        assert dut.placement == register_placement(pipeline, fast=True, fpga_arith=fpga_arith)
        assert len(dut.placement) == len(FAST_CUT_POINTS) and sum(dut.placement) == pipeline
    for pipeline in (0, 1, 2, 3, 5, 6, 7):
        a, b, c = vectors(FmaMode.FMA, 200, seed=2000 + pipeline + 7 * fpga_arith)
        check(pipeline, FmaMode.FMA, a, b, c, fast=True, fpga_arith=fpga_arith)


@pytest.mark.parametrize("name", ["fast", "fpga_arith"])
def test_datapath_flags_must_be_bools(name):
    with refused(TypeError, f"^{name} must be a bool"):
        FMA(3, **{name: 1})


def test_fpga_arith_maps_to_a_multiply_and_chains():
    # The FPGA spelling has no carry-save product and no prefix adders, and the default datapath
    # does not change with it at P = 4 (it already is `*` and `+`; only P = 2 moves, below).
    def text(**kwargs):
        return rtlil.convert(FMA(4, **kwargs), name="fma")
    fpga = text(fast=True, fpga_arith=True)
    asic = text(fast=True)
    assert "mul_csa0" in asic and "first_gp" in asic
    assert "mul_csa0" not in fpga and "first_gp" not in fpga and "$mul" in fpga
    assert "first_low_sum" in fpga and "first_high_sum" in fpga
    assert text(fpga_arith=True) == text()


@pytest.mark.parametrize("value, error", [
    (-1, ValueError), (MAX_PIPELINE + 1, ValueError), (100, ValueError),
    (True, TypeError), (False, TypeError), (1.0, TypeError), ("3", TypeError), (None, TypeError),
])
def test_pipeline_validation(value, error):
    with refused(error, r"pipeline must be an int in 0\.\.8.*cut points"):
        FMA(pipeline=value)
    with pytest.raises(error, match="pipeline"):
        register_placement(value)


#: The depths whose registers the FPGA build of the default datapath places elsewhere.
FPGA_MOVED = (2, 3)


@pytest.mark.parametrize("pipeline", FPGA_MOVED)
def test_fpga_build_of_the_default_datapath_moves_its_registers(pipeline):
    # FMA(fpga_arith=True) without fast: the same datapath, P = 2's and P = 3's registers elsewhere
    # (FPGA_SMALL_PLACEMENTS); every mode, results once, in order, with stalls; special values.
    placement = register_placement(pipeline, fpga_arith=True)
    assert placement == FPGA_SMALL_PLACEMENTS[pipeline] != PLACEMENTS[pipeline]
    unmoved = [p for p in range(MAX_PIPELINE + 1) if p not in FPGA_MOVED]
    assert all(FPGA_SMALL_PLACEMENTS[p] == PLACEMENTS[p] for p in unmoved)
    for mode in MODES:
        a, b, c = vectors(mode, 600, seed=75 + 10 * pipeline + mode)
        en = (np.random.default_rng(75 + pipeline).random(1800) < 0.7).astype(int)
        check(pipeline, mode, a, b, c, en=en, junk_seed=pipeline, fpga_arith=True)
    addends = SPECIALS[::3]
    a, b, c = np.array(list(itertools.product(SPECIALS, SPECIALS, addends)), dtype=np.uint16).T
    check(pipeline, FmaMode.FMA, a, b, c, fpga_arith=True)


@pytest.mark.parametrize("fast, fpga_arith", [(False, False), (True, False), (True, True)],
                         ids=["default", "fast", "fast-fpga_arith"])
def test_a_tiny_addend_decides_a_tie(fast, fpga_arith):
    # a*b exactly halfway between two FP16 values (1.5 * (1 + 2**-10), scaled), plus an addend so
    # small that it lands in the sticky field, its shift amount around the clamp at the window's
    # end: its sign alone decides which way the tie rounds.
    a = np.array([0x6401 - (k << 10) for k in range(7)], dtype=np.uint16)     # exponents 25..19
    c = np.array([0x0001, 0x8001, 0x0003, 0x8003, 0x0200, 0x8200, 0x0400, 0x8400], dtype=np.uint16)
    a, c = (x.ravel() for x in np.meshgrid(a, c))
    b = np.full_like(a, 0x3E00)
    for pipeline in (0, 4):
        check(pipeline, FmaMode.FMA, a, b, c, fast=fast, fpga_arith=fpga_arith)
