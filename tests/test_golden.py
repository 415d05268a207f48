"""Proof of the reference model (redmule_hdl.golden) against independent references.

- FP16 arithmetic (fma, add, mul) against Berkeley SoftFloat 3 (``softfloatpy``), bit for bit; NaNs by class,
  and golden's NaN must be the canonical 0x7E00.
- Casts, exhaustively, against ``ml_dtypes`` and against an exact rational model written here.
- minimum / maximum against hand-written expectations and a total-order model on bits.
- gemm_op against a plain per-element Python loop over SoftFloat steps.

Semantics: docs/architecture.md ("Overview").
"""
import time
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
import softfloatpy as sf

from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import E4M3, E5M2, FP16
from redmule_hdl.spec.ops import GemmOp

FP16_QNAN = 0x7E00

# Number of random FMA vectors per generator; the sum is >= 10**6 (see test_fma_vector_budget).
FMA_VECTORS = {
    "random": 600_000,
    "cancellation": 100_000,
    "ties": 100_000,
    "near_ties": 100_000,
    "subnormal": 100_000,
    "overflow": 100_000,
}
ADD_MUL_VECTORS = 200_000

# Special FP16 values: +-0, min/max subnormal, min/max normal, +-1, +-Inf, quiet and signalling NaNs
# (with either sign and a full payload).
SPECIALS = np.array([
    0x0000, 0x8000,    # +-0
    0x0001, 0x8001,    # +-min subnormal (2**-24)
    0x03FF, 0x83FF,    # +-max subnormal
    0x0400, 0x8400,    # +-min normal (2**-14)
    0x7BFF, 0xFBFF,    # +-max normal (65504)
    0x3C00, 0xBC00,    # +-1
    0x3BFF, 0x3C01,    # 1 - ulp/2, 1 + ulp
    0x7C00, 0xFC00,    # +-Inf
    0x7E00, 0xFE00,    # quiet NaN
    0x7C01, 0xFC01,    # signalling NaN
    0x7FFF, 0x7D55,    # quiet NaN with payload, signalling NaN with payload
], dtype=np.uint16)


# --------------------------------------------------------------------------------------------------------------
# SoftFloat helpers

@pytest.fixture(autouse=True)
def _softfloat_rne():
    """SoftFloat's rounding mode is global state: pin it to round-to-nearest-even for every test."""
    saved = sf.get_rounding_mode()
    sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)
    yield
    sf.set_rounding_mode(saved)


_TABLE = []


def _f16_objects():
    """All 65536 FP16 values as softfloatpy.Float16 objects, indexed by bit pattern (built once)."""
    if not _TABLE:
        _TABLE.extend(sf.Float16.from_bytes(i.to_bytes(2, "big")) for i in range(1 << 16))
    return _TABLE


def _bits(f):
    """Bit pattern of a softfloatpy.Float16 (to_bytes is big endian)."""
    return int.from_bytes(f.to_bytes(), "big")


def sf_fma(a, b, c):
    t = _f16_objects()
    f = sf.f16_mul_add
    out = b"".join([f(t[x], t[y], t[z]).to_bytes() for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())])
    return np.frombuffer(out, ">u2").astype(np.uint16)


def sf_binary(fn, a, b):
    t = _f16_objects()
    out = b"".join([fn(t[x], t[y]).to_bytes() for x, y in zip(a.tolist(), b.tolist())])
    return np.frombuffer(out, ">u2").astype(np.uint16)


def f16_is_nan(x):
    """NaN test on FP16 bits, written independently of golden.is_nan."""
    x = np.asarray(x, np.uint16)
    return ((x & 0x7C00) == 0x7C00) & ((x & 0x03FF) != 0)


def assert_matches_softfloat(got, ref, operands, what):
    """Every non-NaN bit for bit; NaN by class; golden's NaN canonical."""
    got = np.asarray(got, np.uint16)
    ref = np.asarray(ref, np.uint16)
    assert got.shape == ref.shape
    got_nan, ref_nan = f16_is_nan(got), f16_is_nan(ref)
    bad = (got_nan != ref_nan) | (~ref_nan & (got != ref)) | (got_nan & (got != FP16_QNAN))
    if bad.any():
        idx = np.flatnonzero(bad)
        lines = [f"{len(idx)} of {got.size} {what} vectors differ from SoftFloat, first ones:"]
        for i in idx[:12]:
            ops = ", ".join(f"0x{int(o[i]):04X}" for o in operands)
            lines.append(f"  ({ops}) -> golden 0x{int(got[i]):04X}, softfloat 0x{int(ref[i]):04X}")
        pytest.fail("\n".join(lines))


# --------------------------------------------------------------------------------------------------------------
# FP16 vector generators (bit patterns, uint16)

def _pack(sign, exp_field, man):
    return ((np.asarray(sign, np.uint32) << 15) | (np.asarray(exp_field, np.uint32) << 10)
            | np.asarray(man, np.uint32)).astype(np.uint16)


def _f64(bits):
    return np.asarray(bits, np.uint16).view(np.float16).astype(np.float64)


def gen_random(rng, n):
    return tuple(rng.integers(0, 1 << 16, n, dtype=np.uint32).astype(np.uint16) for _ in range(3))


def _product_pair(rng, n, pe_lo, pe_hi, subnormal_share=0.0):
    """a, b normal (or subnormal with the given share) with unbiased exponent sum in [pe_lo, pe_hi]."""
    pe = rng.integers(pe_lo, pe_hi + 1, n)
    ea = rng.integers(np.maximum(-14, pe - 15), np.minimum(15, pe + 14) + 1)
    eb = pe - ea
    a = _pack(rng.integers(0, 2, n), ea + 15, rng.integers(0, 1024, n))
    b = _pack(rng.integers(0, 2, n), eb + 15, rng.integers(0, 1024, n))
    if subnormal_share:
        sub = rng.random(n) < subnormal_share
        a = np.where(sub, _pack(rng.integers(0, 2, n), 0, rng.integers(1, 1024, n)), a)
    return a, b


