"""Scale verification: millions of FP16 FMA vectors and every cast through the WHOLE accelerator.

Run ``python -m redmule_hdl.sim.scale_check`` (default: 12x4x3, eleven 1024 x 1 x 1024 GEMM jobs = 11.5M FMA
vectors, about a minute with the Verilator back end once built). Every job goes through ``run_job``:
register file, controller, streamer, buffers, engine, memory model; every output is compared bitwise
with ``redmule_hdl.golden``.

FMA vectors: GEMM jobs with N = 1, so ``Z[m,k] = fma(X[m,0], W[0,k], Y[m,k])`` (one rounding, no
accumulation): the X column and W row form the outer product of operand pairs, Y gives each pair its own
addend. The jobs come in categories:

* ``random``: uniformly random 16-bit patterns (every class, NaN payloads, both signs);
* ``specials``: zeros of both signs, smallest/largest subnormals, smallest normal, largest normal,
  +-1, +-2, +-0.5, 1 + ulp, values around sqrt(max), Inf, quiet/signalling/negative NaNs with payloads,
  combined with special and random addends;
* ``cancellation``: ``c = -round(a*b) + k ulp`` (k in -2..2): massive cancellation, exact zeros;
* ``ties``: ``a = +-{1,3} * 2^i``, ``b = +-2^j`` and ``c`` chosen so that ``|a*b|`` is 1/2 or 3/2 of
  ``c``'s ulp: exact halfway cases (ties to even), including subnormal ones;
* ``overflow``: ``|a*b| + c`` at +-2 ulp around 65504 and the overflow threshold 65520, including
  products above the FP16 range brought back by ``c`` (no intermediate overflow in a fused FMA);
* ``subnormal``: subnormal and tiny operands and addends (gradual underflow, subnormal results);
* ``normal``: realistic N(0, 1) values.

Casts: each of the 65,536 FP16 values through each FP8 store cast (``Z = fma(1, v, -0)`` with
``out_fmt`` e5m2/e4m3), and each of the 256 FP8 values through each load cast, in all three load
paths (X, W and Y; the Y path rounds back on store, which must return the value itself).

Report: vectors per job category, per product class (class of a x class of b), per addend and per
result class, mismatches (with the first few listed). Exit status 1 on any mismatch.
"""
import sys
import time
from collections import Counter

import numpy as np

from redmule_hdl.config import Config
from redmule_hdl.config_args import ArgumentParser, add_config_arguments, config_from_args, config_summary
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import FP16, format_by_name

__all__ = ["scale_check", "CATEGORIES", "FULL_PLAN", "CLASSES"]

CLASSES = ("zero", "subnormal", "normal", "inf", "nan")

CATEGORIES = ("specials", "random", "cancellation", "ties", "overflow", "subnormal", "normal")
# The default run: 11 jobs (random bits weighted most).
FULL_PLAN = ("specials", "random", "cancellation", "ties", "overflow", "subnormal", "normal",
             "random", "random", "random", "specials")

SPECIALS = np.array([
    0x0000, 0x8000,                   # +-0
    0x0001, 0x8001, 0x03FF, 0x83FF,   # smallest / largest subnormals
    0x0200, 0x8155,                   # other subnormals
    0x0400, 0x8400,                   # smallest normals
    0x7BFF, 0xFBFF, 0x7BFE,           # largest normals
    0x3C00, 0xBC00, 0x3C01, 0xBBFF,   # +-1, 1 + ulp, -(1 - ulp/2)
    0x4000, 0xC000, 0x3800, 0xB800,   # +-2, +-0.5
    0x5BFF, 0xDBFF, 0x5C00, 0x5C01,   # around sqrt(65504) (products near the overflow threshold)
    0x1400, 0x9400, 0x0C00,           # 2^-10, 2^-12 (products into the subnormal range)
    0x7C00, 0xFC00,                   # +-Inf
    0x7E00, 0xFE00, 0x7C01, 0x7D01,   # quiet / signalling NaNs
    0xFE37, 0x7FFF, 0xFFFF,           # NaNs with payloads
], dtype=np.uint16)


