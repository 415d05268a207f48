"""Benchmark of the bare engine (no memory port): cycles per shape against the compute bound.

Usage: python -m redmule_hdl.sim.bench_engine [--shapes 12x16x16,17x13x16] [-L 12 -H 4 -P 3]
(``--contexts`` and ``--no-misaligned`` are accepted like everywhere, but the bare engine has neither a
register file nor a memory port, so they change nothing here.)

Producers never stall, so every cycle above C = ceil(M/L)*ceil(K/D)*ceil(N/H)*D is overhead of the
engine itself (preload, drain, bubbles). Results are checked bit for bit against golden.gemm_op.
Runs in Amaranth's simulator (about 200 cycles/s for 12x4): 96x96x96 takes a few minutes.
"""
import sys
import time

import numpy as np

from redmule_hdl.config_args import (ArgumentParser, add_config_arguments, config_from_args, config_summary,
                                     parse_shapes)
from redmule_hdl.spec import golden
from redmule_hdl.spec.ops import GemmOp

from .engine_runner import run_engine

DEFAULT_SHAPES = ["12x16x16", "24x32x1", "17x13x16", "5x32x3", "48x48x48", "96x96x96"]


def main(argv=None):
    """Print the table; exit status 0 when every shape is bit-exact, 1 otherwise, 2 for bad arguments."""
    parser = ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=parse_shapes, default=",".join(DEFAULT_SHAPES),
                        metavar="MxNxK,...", help=f"shapes to run (default {','.join(DEFAULT_SHAPES)})")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, parser)
    print(f"engine {config}: {config_summary(config)}, peak {config.peak_fmas_per_cycle} FMA/cycle")
    print("| M x N x K | cycles | C | overhead | CE utilization | bit-exact | sim cycles/s |")
    print("|---|---:|---:|---:|---:|---|---:|")
    all_exact = True
    for M, N, K in args.shapes:
        rng = np.random.default_rng(M * 10000 + N * 100 + K)
        x = golden.from_float(rng.normal(size=(M, N)))
        w = golden.from_float(rng.normal(size=(N, K)))
        y = golden.from_float(rng.normal(size=(M, K)))
        start = time.perf_counter()
        result = run_engine(config, GemmOp.GEMM, x, w, y)
        elapsed = time.perf_counter() - start
        exact = bool((result.z == golden.gemm_op(GemmOp.GEMM, x, w, y)).all())
        all_exact &= exact
        C = config.compute_bound(M, N, K)
        util = config.utilization(M, N, K, result.cycles)
        print(f"| {M}x{N}x{K} | {result.cycles} | {C} | {result.cycles - C} | {100 * util:.2f}% | "
              f"{'yes' if exact else 'NO'} | {result.cycles / elapsed:.0f} |", flush=True)
    return 0 if all_exact else 1


if __name__ == "__main__":
    sys.exit(main())
