"""Bit-exact reference model (the oracle of every test), vectorized numpy on raw bit patterns.

FP16 values are ``uint16`` arrays, FP8 values ``uint8`` arrays. Every function is NaN-safe and returns
canonical NaNs. Semantics: docs/architecture.md ("Overview").

The FMA is computed as ``float16(float64(a) * float64(b) + float64(c))``: the product of two FP16 values
is exact in float64 and no in-range FP16 result is double-rounded, so this is one correct rounding of
the exact ``a*b + c``; the test-suite proves it against Berkeley SoftFloat.
"""
from typing import NamedTuple, Optional

import ml_dtypes
import numpy as np

from redmule_hdl.spec.formats import FORMATS, FP16, FpFormat, format_by_name
from redmule_hdl.spec.ops import GemmOp

__all__ = ["fma", "add", "mul", "minimum", "maximum", "cast", "gemm_op", "is_nan", "to_float", "from_float",
           "Operands", "check_operands", "check_format"]

_NP_DTYPES = {"fp16": np.float16, "e5m2": ml_dtypes.float8_e5m2, "e4m3": ml_dtypes.float8_e4m3}


def _u16(x):
    x = np.asarray(x)
    if x.dtype != np.uint16:
        if x.dtype.kind not in "iu" or (x.size and (x.min() < 0 or x.max() > 0xFFFF)):
            raise ValueError(f"expected FP16 bit patterns (uint16), got dtype {x.dtype}")
        x = x.astype(np.uint16)
    return x


def is_nan(bits, fmt="fp16"):
    """True where ``bits`` (of format ``fmt``) is a NaN."""
    return _nan_mask(bits, format_by_name(fmt))


def _nan_mask(bits, f):
    bits = np.asarray(bits).astype(np.uint32)
    return (((bits >> f.man_bits) & f.exp_max) == f.exp_max) & ((bits & ((1 << f.man_bits) - 1)) != 0)


def to_float(bits, fmt="fp16"):
    """Bit patterns to numpy floats of the format's dtype (ml_dtypes for FP8)."""
    f = format_by_name(fmt)
    return np.asarray(bits).astype(np.uint8 if f.width == 8 else np.uint16).view(_NP_DTYPES[f.name])


def from_float(values, fmt="fp16"):
    """Round float values to ``fmt`` (RNE, no saturation) and return canonical bit patterns."""
    f = format_by_name(fmt)
    v = np.asarray(values)
    if f.width == 8 and v.dtype.kind == "f" and v.dtype.itemsize > 4:
        # ml_dtypes narrows float64 through float32 (two roundings); round to odd on the way instead.
        v = _f32_round_to_odd(v)
    with np.errstate(over="ignore", invalid="ignore"):     # overflow to +-Inf is the specified result
        out = v.astype(_NP_DTYPES[f.name]).view(np.uint8 if f.width == 8 else np.uint16)
    nan = np.isnan(np.asarray(values, dtype=np.float64))
    return np.where(nan, np.array(f.canonical_nan, out.dtype), out)


def _f32_round_to_odd(x):
    """float64 -> float32, truncated with the last bit set when inexact: a second RNE rounding to a format
    of at most 22 significant bits then rounds the original value correctly."""
    x = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        r = x.astype(np.float32)
        r = np.where(np.abs(r.astype(np.float64)) > np.abs(x), np.nextafter(r, np.float32(0)), r)
        inexact = r.astype(np.float64) != x
    odd = (r.view(np.uint32) | inexact.astype(np.uint32)).view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), odd)


def _f16_round(x64):
    """float64 -> canonical FP16 bits, one RNE rounding."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = x64.astype(np.float16).view(np.uint16)
    return np.where(np.isnan(x64), np.uint16(FP16.canonical_nan), out)


def _f64(bits):
    return _u16(bits).view(np.float16).astype(np.float64)


def fma(a, b, c):
    """Fused ``a*b + c`` on FP16 bit arrays, one RNE rounding."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _f16_round(_f64(a) * _f64(b) + _f64(c))


def add(a, c):
    """``a + c`` on FP16 bit arrays (FMA with the multiplicand forced to 1.0)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _f16_round(_f64(a) + _f64(c))


def mul(a, b):
    """``a * b`` on FP16 bit arrays (FMA with the addend forced to -0)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _f16_round(_f64(a) * _f64(b) + np.float64(-0.0))