def classify(bits):
    """Class index (into CLASSES) of FP16 bit patterns."""
    b = np.asarray(bits).astype(np.uint32)
    exp = (b >> 10) & 0x1F
    man = b & 0x3FF
    cls = np.full(b.shape, 2, dtype=np.int8)
    cls[(exp == 0) & (man == 0)] = 0
    cls[(exp == 0) & (man != 0)] = 1
    cls[(exp == 31) & (man == 0)] = 3
    cls[(exp == 31) & (man != 0)] = 4
    return cls


def _fp16(values):
    return golden.from_float(np.asarray(values, dtype=np.float64), FP16)


def _random_fields(rng, shape, exp_lo, exp_hi, signs=True):
    """Random FP16 bit patterns with exponent field in [exp_lo, exp_hi]."""
    exp = rng.integers(exp_lo, exp_hi + 1, shape).astype(np.uint32)
    man = rng.integers(0, 1024, shape).astype(np.uint32)
    sign = rng.integers(0, 2, shape).astype(np.uint32) if signs else np.zeros(shape, np.uint32)
    return ((sign << 15) | (exp << 10) | man).astype(np.uint16)


def _nudge(bits, k):
    """Move finite FP16 patterns by k ulps in magnitude, staying finite and keeping the sign."""
    b = bits.astype(np.int32)
    mag = np.clip((b & 0x7FFF) + k, 0, 0x7BFF)
    return ((b & 0x8000) | mag).astype(np.uint16)


def make_fma_job(category, M, K, rng):
    """(x M x 1, w 1 x K, y M x K) FP16 bit patterns of one job of ``category``."""
    if category == "random":
        x = rng.integers(0, 1 << 16, (M, 1), dtype=np.uint16)
        w = rng.integers(0, 1 << 16, (1, K), dtype=np.uint16)
        y = rng.integers(0, 1 << 16, (M, K), dtype=np.uint16)
    elif category == "specials":
        x = rng.choice(SPECIALS, (M, 1))
        w = rng.choice(SPECIALS, (1, K))
        x[:min(M, len(SPECIALS)), 0] = SPECIALS[:M]
        w[0, :min(K, len(SPECIALS))] = SPECIALS[:K]
        y = np.where(rng.random((M, K)) < 0.5, rng.choice(SPECIALS, (M, K)),
                     rng.integers(0, 1 << 16, (M, K), dtype=np.uint16)).astype(np.uint16)
    elif category == "cancellation":
        x = _random_fields(rng, (M, 1), 8, 22)
        w = _random_fields(rng, (1, K), 8, 22)
        p = golden.to_float(x).astype(np.float64) * golden.to_float(w).astype(np.float64)
        y = _nudge(_fp16(-p), rng.integers(-2, 3, (M, K)))
    elif category == "ties":
        i = rng.integers(-12, 3, (M, 1))
        j = rng.integers(-13, 3, (1, K))
        t = rng.choice([1.0, 3.0], (M, 1))
        x = _fp16(rng.choice([-1.0, 1.0], (M, 1)) * t * np.exp2(i))
        w = _fp16(rng.choice([-1.0, 1.0], (1, K)) * np.exp2(j))
        ef = (i + j + 11) + 15           # biased exponent of the c whose ulp is 2 * 2^(i+j)
        man = rng.integers(0, 1024, (M, K)).astype(np.uint32)
        sign = rng.integers(0, 2, (M, K)).astype(np.uint32)
        # Field 1 and the subnormals share the ulp 2^-24: mix them. Below that no c has the wanted
        # ulp: a subnormal c then (not a tie, still a valid vector).
        sub = (ef < 1) | ((ef == 1) & (rng.random((M, K)) < 0.5))
        exp_field = np.where(sub, 0, np.clip(ef, 1, 30)).astype(np.uint32)
        y = ((sign << 15) | (exp_field << 10) | man).astype(np.uint16)
    elif category == "overflow":
        x = _random_fields(rng, (M, 1), 22, 23)       # 128 .. 511.75
        w = _random_fields(rng, (1, K), 22, 23)
        p = golden.to_float(x).astype(np.float64) * golden.to_float(w).astype(np.float64)
        target = rng.choice([65504.0, 65520.0, 65488.0], (M, K))
        c = np.sign(p) * (target - np.abs(p))          # |p + c| = target
        y = _nudge(_fp16(c), rng.integers(-2, 3, (M, K)))
        far = np.abs(c) > 65504
        y = np.where(far, rng.integers(0, 1 << 16, (M, K), dtype=np.uint16), y).astype(np.uint16)
    elif category == "subnormal":
        x = _random_fields(rng, (M, 1), 0, 3)
        w = _random_fields(rng, (1, K), 10, 20)
        y = _random_fields(rng, (M, K), 0, 2)
    elif category == "normal":
        x = _fp16(rng.normal(0.0, 1.0, (M, 1)))
        w = _fp16(rng.normal(0.0, 1.0, (1, K)))
        y = _fp16(rng.normal(0.0, 1.0, (M, K)))
    else:
        raise ValueError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
    return x.astype(np.uint16), w.astype(np.uint16), y.astype(np.uint16)


