"""The compute engine against golden.gemm_op, bit for bit, with stalling producers and consumer."""
import numpy as np
import pytest

from redmule_hdl.config import Config
from redmule_hdl.engine.engine import Engine
from redmule_hdl.sim.engine_runner import run_engine, run_engine_jobs
from redmule_hdl.spec import golden
from redmule_hdl.spec.ops import GemmOp

from .helpers import random_matrix, refused


def check(config, op, M, N, K, *, seed=0, stall=0.0, special_fraction=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = random_matrix(rng, (M, N), special_fraction=special_fraction, scale=scale)
    w = random_matrix(rng, (N, K), special_fraction=special_fraction, scale=scale)
    y = random_matrix(rng, (M, K), special_fraction=special_fraction, scale=scale)
    result = run_engine(config, op, x, w, y, stall=stall, seed=seed)
    expected = golden.gemm_op(op, x, w, y)
    mismatch = np.argwhere(result.z != expected)
    assert mismatch.size == 0, (
        f"{len(mismatch)} of {M * K} outputs differ; first at {tuple(mismatch[0])}: "
        f"got {result.z[tuple(mismatch[0])]:#06x}, expected {expected[tuple(mismatch[0])]:#06x}")
    return result


SMALL = Config(L=2, H=2, P=1)


@pytest.mark.parametrize("op", list(GemmOp), ids=lambda o: o.name.lower())
def test_every_op_with_leftovers(op):
    # M, N, K all leave partial tiles (L = 2, H = 2, D = 4); N is odd, so padded steps must be identity.
    check(SMALL, op, M=3, N=5, K=6, seed=int(op), special_fraction=0.05)


@pytest.mark.parametrize("op", [GemmOp.GEMM, GemmOp.ADDMAX, GemmOp.MINMAX], ids=lambda o: o.name.lower())
def test_dimensions_smaller_than_the_array(op):
    # M < L, N < H, K < D: one tile, mostly padding and masked columns.
    check(Config(L=4, H=2, P=3), op, M=3, N=1, K=5, seed=10 + int(op))


def test_padded_steps_are_identity_for_min_max():
    # A negative Y and N = 1 with H = 2: a zero-padded step would turn max(., -y) into +0.
    config = Config(L=2, H=2, P=1)
    x = np.full((2, 1), 0xC000, np.uint16)      # -2
    w = np.full((1, 3), 0x3C00, np.uint16)      # 1
    y = np.full((2, 3), 0xC400, np.uint16)      # -4
    for op in (GemmOp.ADDMAX, GemmOp.MULMAX, GemmOp.MINMAX, GemmOp.GEMM):
        result = run_engine(config, op, x, w, y)
        assert (result.z == golden.gemm_op(op, x, w, y)).all(), op
        assert (result.z >> 15).all(), f"{op.name}: padded step lost the negative accumulator"


def test_special_values_everywhere():
    check(Config(L=3, H=3, P=2), GemmOp.GEMM, M=4, N=7, K=8, seed=3, special_fraction=0.3)
    check(Config(L=3, H=3, P=2), GemmOp.MULMIN, M=4, N=7, K=8, seed=4, special_fraction=0.3)


def test_subnormal_and_overflow_ranges():
    check(SMALL, GemmOp.GEMM, M=3, N=6, K=5, seed=5, scale=1e-4)      # products deep in subnormals
    check(SMALL, GemmOp.GEMM, M=3, N=6, K=5, seed=6, scale=300.0)     # sums overflow to Inf


@pytest.mark.parametrize("stall", [0.3, 0.7])
def test_random_stalls(stall):
    # Late beats and a refusing consumer freeze the whole array; nothing is lost or repeated.
    check(Config(L=4, H=2, P=3), GemmOp.GEMM, M=5, N=9, K=9, seed=7, stall=stall)
    check(SMALL, GemmOp.ADDMIN, M=5, N=5, K=9, seed=8, stall=stall, special_fraction=0.1)


def test_multiple_tiles_each_dimension():
    check(Config(L=3, H=3, P=2), GemmOp.MATMUL, M=7, N=10, K=13, seed=9)


def test_default_configuration_small_shape():
    check(Config(), GemmOp.GEMM, M=13, N=5, K=17, seed=11, special_fraction=0.02)


def test_full_throughput_without_stalls():
    # Two k-tiles and long N: the tiles chain without bubbles, so cycles = C + fixed overhead.
    config = Config(L=2, H=2, P=1)
    M, N, K = 2, 24, 8
    result = check(config, GemmOp.GEMM, M, N, K, seed=12)
    C = config.compute_bound(M, N, K)
    fixed = result.cycles - C
    # The same fixed overhead for a job with twice the reduction length: no per-tile bubbles.
    longer = check(config, GemmOp.GEMM, M, 2 * N, K, seed=13)
    assert longer.cycles - config.compute_bound(M, 2 * N, K) == fixed


def test_unsupported_parameters_are_refused():
    # A ring of one element (H = 1, P = 0) would need a CE result in the cycle it is computed.
    with pytest.raises(ValueError, match=r"D = H\*\(P\+1\) must be >= 2"):
        Config(L=2, H=1, P=0)
    with pytest.raises(ValueError, match="P must be in 0..8"):
        Config(P=9)
    with refused(TypeError, "config must be a redmule_hdl.Config"):
        Engine({"L": 2})


# ---- jobs in a row -------------------------------------------------------------------------------

def check_jobs(config, specs, *, seed=0, stall=0.0):
    """Run ``specs`` (``(op, M, N, K)``) through the engine back to back; every Z bit-exact."""
    rng = np.random.default_rng(seed)
    jobs = []
    for op, M, N, K in specs:
        op = GemmOp.parse(op)
        x, w, y = (random_matrix(rng, shape, special_fraction=0.1) for shape in ((M, N), (N, K), (M, K)))
        jobs.append((op, x, w, y if op.uses_y else None))
    results = run_engine_jobs(config, jobs, stall=stall, seed=seed)
    for i, ((op, x, w, y), result) in enumerate(zip(jobs, results)):
        expected = golden.gemm_op(op, x, w, y)
        bad = np.argwhere(result.z != expected)
        assert bad.size == 0, f"job {i} ({op.name}): {len(bad)} outputs differ, first at {tuple(bad[0])}"
    return results


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_jobs_in_a_row_with_mixed_ops_and_shapes(stall):
    """Same-op jobs follow each other in the array (GEMM and MATMUL share the CE control); a change
    of op flushes first. Every shape class: one tile, leftovers, several m- and k-tiles, N < H."""
    specs = [("gemm", 3, 5, 4), ("matmul", 2, 3, 9), ("gemm", 5, 1, 3), ("addmax", 3, 4, 5),
             ("addmax", 1, 2, 2), ("minmax", 4, 6, 3), ("gemm", 2, 2, 2), ("gemm", 5, 7, 6)]
    check_jobs(SMALL, specs, seed=3, stall=stall)


def test_identical_jobs_cost_their_compute_bound_each():
    """A stream of identical jobs whose operands keep up: after the first, each job adds exactly its
    compute bound C (the tiles of the next job follow without a gap)."""
    config = Config(L=2, H=2, P=1)
    M, N, K = 4, 8, 8
    results = check_jobs(config, [("gemm", M, N, K)] * 4, seed=5)
    C = config.compute_bound(M, N, K)
    gaps = [b.cycles - a.cycles for a, b in zip(results, results[1:])]
    assert gaps == [C] * 3, (gaps, C)


@pytest.mark.parametrize("fpga_arith", [False, True], ids=["asic", "fpga_arith"])
@pytest.mark.parametrize("op", [GemmOp.GEMM, GemmOp.MINMAX], ids=lambda o: o.name.lower())
def test_fast_fma_build_is_bit_and_cycle_identical(op, fpga_arith):
    # Config.fast_fma changes the FMA's datapath only: the same Z and the same cycles, with stalls;
    # so does its FPGA spelling (Config.fpga_arith: a multiply and carry chains).
    shape = dict(M=3, N=5, K=5, seed=20 + int(op), stall=0.3, special_fraction=0.1)
    default = check(Config(L=2, H=1, P=4, fast_fma=False), op, **shape)
    fast = check(Config(L=2, H=1, P=4, fast_fma=True, fpga_arith=fpga_arith), op, **shape)
    assert (fast.z == default.z).all()
    assert fast.cycles == default.cycles


@pytest.mark.parametrize("P", [2, 3])
def test_fpga_build_of_the_small_datapath_is_bit_and_cycle_identical(P):
    # Config.fpga_arith moves the small datapath's registers at P = 2 and 3
    # (spec.pipeline.FPGA_SMALL_PLACEMENTS): the same Z and the same cycles, with stalls.
    shape = dict(M=3, N=5, K=5, seed=30 + P, stall=0.3, special_fraction=0.1)
    asic = check(Config(L=2, H=1, P=P, fast_fma=False), GemmOp.GEMM, **shape)
    fpga = check(Config(L=2, H=1, P=P, fast_fma=False, fpga_arith=True), GemmOp.GEMM, **shape)
    assert (fpga.z == asic.z).all()
    assert fpga.cycles == asic.cycles