def _minmax(a, b, want_max):
    a, b = np.broadcast_arrays(_u16(a), _u16(b))
    fa, fb = _f64(a), _f64(b)
    a_nan, b_nan = np.isnan(fa), np.isnan(fb)
    # Order with -0 < +0: compare the values, break ties between zeros on the sign bit.
    a_neg = (a >> 15).astype(bool)
    b_neg = (b >> 15).astype(bool)
    a_less = (fa < fb) | ((fa == fb) & a_neg & ~b_neg)
    pick_a = ~a_less if want_max else a_less
    pick_a = pick_a | (fa == fb) & (a_neg == b_neg)
    out = np.where(pick_a, a, b)
    out = np.where(a_nan, b, np.where(b_nan, a, out))
    return np.where(a_nan & b_nan, np.uint16(FP16.canonical_nan), out).astype(np.uint16)


def minimum(a, b):
    """IEEE 754-2008 minNum on FP16 bit arrays, with -0 < +0; NaN only if both are NaN (canonical)."""
    return _minmax(a, b, want_max=False)


def maximum(a, b):
    """IEEE 754-2008 maxNum on FP16 bit arrays, with -0 < +0; NaN only if both are NaN (canonical)."""
    return _minmax(a, b, want_max=True)


def cast(bits, src, dst):
    """Convert bit patterns between "fp16", "e5m2" and "e4m3".

    Widening is exact; narrowing rounds RNE, overflows to +-Inf; NaN becomes the canonical NaN of ``dst``.
    """
    s, d = format_by_name(src), format_by_name(dst)
    bits = np.asarray(bits)
    if bits.dtype.kind not in "iu" or (bits.size and (bits.min() < 0 or bits.max() >= 1 << s.width)):
        raise ValueError(f"expected {s.name} bit patterns of {s.width} bits, got dtype {bits.dtype}")
    nan = _nan_mask(bits, s)
    with np.errstate(over="ignore", invalid="ignore"):
        # ml_dtypes widens FP8 to float32 exactly and narrows from float32 with one RNE rounding;
        # FP16 -> float32 is exact, so each path rounds at most once.
        wide = to_float(bits, s).astype(np.float32)
        out = wide.astype(_NP_DTYPES[d.name]).view(np.uint8 if d.width == 8 else np.uint16)
    return np.where(nan, np.array(d.canonical_nan, out.dtype), out)


_STEPS = {
    GemmOp.MATMUL: lambda x, w, acc: fma(x, w, acc),
    GemmOp.GEMM: lambda x, w, acc: fma(x, w, acc),
    GemmOp.ADDMAX: lambda x, w, acc: maximum(add(x, w), acc),
    GemmOp.ADDMIN: lambda x, w, acc: minimum(add(x, w), acc),
    GemmOp.MULMAX: lambda x, w, acc: maximum(mul(x, w), acc),
    GemmOp.MULMIN: lambda x, w, acc: minimum(mul(x, w), acc),
    GemmOp.MAXMIN: lambda x, w, acc: minimum(maximum(x, w), acc),
    GemmOp.MINMAX: lambda x, w, acc: maximum(minimum(x, w), acc),
}


def gemm_step(op, x, w, acc):
    """One reduction step of GEMM-Op ``op`` on FP16 bit arrays (broadcasting)."""
    return _STEPS[GemmOp.parse(op)](x, w, acc)


class Operands(NamedTuple):
    """The operands of a GEMM-Op as ``check_operands`` returns them."""
    op: GemmOp
    x: np.ndarray           # M x N, in_fmt bits (uint16 or uint8)
    w: np.ndarray           # N x K, in_fmt bits
    y: Optional[np.ndarray]  # M x K, out_fmt bits, or None
    fin: FpFormat
    fout: FpFormat


def check_format(name, fmt):
    """The ``FpFormat`` of argument ``name`` (a format name or an ``FpFormat``); ValueError otherwise."""
    try:
        return format_by_name(fmt)
    except ValueError:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, FORMATS))} (or an FpFormat), "
                         f"not {fmt!r}") from None