class _Tally:
    def __init__(self, log):
        self.log = log
        self.vectors = Counter()
        self.mismatch = Counter()
        self.examples = []
        self.product = Counter()
        self.addend = Counter()
        self.result = Counter()
        self.cycles = 0
        self.sim_seconds = 0.0

    def compare(self, name, got, want, inputs):
        bad = np.argwhere(got != want)
        self.vectors[name] += got.size
        self.mismatch[name] += len(bad)
        for idx in bad[:max(0, 5 - len(self.examples))]:
            idx = tuple(idx)
            self.examples.append(f"{name} at {idx}: inputs {inputs(idx)} -> {int(got[idx]):#06x}, "
                                 f"golden {int(want[idx]):#06x}")
        return len(bad)


def _run(tally, config, op, x, w, y, *, in_fmt="fp16", out_fmt=None, stall, latency, seed, backend):
    from .run import run_job
    strides = None
    if not config.misaligned:
        # A narrow port needs word-aligned rows (N = 1 gives 2-byte X rows): pad each to whole words.
        in_size = format_by_name(in_fmt).bytes
        out_size = format_by_name(out_fmt or in_fmt).bytes
        strides = tuple(-(-n // 4) * 4 for n in (x.shape[1] * in_size, w.shape[1] * in_size,
                                                 w.shape[1] * out_size))
    t0 = time.monotonic()
    res = run_job(config, op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, stall=stall, latency=latency,
                  seed=seed, backend=backend, strides=strides)
    tally.sim_seconds += time.monotonic() - t0
    tally.cycles += res.sim_cycles
    if res.error or not res.guard_ok:
        raise AssertionError(f"job refused or memory outside Z changed: error={res.error}, "
                             f"{res.guard_message}")
    return res