def gen_cancellation(rng, n):
    """c = -(a*b) rounded to FP16, moved by a few ulps: massive cancellation in the adder."""
    a, b = _product_pair(rng, n, -14, 15)
    with np.errstate(over="ignore"):
        p16 = (-(_f64(a) * _f64(b))).astype(np.float16).view(np.uint16)
    mag = (p16 & 0x7FFF).astype(np.int64) + rng.integers(-4, 5, n)
    mag = np.clip(mag, 0, 0x7BFF)
    c = ((p16 & 0x8000) | mag).astype(np.uint16)
    return a, b, c


def gen_ties(rng, n):
    """t + a*b with a*b an odd multiple of half an ulp of t: the exact sum is (mostly) a rounding tie."""
    t = _pack(rng.integers(0, 2, n), 0, 0) | rng.integers(0, 0x7C00, n).astype(np.uint16)
    et = np.maximum((t >> 10) & 0x1F, 1).astype(np.int64)
    e_sum = et - 15 - 11        # exponent of half an ulp of t
    k = rng.choice(np.array([1, 3, 5, 7]), n)   # k * 2**e_sum, k odd
    ia = rng.integers(np.maximum(-14, e_sum + 14 - 28), np.minimum(13, e_sum + 14) + 1)
    ib = e_sum - ia
    # a = k * 2**ia: k has at most 3 bits, placed at the top of the mantissa.
    k_exp = np.floor(np.log2(k)).astype(np.int64)
    a_man = ((k << (10 - k_exp)) & 0x3FF).astype(np.int64)
    a = _pack(rng.integers(0, 2, n), ia + k_exp + 15, a_man)
    b = np.where(ib >= -14, _pack(rng.integers(0, 2, n), np.clip(ib + 15, 0, 30), 0),
                 _pack(rng.integers(0, 2, n), 0, 1 << np.clip(ib + 24, 0, 9)))
    return a, b, t


def gen_near_ties(rng, n):
    """t + a*b with a*b = half an ulp of t times (1 - 2**-20): just off a tie, by far less than a float32
    ulp of t. Computing the FMA in float32 and rounding again turns half of these into the wrong value."""
    t = _pack(rng.integers(0, 2, n), 0, 0) | rng.integers(0, 0x7C00, n).astype(np.uint16)
    e_sum = np.maximum((t >> 10) & 0x1F, 1).astype(np.int64) - 15 - 11
    # a = (1 + 2**-10) * 2**ia, b = (1 - 2**-10) * 2**(ib + 1) = 0x3BFE scaled: a*b = 2**e_sum * (1 - 2**-20)
    ia = rng.integers(np.maximum(-14, e_sum - 14), np.minimum(15, e_sum + 13) + 1)
    ib = e_sum - ia
    a = _pack(rng.integers(0, 2, n), ia + 15, 1)
    b = _pack(rng.integers(0, 2, n), ib - 1 + 15, 0x3FE)
    return a, b, t


def gen_subnormal(rng, n):
    """Products around 2**-27..2**-12 plus tiny addends: results in the subnormal range."""
    a, b = _product_pair(rng, n, -27, -12, subnormal_share=0.1)
    kind = rng.integers(0, 4, n)
    sign = rng.integers(0, 2, n)
    p16 = (-(_f64(a) * _f64(b))).astype(np.float16).view(np.uint16)
    near = (p16 & 0x8000) | np.clip((p16 & 0x7FFF).astype(np.int64) + rng.integers(-3, 4, n), 0, 0x7BFF)
    c = np.select([kind == 0, kind == 1, kind == 2],
                  [_pack(sign, 0, rng.integers(0, 1024, n)),                        # subnormal or zero
                   _pack(sign, rng.integers(1, 3, n), rng.integers(0, 1024, n)),   # small normal
                   _pack(sign, 0, 0)],                                               # signed zero
                  near)                                                              # ~ -(a*b)
    return a, b, c.astype(np.uint16)


def gen_overflow(rng, n):
    """Sums around the overflow threshold 65520 (and 65504, the largest normal)."""
    a, b = _product_pair(rng, n, 14, 16)
    sign = rng.integers(0, 2, n)
    kind = rng.integers(0, 3, n)
    p = _f64(a) * _f64(b)
    with np.errstate(over="ignore", invalid="ignore"):
        rest = np.where(p > 0, 65504.0 - p, -65504.0 - p)      # c that lands the sum on +-65504
        rest16 = rest.astype(np.float16).view(np.uint16)
    near = (rest16.astype(np.int64) + rng.integers(-8, 9, n)) & 0xFFFF
    near = np.where(f16_is_nan(near.astype(np.uint16)) | (np.abs(rest) > 65504), 0x7BFF, near)
    c = np.select([kind == 0, kind == 1],
                  [_pack(sign, rng.integers(25, 31, n), rng.integers(0, 1024, n)), near],
                  _pack(sign, 30, rng.integers(0x3E0, 0x400, n)))
    return a, b, c.astype(np.uint16)


GENERATORS = {
    "random": gen_random,
    "cancellation": gen_cancellation,
    "ties": gen_ties,
    "near_ties": gen_near_ties,
    "subnormal": gen_subnormal,
    "overflow": gen_overflow,
}


