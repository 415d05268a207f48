"""Benchmark of the bare engine (no memory port): cycles per shape against the compute bound.

Usage: python -m sim.bench_engine [--shapes 12x16x16,17x13x16] [-L 12 -H 4 -P 3]

Producers never stall, so every cycle above C = ceil(M/L)*ceil(K/D)*ceil(N/H)*D is overhead of the
engine itself (preload, drain, bubbles). Results are checked bit for bit against golden.gemm_op.
Runs in Amaranth's simulator (about 200 cycles/s for 12x4): 96x96x96 takes a few minutes.
"""
import argparse
import time

import numpy as np

from redmule_hdl.config import Config
from redmule_hdl.spec import golden
from redmule_hdl.spec.ops import GemmOp

from .engine_runner import run_engine

DEFAULT_SHAPES = ["12x16x16", "24x32x1", "17x13x16", "5x32x3", "48x48x48", "96x96x96"]


def parse_shape(text):
    try:
        M, N, K = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like MxNxK, not {text!r}") from None
    return M, N, K


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(DEFAULT_SHAPES))
    parser.add_argument("-L", type=int, default=12)
    parser.add_argument("-H", type=int, default=4)
    parser.add_argument("-P", type=int, default=3)
    args = parser.parse_args(argv)
    config = Config(L=args.L, H=args.H, P=args.P)
    print(f"engine {config}: D = {config.D}, peak {config.peak_fmas_per_cycle} FMA/cycle")
    print(f"| M x N x K | cycles | C | overhead | CE utilization | bit-exact | sim cycles/s |")
    print(f"|---|---:|---:|---:|---:|---|---:|")
    for M, N, K in (parse_shape(s) for s in args.shapes.split(",")):
        rng = np.random.default_rng(M * 10000 + N * 100 + K)
        x = golden.from_float(rng.normal(size=(M, N)))
        w = golden.from_float(rng.normal(size=(N, K)))
        y = golden.from_float(rng.normal(size=(M, K)))
        start = time.perf_counter()
        result = run_engine(config, GemmOp.GEMM, x, w, y)
        elapsed = time.perf_counter() - start
        exact = bool((result.z == golden.gemm_op(GemmOp.GEMM, x, w, y)).all())
        C = config.compute_bound(M, N, K)
        util = config.utilization(M, N, K, result.cycles)
        print(f"| {M}x{N}x{K} | {result.cycles} | {C} | {result.cycles - C} | {100 * util:.2f}% | "
              f"{'yes' if exact else 'NO'} | {result.cycles / elapsed:.0f} |", flush=True)


if __name__ == "__main__":
    main()