def scale_check(config=None, *, fma_jobs=None, plan=None, M=1024, K=1024, seed=0, stall=0.0,
                latency=1, backend="verilator", casts=True, log=print):
    """Run the scale verification; returns a summary dict (vectors, mismatches, classes, timing).

    ``plan`` is a sequence of categories (default ``FULL_PLAN``, or its first ``fma_jobs`` entries
    cycled when ``fma_jobs`` is given).
    """
    config = config or Config()
    if plan is None:
        n = len(FULL_PLAN) if fma_jobs is None else fma_jobs
        plan = [FULL_PLAN[i % len(FULL_PLAN)] for i in range(n)]
    rng = np.random.default_rng(seed)
    tally = _Tally(log)
    t_start = time.monotonic()
    log(f"RedMulE {config}, backend {backend}, {len(plan)} FMA jobs of {M} x 1 x {K}, "
        f"stall {stall}, read latency {latency}, seed {seed}")
    mem = dict(stall=stall, latency=latency, backend=backend)

    for j, category in enumerate(plan):
        x, w, y = make_fma_job(category, M, K, rng)
        res = _run(tally, config, "gemm", x, w, y, seed=seed + j, **mem)
        want = golden.gemm_op("gemm", x, w, y)
        cx, cw, cy = classify(x[:, 0]), classify(w[0]), classify(y)
        for a in range(5):
            na = int(np.count_nonzero(cx == a))
            for b in range(5):
                tally.product[(CLASSES[a], CLASSES[b])] += na * int(np.count_nonzero(cw == b))
        tally.addend.update({CLASSES[c]: int(n) for c, n in enumerate(np.bincount(cy.ravel(), minlength=5))})
        tally.result.update({CLASSES[c]: int(n) for c, n in
                             enumerate(np.bincount(classify(want).ravel(), minlength=5))})
        bad = tally.compare(f"fma/{category}", res.z, want,
                            lambda i: f"a={int(x[i[0], 0]):#06x} b={int(w[0, i[1]]):#06x} "
                                      f"c={int(y[i]):#06x}")
        log(f"  job {j + 1}/{len(plan)} {category:<13} {x.shape[0] * w.shape[1]:>9} vectors "
            f"{res.cycles:>8} cycles  mismatches {bad}")

    cast_vectors = 0
    if casts:
        values = np.arange(1 << 16, dtype=np.uint16)
        half = len(values) // 2
        for fmt in ("e5m2", "e4m3"):
            neg0 = np.uint8(0x80)
            for part in (values[:half], values[half:]):
                x = np.array([[0x3C00]], np.uint16)
                w = part.reshape(1, -1)
                y = np.full(w.shape, neg0, np.uint8)
                res = _run(tally, config, "gemm", x, w, y, out_fmt=fmt, seed=seed, **mem)
                want = golden.gemm_op("gemm", x, w, y, out_fmt=fmt)
                direct = golden.cast(w, "fp16", fmt)
                tally.compare(f"store cast fp16->{fmt}", res.z, want, lambda i: f"v={int(w[i]):#06x}")
                tally.mismatch[f"store cast fp16->{fmt}"] += int(np.count_nonzero(want != direct))
                cast_vectors += w.size
            all8 = np.arange(256, dtype=np.uint8)
            one = golden.cast(np.array([0x3C00], np.uint16), "fp16", fmt)[0]
            # W path, X path (Z = fma(1, v, -0) = v in FP16), Y path (Z = fp8(fma(-0, +0, v)) = v).
            paths = {
                "w": (np.array([[one]], np.uint8), all8.reshape(1, -1),
                      np.full((1, 256), 0x8000, np.uint16), "fp16"),
                "x": (all8.reshape(-1, 1), np.array([[one]], np.uint8),
                      np.full((256, 1), 0x8000, np.uint16), "fp16"),
                "y": (np.array([[0x80]], np.uint8), np.zeros((1, 256), np.uint8),
                      all8.reshape(1, -1), fmt),
            }
            for path, (x, w, y, out_fmt) in paths.items():
                name = f"load cast {fmt}->fp16 ({path} path)"
                res = _run(tally, config, "gemm", x, w, y, in_fmt=fmt, out_fmt=out_fmt, seed=seed,
                           **mem)
                want = golden.gemm_op("gemm", x, w, y, in_fmt=fmt, out_fmt=out_fmt)
                values8 = {"w": w, "x": x, "y": y}[path]
                direct = (golden.cast(values8, fmt, "fp16") if path != "y" else
                          golden.cast(golden.cast(values8, fmt, "fp16"), "fp16", fmt))
                tally.compare(name, res.z, want, lambda i: f"v={int(values8[i]):#04x}")
                tally.mismatch[name] += int(np.count_nonzero(want.ravel() != direct.ravel()))
                cast_vectors += 256

    fma_vectors = sum(n for k, n in tally.vectors.items() if k.startswith("fma/"))
    total_mismatches = sum(tally.mismatch.values())
    wall = time.monotonic() - t_start
    summary = {
        "config": str(config), "backend": backend, "fma_vectors": fma_vectors,
        "cast_vectors": cast_vectors, "vectors": dict(tally.vectors),
        "mismatch_by_class": dict(tally.mismatch), "mismatches": total_mismatches,
        "examples": list(tally.examples), "product_classes": dict(tally.product),
        "addend_classes": dict(tally.addend), "result_classes": dict(tally.result),
        "sim_cycles": tally.cycles, "sim_seconds": tally.sim_seconds, "wall_seconds": wall,
    }
    _report(summary, log)
    return summary