def _midpoint_share(a, b, c):
    """Share of triples whose exact a*b + c lies exactly halfway between two FP16 values (below 65520)."""
    with np.errstate(invalid="ignore", over="ignore"):
        s = _f64(a) * _f64(b) + _f64(c)   # exact for the tie generator: few significant bits
    _, e = np.frexp(np.abs(s))
    h = np.ldexp(1.0, np.maximum(e - 1, -14) - 11)   # half an ulp of FP16 at |s|
    q = np.abs(s) / h
    with np.errstate(invalid="ignore"):
        tie = (s != 0) & (np.abs(s) < 65520) & (q == np.floor(q)) & (np.mod(q, 2) == 1)
    return tie.mean()


# --------------------------------------------------------------------------------------------------------------
# (a) FP16 arithmetic against SoftFloat

def test_fma_vector_budget():
    assert sum(FMA_VECTORS.values()) >= 10 ** 6


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_fma_vs_softfloat(kind):
    rng = np.random.default_rng(0xF3A + list(GENERATORS).index(kind))
    a, b, c = GENERATORS[kind](rng, FMA_VECTORS[kind])
    got = golden.fma(a, b, c)
    ref = sf_fma(a, b, c)
    assert_matches_softfloat(got, ref, (a, b, c), f"fma/{kind}")
    # The aimed generators must really hit what they aim at.
    nan = f16_is_nan(ref)
    if kind == "cancellation":
        # At least a third of the results lose >= 8 bits relative to the product (or are exactly zero).
        p = np.abs(_f64(a) * _f64(b))
        r = np.abs(_f64(ref))
        assert np.mean(r <= p / 256) > 0.3
    elif kind == "ties":
        assert _midpoint_share(a, b, c) > 0.5
    elif kind == "near_ties":
        # The classic trap: float32 FMA + second rounding is wrong on many of these.
        with np.errstate(over="ignore", invalid="ignore"):
            f32 = _f64(a).astype(np.float32) * _f64(b).astype(np.float32) + _f64(c).astype(np.float32)
            f32 = f32.astype(np.float16).view(np.uint16)
        assert np.mean(f32 != ref) > 0.2
    elif kind == "subnormal":
        assert np.mean(((ref & 0x7C00) == 0) & ((ref & 0x3FF) != 0)) > 0.3
    elif kind == "overflow":
        mag = ref & 0x7FFF
        assert np.mean(mag == 0x7C00) > 0.05          # overflowed to Inf
        assert np.mean(mag >= 0x7B00) > 0.05          # finite results in the top binade
        assert np.count_nonzero(mag == 0x7BFF) > 100  # exactly the largest normal
    else:
        assert not nan.all()


def test_fma_random_is_fast():
    """Budget of the big check: 10**6 SoftFloat FMA calls stay well below a minute on this machine."""
    rng = np.random.default_rng(7)
    a, b, c = gen_random(rng, 100_000)
    t0 = time.perf_counter()
    sf_fma(a, b, c)
    golden.fma(a, b, c)
    per_million = (time.perf_counter() - t0) * 10
    assert per_million < 60, f"{per_million:.1f} s per 10**6 FMA vectors"


def _cross(*arrays):
    grids = np.meshgrid(*arrays, indexing="ij")
    return tuple(g.ravel() for g in grids)


def test_fma_specials_cross_product():
    a, b, c = _cross(SPECIALS, SPECIALS, SPECIALS)
    assert a.size == len(SPECIALS) ** 3
    assert_matches_softfloat(golden.fma(a, b, c), sf_fma(a, b, c), (a, b, c), "fma/specials")


def test_fma_hand_picked():
    cases = [
        (0x7C00, 0x0000, 0x3C00, FP16_QNAN),    # Inf * 0 -> NaN
        (0x7C00, 0x3C00, 0xFC00, FP16_QNAN),    # Inf - Inf -> NaN
        (0x7C01, 0x3C00, 0x0000, FP16_QNAN),    # sNaN -> canonical qNaN
        (0x8000, 0x3C00, 0x8000, 0x8000),       # -0 + -0 = -0
        (0x8000, 0x3C00, 0x0000, 0x0000),       # -0 + +0 = +0 (RNE)
        (0x3C00, 0x3C00, 0xBC00, 0x0000),       # exact cancellation gives +0
        (0x8001, 0x0001, 0x0000, 0x8000),       # -2**-48 rounds to -0
        (0x7BFF, 0x3C00, 0x5000, 0x7C00),       # 65504 + 32 = 65536 -> Inf
        (0x7BFF, 0x3C00, 0x4BFF, 0x7BFF),       # 65504 + 15.99 stays 65504
        (0x3C00, 0x3C00, 0x1000, 0x3C00),       # 1 + 2**-11 (tie) -> 1 (even)
        (0x3C01, 0x3C00, 0x1000, 0x3C02),       # (1+ulp) + 2**-11 (tie) -> 1+2ulp (even)
    ]
    a, b, c, want = (np.array(col, np.uint16) for col in zip(*cases))
    np.testing.assert_array_equal(golden.fma(a, b, c), want)
    assert_matches_softfloat(golden.fma(a, b, c), sf_fma(a, b, c), (a, b, c), "fma/hand")


def _add_mul_vectors(rng):
    a, b = (rng.integers(0, 1 << 16, ADD_MUL_VECTORS, dtype=np.uint32).astype(np.uint16) for _ in range(2))
    # Add cancellation and near-overflow operands for add, underflowing products for mul.
    m = ADD_MUL_VECTORS // 4
    close = ((a[:m] ^ 0x8000).astype(np.int64) + rng.integers(-3, 4, m)) & 0xFFFF
    b[:m] = np.where((close & 0x7C00) == 0x7C00, a[:m] ^ 0x8000, close)
    sa, sb = _cross(SPECIALS, SPECIALS)
    return np.concatenate([a, sa]), np.concatenate([b, sb])