def _matrix(name, a, fmt, fmt_arg):
    """``a`` as a 2-D array of ``fmt`` bit patterns in the native unsigned dtype of the format
    (``fmt_arg``: the argument that chose the format, for the message)."""
    try:
        a = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a 2-D array of {fmt.name} bit patterns ({e})") from None
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {a.shape}")
    want = np.dtype(np.uint8 if fmt.width == 8 else np.uint16)
    if a.dtype.kind != "u" or a.dtype.itemsize != want.itemsize:
        if a.dtype.kind == "u" and a.dtype.itemsize in (1, 2):
            hint = f"; {'FP8' if a.dtype.itemsize == 1 else 'FP16'} bit patterns need " \
                   f"{fmt_arg}={'e5m2' if a.dtype.itemsize == 1 else 'fp16'!r}" \
                   f"{' or ' + repr('e4m3') if a.dtype.itemsize == 1 else ''}"
        elif a.dtype.kind == "f":
            hint = "; golden.from_float rounds float values to bit patterns"
        else:
            hint = f"; convert bit patterns with np.asarray({name}, np.{want})"
        raise ValueError(f"{name} must hold {fmt.name} bit patterns as {want}, not {a.dtype}{hint}")
    return a.astype(want, copy=False)


def check_operands(op, x, w, y=None, *, in_fmt="fp16", out_fmt=None):
    """Check the operands of GEMM-Op ``op`` as ``gemm_op`` takes them; returns ``Operands``.

    ``op``: see ``GemmOp.parse`` (TypeError for bools, floats and other types, ValueError for an
    unknown code or name). ``in_fmt``, ``out_fmt``: ``"fp16"``, ``"e5m2"``, ``"e4m3"`` or an
    ``FpFormat``; ``out_fmt=None`` is ``in_fmt`` (anything else: ValueError). ``x`` (M x N) and ``w``
    (N x K) are non-empty matrices of ``in_fmt`` bit patterns, ``y`` (M x K, required unless op is
    matmul, which checks and then ignores it) of ``out_fmt`` bit patterns. The dtype must be the
    format's: ``uint16`` for FP16, ``uint8`` for FP8 (either byte order). Other dtypes are refused
    even when their values would fit (a uint8 array is not FP16, an int64 array, e.g. from a Python
    list, must be converted explicitly): ValueError. Every message starts with the argument's name.
    """
    op = GemmOp.parse(op)
    fin = check_format("in_fmt", in_fmt)
    fout = fin if out_fmt is None else check_format("out_fmt", out_fmt)
    x = _matrix("x", x, fin, "in_fmt")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must be non-empty, got shape {x.shape}")
    M, N = x.shape
    w = _matrix("w", w, fin, "in_fmt")
    if w.shape[0] != N or w.shape[1] == 0:
        raise ValueError(f"w must have shape ({N}, K>0) to match x {x.shape}, got {w.shape}")
    K = w.shape[1]
    if y is None:
        if op.uses_y:
            raise ValueError(f"y (M x K = {M} x {K}) is required by op {op.name.lower()}")
    else:
        y = _matrix("y", y, fout, "out_fmt")
        if y.shape != (M, K):
            raise ValueError(f"y must have shape {(M, K)} (M x K), got {y.shape}")
    return Operands(op, x, w, y, fin, fout)


def gemm_op(op, x, w, y=None, *, in_fmt="fp16", out_fmt=None):
    """Z of GEMM-Op ``op`` (code 0..7 or lower-case name): ``Z[m,k]`` folds ``gemm_step`` over n in order.

    ``x`` is M x N and ``w`` is N x K in ``in_fmt``; ``y`` is M x K in ``out_fmt`` (default: ``in_fmt``),
    required for every op but matmul. Inputs are widened to FP16, every step is rounded once in FP16,
    strictly in n order, and Z is rounded once to ``out_fmt``. Returns Z bits (M x K). The arguments
    are checked by ``check_operands`` (FP16 bits as uint16, FP8 bits as uint8).
    """
    op, x, w, y, fin, fout = check_operands(op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)
    M, N = x.shape
    K = w.shape[1]
    if op.uses_y:
        acc = cast(y, fout, FP16)
    else:
        acc = np.zeros((M, K), np.uint16)
    x16 = cast(x, fin, FP16)
    w16 = cast(w, fin, FP16)
    step = _STEPS[op]
    for n in range(N):
        acc = step(x16[:, n:n + 1], w16[n:n + 1, :], acc)
    return cast(acc, FP16, fout)