def _report(s, log):
    log("")
    log(f"{'vector class':<34} {'vectors':>11} {'mismatches':>11}")
    for name, n in s["vectors"].items():
        log(f"{name:<34} {n:>11,} {s['mismatch_by_class'].get(name, 0):>11}")
    log(f"{'FMA vectors':<34} {s['fma_vectors']:>11,}")
    log(f"{'cast vectors':<34} {s['cast_vectors']:>11,}")
    log("")
    log("FMA vectors per product class (a \\ b): " + " ".join(f"{c:>10}" for c in CLASSES))
    for a in CLASSES:
        log(f"  {a:<37}" + " ".join(f"{s['product_classes'].get((a, b), 0):>10,}" for b in CLASSES))
    log("FMA addend classes: " + ", ".join(f"{c} {s['addend_classes'].get(c, 0):,}" for c in CLASSES))
    log("FMA result classes: " + ", ".join(f"{c} {s['result_classes'].get(c, 0):,}" for c in CLASSES))
    log("")
    rate = s["sim_cycles"] / s["sim_seconds"] if s["sim_seconds"] else 0.0
    log(f"{s['sim_cycles']:,} simulated cycles in {s['sim_seconds']:.1f} s of jobs "
        f"({rate:,.0f} cycles/s including data set-up), {s['wall_seconds']:.1f} s in all")
    if s["mismatches"]:
        log(f"MISMATCHES: {s['mismatches']}")
        for e in s["examples"]:
            log(f"  {e}")
    else:
        log("all vectors bit-exact")


def main(argv=None):
    p = ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n")[0])
    add_config_arguments(p)
    p.add_argument("--jobs", type=int, default=None, help=f"FMA jobs (default {len(FULL_PLAN)})")
    p.add_argument("-M", type=int, default=1024, help="rows of every FMA job (default 1024)")
    p.add_argument("-K", type=int, default=1024, help="columns of every FMA job (default 1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stall", type=float, default=0.0, help="probability of a refused grant")
    p.add_argument("--latency", type=int, default=1, help="memory read latency (cycles)")
    p.add_argument("--backend", default="verilator", choices=("verilator", "amaranth"))
    p.add_argument("--no-casts", dest="casts", action="store_false",
                   help="skip the FP8 cast vectors (65,536 + 6 * 256 values)")
    args = p.parse_args(argv)
    config = config_from_args(args, p)
    for name, value, lo in (("--jobs", args.jobs, 0), ("-M", args.M, 1), ("-K", args.K, 1),
                            ("--latency", args.latency, 1)):
        if value is not None and value < lo:
            p.error(f"argument {name}: must be >= {lo}, not {value}")
    if not 0.0 <= args.stall < 1.0:
        p.error(f"argument --stall: must be in [0, 1), not {args.stall}")
    print(f"configuration: {config_summary(config)}", flush=True)
    s = scale_check(config, fma_jobs=args.jobs, M=args.M, K=args.K,
                    seed=args.seed, stall=args.stall, latency=args.latency, backend=args.backend,
                    casts=args.casts,
                    log=lambda *a: print(*a, flush=True))
    return 1 if s["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