def test_add_vs_softfloat():
    a, b = _add_mul_vectors(np.random.default_rng(11))
    assert_matches_softfloat(golden.add(a, b), sf_binary(sf.f16_add, a, b), (a, b), "add")


def test_mul_vs_softfloat():
    rng = np.random.default_rng(12)
    a, b = _add_mul_vectors(rng)
    sa, sb = _product_pair(rng, 50_000, -28, -20, subnormal_share=0.2)   # products that underflow
    a, b = np.concatenate([a, sa]), np.concatenate([b, sb])
    assert_matches_softfloat(golden.mul(a, b), sf_binary(sf.f16_mul, a, b), (a, b), "mul")


def test_mul_sign_of_zero():
    # MUL is an FMA with the addend -0: a -0 product stays -0, a +0 product stays +0.
    a = np.array([0x8000, 0x0000, 0x8001, 0x0001], np.uint16)
    b = np.array([0x3C00, 0x3C00, 0x0001, 0x0001], np.uint16)
    np.testing.assert_array_equal(golden.mul(a, b), [0x8000, 0x0000, 0x8000, 0x0000])


def test_arith_rejects_non_bit_patterns():
    with pytest.raises(ValueError):
        golden.fma(np.array([1.0]), np.array([1], np.uint16), np.array([1], np.uint16))
    with pytest.raises(ValueError):
        golden.add(np.array([-1]), np.array([1]))
    with pytest.raises(ValueError):
        golden.mul(np.array([0x10000]), np.array([1]))


# --------------------------------------------------------------------------------------------------------------
# Exact rational model of the formats (independent of numpy, ml_dtypes and golden)

def decode(bits, f):
    """("num", sign, magnitude as Fraction) or ("inf", sign, None) or ("nan", sign, None)."""
    bits = int(bits)
    sign = -1 if (bits >> (f.width - 1)) & 1 else 1
    e = (bits >> f.man_bits) & f.exp_max
    m = bits & ((1 << f.man_bits) - 1)
    if e == f.exp_max:
        return ("nan" if m else "inf", sign, None)
    if e == 0:
        mag = Fraction(m, 1 << f.man_bits) * Fraction(2) ** (1 - f.bias)
    else:
        mag = (1 + Fraction(m, 1 << f.man_bits)) * Fraction(2) ** (e - f.bias)
    return ("num", sign, mag)


