"""The Verilator back end against the Amaranth one: same Z bits and cycles for every op and format
(the flows, bus traffic and benches: ``test_verilator_flows.py``; the two files run side by side).

Small configurations are built (2x2x1 and 4x2x3, and 2x2x1 twice more: from the verbatim exported
Verilog and without the harness's fast clock edge; 2x2x1 and 2x3x0 with a port of D FP8 elements,
64 and 56 bits wide); the builds are cached in the user's cache directory
(``sim.verilator.default_cache_dir()``), so only the first run pays for them.
"""
import os
import random
import time

import pytest

from redmule_hdl.sim import verilator as vb
from redmule_hdl.spec.ops import GemmOp

from .parity import SMALL, MID, SMALL_FP8, ODD_FP8, OPS, job_operands, run_both, check_golden, port_id


def test_generator_matches_python_random():
    for seed in (0, 1, 5, -7, 0x5EED, 2**40 + 3, 12345678901234567890):
        r = random.Random(seed)
        assert vb.harness_random(SMALL, seed, 50) == [r.random() for _ in range(50)]


def test_build_is_cached():
    first = vb.build(SMALL)
    again = vb.build(SMALL)
    assert again.cached and again.path == first.path and first.path.exists()
    assert str(first.path).startswith(str(vb.default_cache_dir()))
    # The harness takes the port width (and the register offsets) from the generated C header.
    for config in (SMALL, ODD_FP8):
        assert vb.harness_info(config) == {"port_width": config.port_width,
                                           "fast_edge": vb.find_verilator().fast_edge_checked}
    assert ODD_FP8.port_width == 56


def _fake_build(cache, key, age):
    """Put a stand-in build ``key`` into ``cache``, last used ``age`` seconds ago."""
    with cache.building(key) as work:
        (work / "final").mkdir()
        (work / "final" / "Vharness").write_bytes(b"")
    used = time.time() - age
    os.utime(cache.build_dir(key), (used, used))


def test_cache_spares_builds_in_use(tmp_path):
    """Only builds unused for ``grace`` seconds are evicted past ``keep``: a worker of a parallel
    test run may be about to start one that others have pushed out of the ``keep`` newest."""
    cache = vb.BuildCache(tmp_path, keep=2, grace=600)
    for i, age in enumerate((5000, 4000, 3000, 300, 200)):
        _fake_build(cache, f"k{i}", age)
    _fake_build(cache, "k5", 100)             # this build prunes: keeps k5, k4 (newest) and k3 (grace)
    assert sorted(p.name for p in (tmp_path / "verilator").glob("k?")) == ["k3", "k4", "k5"]
    assert cache.touch("k3") and not cache.touch("k0")   # touch says whether a build is still there


@pytest.mark.parametrize("config", [SMALL, SMALL_FP8], ids=port_id)
@pytest.mark.parametrize("op", OPS)
def test_parity_ops_fp16_leftovers(op, config):
    # M, N, K all leftovers for L=2, H=2, D=4; refused grants and read latency 3.
    x, w, y = job_operands(10 + GemmOp.parse(op), 3, 5, 6)
    res = run_both(config, op, x, w, y, stall=0.3, latency=3, seed=GemmOp.parse(op))
    check_golden(res, op, x, w, y)


@pytest.mark.parametrize("config", [SMALL, SMALL_FP8], ids=port_id)
@pytest.mark.parametrize("in_fmt,out_fmt,op", [
    ("e5m2", None, "gemm"), ("e4m3", None, "addmax"), ("fp16", "e5m2", "mulmin"),
    ("fp16", "e4m3", "gemm"), ("e4m3", "fp16", "minmax"), ("e5m2", "e4m3", "matmul"),
])
def test_parity_fp8(in_fmt, out_fmt, op, config):
    x, w, y = job_operands(20, 5, 3, 7, in_fmt, out_fmt or in_fmt)
    res = run_both(config, op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, stall=0.3, latency=3, seed=3)
    check_golden(res, op, x, w, y, in_fmt, out_fmt)


@pytest.mark.parametrize("in_fmt,out_fmt,op", [
    ("fp16", None, "gemm"), ("e4m3", "fp16", "addmin"), ("fp16", "e5m2", "mulmax")])
def test_parity_odd_fp8_port(in_fmt, out_fmt, op):
    # A 56-bit port (D = 3: the high half of an FP16 beat starts 3 bytes after its low half), rows at
    # odd offsets, strides, queued jobs and a soft clear: both harnesses' memory models serve a port
    # that is not a whole number of words.
    x, w, y = job_operands(110, 4, 7, 8, in_fmt, out_fmt or in_fmt)
    es_in = 2 if in_fmt == "fp16" else 1
    es_out = 2 if (out_fmt or in_fmt) == "fp16" else 1
    res = run_both(ODD_FP8, op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, stall=0.3, latency=2, seed=7,
                   strides=(7 * es_in + es_in, 8 * es_in + 3 * es_in, 8 * es_out + es_out), queue=2,
                   abort_after=20)
    check_golden(res, op, x, w, y, in_fmt, out_fmt)


def test_parity_no_stall_and_queue():
    x, w, y = job_operands(30, 4, 4, 8)
    res = run_both(SMALL, "gemm", x, w, y, queue=3, y_sep=True)
    check_golden(res, "gemm", x, w, y)


def test_parity_abort_then_jobs():
    # The soft clear of a running job (the harness is told when the script relaxes the checks).
    x, w, y = job_operands(40, 5, 6, 9)
    res = run_both(SMALL, "addmin", x, w, y, stall=0.3, latency=2, seed=9, abort_after=30,
                   strides=(16, 24, 20))
    check_golden(res, "addmin", x, w, y)


@pytest.mark.parametrize("op,M,N,K,fmt", [
    ("gemm", 9, 5, 11, "fp16"), ("maxmin", 5, 3, 17, "fp16"), ("mulmax", 6, 7, 9, "e4m3"),
])
def test_parity_mid_config(op, M, N, K, fmt):
    x, w, y = job_operands(50 + M, M, N, K, fmt)
    res = run_both(MID, op, x, w, y, in_fmt=fmt, stall=0.3, latency=3, seed=M)
    check_golden(res, op, x, w, y, fmt)