def _floor_log2(x):
    """floor(log2(x)) for a positive Fraction."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e if Fraction(2) ** e <= x else e - 1


def encode(kind, sign, mag, f):
    """Round to format f: RNE, overflow to +-Inf, NaN canonical."""
    s = 1 << (f.width - 1) if sign < 0 else 0
    if kind == "nan":
        return f.canonical_nan
    if kind == "inf":
        return s | f.inf
    if mag == 0:
        return s
    e = max(_floor_log2(mag), 1 - f.bias)
    n = round(mag / Fraction(2) ** (e - f.man_bits))     # Fraction.__round__ is ties-to-even
    if n == 1 << (f.man_bits + 1):
        e, n = e + 1, n >> 1
    if e > f.bias:                                      # above the largest binade
        return s | f.inf
    if n < 1 << f.man_bits:                            # subnormal (e == 1 - bias)
        return s | n
    return s | ((e + f.bias) << f.man_bits) | (n - (1 << f.man_bits))


def model_cast(bits, src, dst):
    return encode(*decode(bits, src), dst)


def test_rational_model_self_check():
    # The model itself, on values whose encodings are known.
    assert decode(0x3C00, FP16) == ("num", 1, Fraction(1))
    assert decode(0x0001, FP16) == ("num", 1, Fraction(1, 1 << 24))
    assert decode(0x7BFF, FP16) == ("num", 1, Fraction(65504))
    assert decode(0x77, E4M3) == ("num", 1, Fraction(240))
    assert decode(0x7B, E5M2) == ("num", 1, Fraction(57344))
    assert encode("num", 1, Fraction(65520), FP16) == 0x7C00
    assert encode("num", -1, Fraction(65519), FP16) == 0xFBFF
    assert encode("num", 1, Fraction(1, 1 << 25), FP16) == 0x0000   # tie between 0 and min subnormal
    assert encode("num", 1, Fraction(3, 1 << 26), FP16) == 0x0001
    for bits in range(0, 0x7C00, 97):
        assert model_cast(bits, FP16, FP16) == bits


# --------------------------------------------------------------------------------------------------------------
# (b) casts

ALL_FP16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
ALL_FP8 = np.arange(256, dtype=np.uint16).astype(np.uint8)
ML = {"e5m2": ml_dtypes.float8_e5m2, "e4m3": ml_dtypes.float8_e4m3}


@pytest.mark.parametrize("fmt", [E5M2, E4M3], ids=lambda f: f.name)
def test_cast_fp16_to_fp8_exhaustive(fmt):
    got = golden.cast(ALL_FP16, "fp16", fmt.name)
    assert got.dtype == np.uint8 and got.shape == (1 << 16,)
    with np.errstate(invalid="ignore"):
        ref_ml = ALL_FP16.view(np.float16).astype(ML[fmt.name]).view(np.uint8)
    nan = f16_is_nan(ALL_FP16)
    assert np.count_nonzero(nan) == 2 * 1023
    np.testing.assert_array_equal(got[~nan], ref_ml[~nan])
    assert (got[nan] == fmt.canonical_nan).all()
    model = np.array([model_cast(b, FP16, fmt) for b in ALL_FP16.tolist()], np.uint8)
    np.testing.assert_array_equal(got, model)


@pytest.mark.parametrize("fmt", [E5M2, E4M3], ids=lambda f: f.name)
def test_cast_fp8_to_fp16_exhaustive(fmt):
    got = golden.cast(ALL_FP8, fmt.name, "fp16")
    assert got.dtype == np.uint16
    ref_ml = ALL_FP8.view(ML[fmt.name]).astype(np.float16).view(np.uint16)
    nan = golden.is_nan(ALL_FP8, fmt.name)
    assert np.count_nonzero(nan) == 2 * ((1 << fmt.man_bits) - 1)
    np.testing.assert_array_equal(got[~nan], ref_ml[~nan])
    assert (got[nan] == FP16_QNAN).all()
    model = np.array([model_cast(b, fmt, FP16) for b in ALL_FP8.tolist()], np.uint16)
    np.testing.assert_array_equal(got, model)
    # Widening is exact: narrowing back gives the same bits (NaNs canonical).
    back = golden.cast(got, "fp16", fmt.name)
    np.testing.assert_array_equal(back, np.where(nan, fmt.canonical_nan, ALL_FP8))


@pytest.mark.parametrize("src,dst", [(E5M2, E4M3), (E4M3, E5M2)], ids=["e5m2-e4m3", "e4m3-e5m2"])
def test_cast_fp8_to_fp8_exhaustive(src, dst):
    got = golden.cast(ALL_FP8, src.name, dst.name)
    model = np.array([model_cast(b, src, dst) for b in ALL_FP8.tolist()], np.uint8)
    np.testing.assert_array_equal(got, model)


def test_cast_fp16_to_fp16_canonicalizes_nan_only():
    got = golden.cast(ALL_FP16, "fp16", "fp16")
    nan = f16_is_nan(ALL_FP16)
    np.testing.assert_array_equal(got, np.where(nan, FP16_QNAN, ALL_FP16))


def _to8(values, fmt):
    return golden.cast(np.array(values, np.float16).view(np.uint16), "fp16", fmt).tolist()


def test_cast_hand_picked():
    # E4M3 (IEEE-like, bias 7): max 240 = 0x77, 0x78 is +Inf, 0x79..0x7F NaN; min subnormal 2**-9 = 0x01.
    vals = golden.to_float(np.array([0x77, 0x78, 0xF8, 0x01], np.uint8), "e4m3")
    assert [float(v) for v in vals] == [240.0, float("inf"), float("-inf"), 2.0 ** -9]
    assert golden.cast(np.array([0x77, 0x78, 0x79], np.uint8), "e4m3", "fp16").tolist() == \
        [0x5B80, 0x7C00, 0x7E00]
    assert _to8([240, 247.875, 248, 256, 65504, -248], "e4m3") == [0x77, 0x77, 0x78, 0x78, 0x78, 0xF8]
    # 248 is the midpoint of 240 (odd mantissa 111) and the would-be 256 (even): ties to even = Inf.
    assert _to8([2.0 ** -9, 2.0 ** -10, 1.5 * 2.0 ** -10, 2.0 ** -11], "e4m3") == [0x01, 0x00, 0x01, 0x00]
    # E5M2 (bias 15): max 57344 = 0x7B; the midpoint 61440 to the would-be 65536 ties to even = Inf;
    # 61408 (the largest FP16 below it) -> 57344; 65504 -> Inf (RNE, no saturation).
    assert _to8([57344, 61408, 61440, 65504, -65504], "e5m2") == [0x7B, 0x7B, 0x7C, 0x7C, 0xFC]
    assert _to8([2.0 ** -16, 2.0 ** -17, 3 * 2.0 ** -18], "e5m2") == [0x01, 0x00, 0x01]
    # Canonical NaNs, whatever the sign and payload.
    assert golden.cast(np.array([0x7E00, 0xFC01, 0x7FFF], np.uint16), "fp16", "e5m2").tolist() == [0x7E] * 3
    assert golden.cast(np.array([0x7E00, 0xFC01, 0x7FFF], np.uint16), "fp16", "e4m3").tolist() == [0x7C] * 3
    assert golden.cast(np.array([0x7D, 0xFF, 0x7E], np.uint8), "e5m2", "fp16").tolist() == [0x7E00] * 3
    assert golden.cast(np.array([0x79, 0xFF], np.uint8), "e4m3", "fp16").tolist() == [0x7E00] * 2
    # Signed zeros survive both ways.
    assert golden.cast(np.array([0x8000, 0x0000], np.uint16), "fp16", "e4m3").tolist() == [0x80, 0x00]
    assert golden.cast(np.array([0x80, 0x00], np.uint8), "e5m2", "fp16").tolist() == [0x8000, 0x0000]


def _model_from_float(v, f):
    if np.isnan(v):
        return f.canonical_nan
    if np.isinf(v):
        return encode("inf", -1 if v < 0 else 1, None, f)
    return encode("num", -1 if np.signbit(v) else 1, abs(Fraction(float(v))), f)


@pytest.mark.parametrize("fmt", [FP16, E5M2, E4M3], ids=lambda f: f.name)
def test_from_float_rounds_once(fmt):
    """float64 -> format with one RNE rounding, also next to midpoints (where float32 as a stepping stone
    double-rounds) and beyond the largest finite value."""
    rng = np.random.default_rng(fmt.code + 40)
    # Positive finite values in increasing order (bit order), exactly as float64.
    mags = np.array([float(decode(b, fmt)[2]) for b in range(fmt.inf)])
    mids = (mags[:-1] + mags[1:]) / 2                       # exact: one bit more than the format
    top = mags[-1] + (mags[-1] - mags[-2]) / 2              # the overflow threshold
    if len(mids) > 1500:                                    # FP16: a sample of its 31k midpoints
        mids = rng.choice(mids, 1500, replace=False)
    mids = np.append(mids, top)
    eps = np.array([0.0, 2.0 ** -30, -2.0 ** -30, 2.0 ** -45, -2.0 ** -45])
    near = (mids[:, None] * (1 + eps[None, :])).ravel()
    rand = np.ldexp(rng.random(3000) + 0.5, rng.integers(-30, 20, 3000))
    values = np.concatenate([near, rand, [0.0, np.inf, np.nan, 1e300, 1e-300]])
    values = np.concatenate([values, -values])
    got = golden.from_float(values, fmt.name).tolist()
    want = [_model_from_float(v, fmt) for v in values.tolist()]
    assert got == want


def test_cast_rejects_bad_input():
    with pytest.raises(ValueError):
        golden.cast(np.array([256]), "e5m2", "fp16")
    with pytest.raises(ValueError):
        golden.cast(np.array([-1]), "fp16", "e5m2")
    with pytest.raises(ValueError):
        golden.cast(np.array([1.0]), "fp16", "e5m2")
    with pytest.raises(ValueError):
        golden.cast(np.array([1], np.uint16), "fp16", "fp32")
    with pytest.raises(ValueError):
        golden.cast(np.array([1], np.uint16), "bf16", "fp16")


# --------------------------------------------------------------------------------------------------------------
# (c) minimum / maximum

POS0, NEG0, ONE, MONE, TWO, MTWO = 0x0000, 0x8000, 0x3C00, 0xBC00, 0x4000, 0xC000
PINF, NINF, QNAN, SNAN = 0x7C00, 0xFC00, 0x7E00, 0x7C01

MINMAX_CASES = [
    # a, b, min, max
    (NEG0, POS0, NEG0, POS0),       # -0 < +0
    (POS0, NEG0, NEG0, POS0),
    (POS0, POS0, POS0, POS0),
    (NEG0, NEG0, NEG0, NEG0),
    (ONE, TWO, ONE, TWO),
    (MONE, MTWO, MTWO, MONE),
    (MONE, POS0, MONE, POS0),
    (0x0001, 0x0000, 0x0000, 0x0001),     # min subnormal vs zero
    (0x8001, 0x0001, 0x8001, 0x0001),
    (0x8001, NEG0, 0x8001, NEG0),
    (0x7BFF, PINF, 0x7BFF, PINF),
    (NINF, 0xFBFF, NINF, 0xFBFF),
    (NINF, PINF, NINF, PINF),
    (ONE, QNAN, ONE, ONE),          # one NaN returns the other
    (QNAN, ONE, ONE, ONE),
    (NINF, 0xFE00, NINF, NINF),
    (SNAN, MTWO, MTWO, MTWO),       # also for signalling NaNs (this design never signals)
    (NEG0, 0x7FFF, NEG0, NEG0),
    (QNAN, QNAN, QNAN, QNAN),       # two NaNs: canonical
    (0xFE00, 0x7C01, QNAN, QNAN),
    (0x7FFF, 0xFFFF, QNAN, QNAN),
]


@pytest.mark.parametrize("a,b,lo,hi", MINMAX_CASES, ids=[f"{c[0]:04x}-{c[1]:04x}" for c in MINMAX_CASES])
def test_minmax_hand_written(a, b, lo, hi):
    av, bv = np.array([a], np.uint16), np.array([b], np.uint16)
    assert int(golden.minimum(av, bv)[0]) == lo
    assert int(golden.maximum(av, bv)[0]) == hi


def test_minmax_total_order_model():
    """All 65536 values against 40 partners, vs a total order on bits: key(x) is monotonic in value
    for non-NaNs (with -0 < +0), NaN loses to any number, two NaNs give 0x7E00."""
    rng = np.random.default_rng(5)
    partners = np.concatenate([SPECIALS, rng.integers(0, 1 << 16, 40 - len(SPECIALS)).astype(np.uint16)])
    a, b = _cross(ALL_FP16, partners)

    def key(x):
        x = x.astype(np.int64)
        return np.where(x & 0x8000, 0x7FFF - (x & 0x7FFF), 0x8000 + x)

    an, bn = f16_is_nan(a), f16_is_nan(b)
    for fn, want_max in ((golden.minimum, False), (golden.maximum, True)):
        pick_a = (key(a) > key(b)) if want_max else (key(a) < key(b))
        want = np.where(pick_a | (a == b), a, b)
        want = np.where(an, b, np.where(bn, a, want))
        want = np.where(an & bn, QNAN, want).astype(np.uint16)
        got = fn(a, b)
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, want)


def test_minmax_broadcasts():
    a = np.array([[ONE], [MTWO]], np.uint16)
    b = np.array([NEG0, TWO, QNAN], np.uint16)
    np.testing.assert_array_equal(golden.maximum(a, b), [[ONE, TWO, ONE], [NEG0, TWO, MTWO]])
    np.testing.assert_array_equal(golden.minimum(a, b), [[NEG0, ONE, ONE], [MTWO, MTWO, MTWO]])


# --------------------------------------------------------------------------------------------------------------
# (d) gemm_op against a per-element loop over SoftFloat steps

def _canon(bits):
    return FP16_QNAN if (bits & 0x7C00) == 0x7C00 and bits & 0x3FF else bits


def _order_key(x):
    return 0x7FFF - (x & 0x7FFF) if x & 0x8000 else 0x8000 + x


def ref_min(a, b):
    """minNum on bits, by hand: -0 < +0, a NaN loses, two NaNs are the canonical NaN."""
    an, bn = _canon(a) == FP16_QNAN, _canon(b) == FP16_QNAN
    if an and bn:
        return FP16_QNAN
    if an or bn:
        return b if an else a
    return a if _order_key(a) <= _order_key(b) else b


def ref_max(a, b):
    an, bn = _canon(a) == FP16_QNAN, _canon(b) == FP16_QNAN
    if an and bn:
        return FP16_QNAN
    if an or bn:
        return b if an else a
    return a if _order_key(a) >= _order_key(b) else b


def _sf(fn, *xs):
    t = _f16_objects()
    return _canon(_bits(fn(*(t[x] for x in xs))))


REF_STEPS = {
    GemmOp.MATMUL: lambda x, w, acc: _sf(sf.f16_mul_add, x, w, acc),
    GemmOp.GEMM: lambda x, w, acc: _sf(sf.f16_mul_add, x, w, acc),
    GemmOp.ADDMAX: lambda x, w, acc: ref_max(_sf(sf.f16_add, x, w), acc),
    GemmOp.ADDMIN: lambda x, w, acc: ref_min(_sf(sf.f16_add, x, w), acc),
    GemmOp.MULMAX: lambda x, w, acc: ref_max(_sf(sf.f16_mul, x, w), acc),
    GemmOp.MULMIN: lambda x, w, acc: ref_min(_sf(sf.f16_mul, x, w), acc),
    GemmOp.MAXMIN: lambda x, w, acc: ref_min(ref_max(x, w), acc),
    GemmOp.MINMAX: lambda x, w, acc: ref_max(ref_min(x, w), acc),
}


def ref_gemm_op(op, x, w, y, fin, fout):
    """Z[m,k] = fold over n in order, one element at a time."""
    M, N = x.shape
    K = w.shape[1]
    z = np.zeros((M, K), np.uint8 if fout.width == 8 else np.uint16)
    for m in range(M):
        for k in range(K):
            acc = 0 if op is GemmOp.MATMUL else model_cast(y[m, k], fout, FP16)
            for n in range(N):
                acc = REF_STEPS[op](model_cast(x[m, n], fin, FP16), model_cast(w[n, k], fin, FP16), acc)
            z[m, k] = model_cast(acc, FP16, fout)
    return z


def rand_matrix(rng, shape, f):
    """Bit patterns of format f: mostly moderate values, some random patterns, some special values."""
    n = int(np.prod(shape))
    if f.width == 16:
        moderate = _pack(rng.integers(0, 2, n), rng.integers(10, 20, n), rng.integers(0, 1024, n))
        anything = rng.integers(0, 1 << 16, n).astype(np.uint16)
        special = rng.choice(SPECIALS, n)
    else:
        moderate = anything = rng.integers(0, 256, n).astype(np.uint16)
        sp = [0x00, 0x80, 0x01, 0x81, f.max_normal, f.inf, f.inf | 0x80, f.canonical_nan, f.inf | 1]
        special = rng.choice(np.array(sp, np.uint16), n)
    kind = rng.random(n)
    out = np.where(kind < 0.75, moderate, np.where(kind < 0.9, anything, special))
    return out.reshape(shape).astype(np.uint8 if f.width == 8 else np.uint16)


FMT_PAIRS = [(fi, fo) for fi in (FP16, E5M2, E4M3) for fo in (FP16, E5M2, E4M3)]


@pytest.mark.parametrize("shape", [(3, 5, 4), (2, 7, 3)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("fin,fout", FMT_PAIRS, ids=[f"{a.name}-{b.name}" for a, b in FMT_PAIRS])
@pytest.mark.parametrize("op", list(GemmOp), ids=lambda o: o.name.lower())
def test_gemm_op_vs_loop(op, fin, fout, shape):
    M, N, K = shape
    rng = np.random.default_rng([int(op), fin.code, fout.code, M, N, K])
    x = rand_matrix(rng, (M, N), fin)
    w = rand_matrix(rng, (N, K), fin)
    y = rand_matrix(rng, (M, K), fout)
    want = ref_gemm_op(op, x, w, y, fin, fout)
    got = golden.gemm_op(op, x, w, y if op.uses_y else None, in_fmt=fin.name, out_fmt=fout.name)
    assert got.dtype == want.dtype and got.shape == (M, K)
    np.testing.assert_array_equal(got, want, err_msg=f"{op.name} {fin.name}->{fout.name} {shape}")
    # The op may be given as a code, an enum or a name.
    alt = golden.gemm_op(op.name.lower(), x, w, y if op.uses_y else None, in_fmt=fin.name, out_fmt=fout.name)
    np.testing.assert_array_equal(alt, got)


def test_gemm_op_default_out_fmt_and_matmul_ignores_y():
    rng = np.random.default_rng(3)
    x = rand_matrix(rng, (3, 4), E4M3)
    w = rand_matrix(rng, (4, 2), E4M3)
    y = rand_matrix(rng, (3, 2), E4M3)
    z = golden.gemm_op(1, x, w, y, in_fmt="e4m3")
    assert z.dtype == np.uint8
    np.testing.assert_array_equal(z, ref_gemm_op(GemmOp.GEMM, x, w, y, E4M3, E4M3))
    np.testing.assert_array_equal(golden.gemm_op(0, x, w, y, in_fmt="e4m3"),
                                  golden.gemm_op(0, x, w, in_fmt="e4m3"))


def test_gemm_step_matches_gemm_op():
    rng = np.random.default_rng(4)
    x = rand_matrix(rng, (2, 1), FP16)
    w = rand_matrix(rng, (1, 3), FP16)
    y = rand_matrix(rng, (2, 3), FP16)
    for op in GemmOp:
        acc = np.zeros((2, 3), np.uint16) if op is GemmOp.MATMUL else golden.cast(y, "fp16", "fp16")
        np.testing.assert_array_equal(golden.gemm_step(op, x, w, acc), golden.gemm_op(op, x, w, y))


GOOD_X = np.zeros((2, 3), np.uint16)
GOOD_W = np.zeros((3, 4), np.uint16)
GOOD_Y = np.zeros((2, 4), np.uint16)

ERROR_CASES = {
    "x-1d": lambda: golden.gemm_op(1, np.zeros(3, np.uint16), GOOD_W, GOOD_Y),
    "x-3d": lambda: golden.gemm_op(1, np.zeros((1, 2, 3), np.uint16), GOOD_W, GOOD_Y),
    "x-empty": lambda: golden.gemm_op(0, np.zeros((0, 3), np.uint16), GOOD_W),
    "w-wrong-n": lambda: golden.gemm_op(1, GOOD_X, np.zeros((4, 4), np.uint16), GOOD_Y),
    "w-1d": lambda: golden.gemm_op(1, GOOD_X, np.zeros(3, np.uint16), GOOD_Y),
    "w-empty-k": lambda: golden.gemm_op(0, GOOD_X, np.zeros((3, 0), np.uint16)),
    "y-wrong-shape": lambda: golden.gemm_op(1, GOOD_X, GOOD_W, np.zeros((4, 2), np.uint16)),
    "y-transposed-matmul": lambda: golden.gemm_op(0, GOOD_X, GOOD_W, np.zeros((4, 2), np.uint16)),
    "y-missing-gemm": lambda: golden.gemm_op(1, GOOD_X, GOOD_W),
    "y-missing-addmax": lambda: golden.gemm_op("addmax", GOOD_X, GOOD_W),
    "y-missing-minmax": lambda: golden.gemm_op(GemmOp.MINMAX, GOOD_X, GOOD_W),
    "op-8": lambda: golden.gemm_op(8, GOOD_X, GOOD_W, GOOD_Y),
    "op-negative": lambda: golden.gemm_op(-1, GOOD_X, GOOD_W, GOOD_Y),
    "op-name": lambda: golden.gemm_op("maxmax", GOOD_X, GOOD_W, GOOD_Y),
    "in-fmt": lambda: golden.gemm_op(1, GOOD_X, GOOD_W, GOOD_Y, in_fmt="fp32"),
    "in-fmt-bf16": lambda: golden.gemm_op(1, GOOD_X, GOOD_W, GOOD_Y, in_fmt="bf16"),
    "in-fmt-code": lambda: golden.gemm_op(1, GOOD_X, GOOD_W, GOOD_Y, in_fmt=3),
    "out-fmt": lambda: golden.gemm_op(1, GOOD_X, GOOD_W, GOOD_Y, out_fmt="e4m3fn"),
    "fp8-out-of-range": lambda: golden.gemm_op(0, GOOD_X + 256, GOOD_W, in_fmt="e5m2"),
    "y-out-of-range": lambda: golden.gemm_op(1, GOOD_X, GOOD_W, GOOD_Y + 256, in_fmt="fp16", out_fmt="e4m3"),
    "negative-bits": lambda: golden.gemm_op(0, GOOD_X.astype(np.int32) - 1, GOOD_W),
    "float-dtype": lambda: golden.gemm_op(0, GOOD_X.astype(np.float16), GOOD_W),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_gemm_op_errors(case):
    with pytest.raises(ValueError):
        ERROR_CASES[case]()


# --------------------------------------------------------------------------------------------------------------
# (e) padding: a zero-padded reduction step is not an identity step

# For every op: X (M x N), W (N x K), Y chosen so that one extra step with x = w = +0 changes Z.
PAD_CASES = {
    # MATMUL: -2**-24 * 2**-24 + 0 rounds to -0; fma(0, 0, -0) = +0.
    GemmOp.MATMUL: ([[0x8001]], [[0x0001]], None),
    # GEMM: -0 + (-0 * 1) = -0; fma(0, 0, -0) = +0.
    GemmOp.GEMM: ([[0x8000]], [[0x3C00]], [[0x8000]]),
    # ADDMAX with negative Y: max(0 + 0, -5) = +0 destroys the negative accumulator.
    GemmOp.ADDMAX: ([[0xC000, 0xC000]], [[0xBC00], [0xBC00]], [[0xC500]]),
    # ADDMIN with positive Y: min(0 + 0, 5) = +0.
    GemmOp.ADDMIN: ([[0x4000]], [[0x3C00]], [[0x4500]]),
    GemmOp.MULMAX: ([[0xC000]], [[0x3C00]], [[0xC500]]),
    GemmOp.MULMIN: ([[0x4000]], [[0x3C00]], [[0x4500]]),
    # MAXMIN: min(max(0, 0), 5) = +0.
    GemmOp.MAXMIN: ([[0x4000]], [[0x4200]], [[0x4500]]),
    # MINMAX: max(min(0, 0), -5) = +0.
    GemmOp.MINMAX: ([[0xC000]], [[0xC200]], [[0xC500]]),
}


@pytest.mark.parametrize("op", list(GemmOp), ids=lambda o: o.name.lower())
def test_zero_padding_is_not_identity(op):
    """Documents why the hardware must pad N with identity steps (acc passes through bit-identical),
    not with zero operands: the zero-padded job computes a different Z for every op."""
    x, w, y = PAD_CASES[op]
    x = np.array(x, np.uint16)
    w = np.array(w, np.uint16)
    y = None if y is None else np.array(y, np.uint16)
    z = golden.gemm_op(op, x, w, y)
    np.testing.assert_array_equal(z, ref_gemm_op(op, x, w, y, FP16, FP16))
    x_pad = np.concatenate([x, np.zeros((x.shape[0], 1), np.uint16)], axis=1)
    w_pad = np.concatenate([w, np.zeros((1, w.shape[1]), np.uint16)], axis=0)
    z_pad = golden.gemm_op(op, x_pad, w_pad, y)
    assert z_pad.tolist() != z.tolist(), f"{op.name}: zero padding left {z.tolist()} unchanged"
    assert z_pad.tolist() == [[0x0000]]
