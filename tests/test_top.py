"""The complete accelerator through its bus ports (``sim.run_job``), compared with golden.gemm_op by bits.

Small configurations only: (2,2,1) (D = 4) and (3,2,1), with the usual port of D FP16 elements and
with a port of D FP8 elements (``beat_format="fp8"``: FP16 beats move as two transfers). Shapes are
chosen so that M, N and K leave leftovers (M % L, N % H, K % D non-zero) unless a test says otherwise.
"""
import numpy as np
import pytest

from redmule_hdl import sim
from redmule_hdl.config import Config
from redmule_hdl.sim.amaranth_backend import AmaranthBench as JobBench
from redmule_hdl.spec import golden, jobs
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JobError, Reg

from .helpers import random_matrix

C221 = Config(L=2, H=2, P=1)
C321 = Config(L=3, H=2, P=1)
C221_FP8 = Config(L=2, H=2, P=1, beat_format="fp8")
C321_FP8 = Config(L=3, H=2, P=1, beat_format="fp8")


def port_id(config):
    return f"{config}-{config.beat_format}-port"


def operands(seed, M, N, K, op="gemm", in_fmt="fp16", out_fmt=None, special=0.1):
    rng = np.random.default_rng(seed)
    x = random_matrix(rng, (M, N), in_fmt, special)
    w = random_matrix(rng, (N, K), in_fmt, special)
    y = random_matrix(rng, (M, K), out_fmt or in_fmt, special) if GemmOp.parse(op).uses_y else None
    return x, w, y


def check(config, op, M, N, K, *, in_fmt="fp16", out_fmt=None, seed=0, **kw):
    x, w, y = operands(seed, M, N, K, op, in_fmt, out_fmt)
    r = sim.run_job(config, op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, seed=seed, **kw)
    ref = golden.gemm_op(op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)
    assert r.error == JobError.OK
    assert r.guard_ok, r.guard_message
    for run in r.runs:
        bad = np.argwhere(run.z != ref)
        assert not bad.size, f"{len(bad)} wrong elements, first at {bad[0]}: {run.z[tuple(bad[0])]:#x} " \
                             f"!= {ref[tuple(bad[0])]:#x}"
    return r


@pytest.mark.parametrize("config", [C221, C221_FP8], ids=port_id)
@pytest.mark.parametrize("op", list(GemmOp), ids=lambda o: o.name.lower())
def test_every_op_fp16_with_leftovers(op, config):
    r = check(config, op, 3, 5, 6, seed=int(op))
    # CYCLES counts from the accepted trigger to evt.
    assert r.cycles == r.runs[0].evt_cycle - r.runs[0].trigger_cycle


@pytest.mark.parametrize("config,in_fmt,out_fmt", [
    *((C321, i, o) for i, o in (("e5m2", None), ("e4m3", None), ("e5m2", "fp16"), ("fp16", "e4m3"),
                                ("e4m3", "e5m2"))),
    *((C321_FP8, i, o) for i, o in (("fp16", None), ("e4m3", None), ("e5m2", None), ("e5m2", "fp16"),
                                    ("fp16", "e4m3"), ("e4m3", "e5m2"), ("fp16", "e5m2"))),
], ids=lambda v: port_id(v) if isinstance(v, Config) else str(v))
def test_fp8_formats(config, in_fmt, out_fmt):
    check(config, "gemm", 4, 3, 7, in_fmt=in_fmt, out_fmt=out_fmt, seed=3)


@pytest.mark.parametrize("config", [C221, C221_FP8], ids=port_id)
@pytest.mark.parametrize("op", ["addmax", "mulmin"])
def test_fp8_ops(op, config):
    check(config, op, 3, 3, 5, in_fmt="e4m3", out_fmt="fp16", seed=5)


def test_fp8_port_n_and_k_beyond_d():
    # Rows of several beats on the FP8 port: N and K larger than D (two k-tiles, three n-chunks),
    # each format pair in one job.
    check(C221_FP8, "gemm", 3, 9, 7, seed=14, stall=0.2, latency=2)
    check(C221_FP8, "maxmin", 3, 9, 7, in_fmt="e4m3", seed=15)
    check(C221_FP8, "matmul", 3, 9, 7, in_fmt="fp16", out_fmt="e4m3", seed=16, stall=0.2)
    check(C221_FP8, "mulmax", 3, 9, 7, in_fmt="e5m2", out_fmt="fp16", seed=17, latency=2)


@pytest.mark.parametrize("config", [C221, C221_FP8], ids=port_id)
@pytest.mark.parametrize("in_fmt,out_fmt", [("fp16", None), ("e5m2", "e4m3"), ("e4m3", "fp16")])
def test_strides_and_y_sep(in_fmt, out_fmt, config):
    M, N, K = 3, 3, 5
    # Pitches larger than a row, element aligned but not word aligned.
    es_in = 2 if in_fmt == "fp16" else 1
    es_out = 2 if (out_fmt or in_fmt) == "fp16" else 1
    strides = (N * es_in + 6, K * es_in + 2 * es_in, K * es_out + 10)
    check(config, "gemm", M, N, K, in_fmt=in_fmt, out_fmt=out_fmt, strides=strides, y_sep=True, seed=9)
    check(config, "minmax", M, N, K, in_fmt=in_fmt, out_fmt=out_fmt, strides=strides, seed=10)


@pytest.mark.parametrize("config", [C221, C221_FP8], ids=port_id)
@pytest.mark.parametrize("latency", [1, 3])
@pytest.mark.parametrize("stall", [0.0, 0.3, 0.7])
def test_memory_stalls_and_latency(stall, latency, config):
    r = check(config, "gemm", 3, 5, 6, stall=stall, latency=latency, seed=11)
    if stall:
        assert r.refused > 0


def test_fp8_port_cycles_against_the_fp16_port():
    """An FP8 job takes the same cycles on both ports (one transfer per beat); an FP16 job on the
    FP8 port is port bound, at 2 transfers per beat (B = Config.port_bound with FP16 formats)."""
    fp8 = [check(c, "gemm", 4, 8, 8, in_fmt="e4m3", seed=18).cycles for c in (C221, C221_FP8)]
    assert fp8[0] == fp8[1]
    fp16 = check(C221_FP8, "gemm", 4, 8, 8, seed=18).cycles
    B = C221_FP8.port_bound(4, 8, 8)
    assert B == 2 * C221.port_bound(4, 8, 8) > C221_FP8.compute_bound(4, 8, 8)
    assert B < fp16 <= B + 20


def test_latencies():
    """Trigger -> first TCDM request: 1 cycle; last store grant -> evt: 1 cycle (registered, so no
    input of the memory port reaches evt in the same cycle)."""
    r = check(C221, "gemm", 2, 2, 4, seed=1)
    assert r.first_request == 1
    assert r.store_to_evt == 1
    assert r.cycles == r.runs[0].evt_cycle - r.runs[0].trigger_cycle


def test_jobs_back_to_back():
    """Three copies through two contexts: each correct; a queued job starts the cycle after the
    previous evt and its CYCLES counts from there."""
    r = check(C221, "gemm", 3, 3, 5, queue=3, seed=4)
    a, b, c = r.runs
    assert a.cycles == a.evt_cycle - a.trigger_cycle
    assert b.trigger_cycle < a.evt_cycle   # b was queued while a ran
    assert b.cycles == b.evt_cycle - (a.evt_cycle + 1)
    assert c.evt_cycle - b.evt_cycle == b.cycles + 1


@pytest.mark.parametrize("config,op,M,N,K,in_fmt,out_fmt", [
    (Config(L=2, H=2, P=3), "gemm", 5, 24, 13, "fp16", None),
    (Config(L=2, H=2, P=3), "matmul", 4, 16, 16, "e4m3", "fp16"),
    *((Config(L=2, H=2, P=3, beat_format="fp8"), "gemm", 5, 24, 13, i, o)
      for i, o in (("fp16", None), ("e4m3", None), ("e5m2", "fp16"), ("fp16", "e4m3"))),
    (Config(L=3, H=2, P=3, beat_format="fp8"), "matmul", 4, 16, 16, "fp16", None),
], ids=lambda v: port_id(v) if isinstance(v, Config) else str(v))
def test_fixed_cost_of_a_compute_bound_job(config, op, M, N, K, in_fmt, out_fmt):
    """docs/architecture.md, "Timing model": with 1-cycle memory and every grant, a compute-bound job
    takes C + 1 + t_in*(r0 + 1) + t_out*uses_y*r0 + D + t_out*r1 + 1 cycles, t_in and t_out being the
    transfers per beat of the input and output format (two for FP16 on a port of D FP8 elements)."""
    out = out_fmt or in_fmt
    uses_y = GemmOp.parse(op).uses_y
    C = config.compute_bound(M, N, K)
    assert config.port_bound(M, N, K, uses_y=uses_y, in_fmt=in_fmt, out_fmt=out) < C
    t_in, t_out = config.transfers_per_beat(in_fmt), config.transfers_per_beat(out)
    r0, r1 = min(config.L, M), M - (-(-M // config.L) - 1) * config.L
    r = check(config, op, M, N, K, in_fmt=in_fmt, out_fmt=out_fmt, seed=19)
    assert r.cycles == C + 1 + t_in * (r0 + 1) + t_out * uses_y * r0 + config.D + t_out * r1 + 1


@pytest.mark.parametrize("config", [C221, C221_FP8], ids=port_id)
@pytest.mark.parametrize("abort_after,stall", [(2, 0.0), (12, 0.0), (40, 0.0), (25, 0.3)])
def test_soft_clear_mid_job_then_correct_job(abort_after, stall, config):
    """Abort at the first requests, mid-compute, during the Z stores, and under grant stalls: no
    request after the abort (checked by run_job), nothing outside Z written, the next job exact."""
    r = check(config, "gemm", 3, 5, 6, abort_after=abort_after, stall=stall, seed=6)
    assert len(r.runs) == 1


@pytest.mark.parametrize("beat_format", ["fp16", "fp8"])
def test_word_aligned_config(beat_format):
    config = Config(L=2, H=2, P=1, misaligned=False, beat_format=beat_format)
    check(config, "gemm", 3, 4, 6, seed=2, stall=0.3)
    check(config, "matmul", 2, 4, 4, in_fmt="e5m2", seed=2)
    check(config, "addmin", 3, 8, 4, in_fmt="e4m3", out_fmt="fp16", seed=3, latency=2)
    check(config, "gemm", 3, 6, 8, in_fmt="fp16", out_fmt="e5m2", strides=(12, 16, 8), seed=4)


def test_narrow_port_with_d_not_a_multiple_of_4():
    """D = 6 without the shifter: FP16 rows of several beats are exact; an FP8 job whose later beats
    would start inside a word is refused (MISALIGNED) and touches no memory."""
    config = Config(L=2, H=3, P=1, misaligned=False)
    check(config, "gemm", 3, 14, 14, seed=4)
    x, w, y = operands(5, 2, 8, 8, in_fmt="e4m3")
    r = sim.run_job(config, "gemm", x, w, y, in_fmt="e4m3", strides=(8, 8, 8), seed=5)
    assert r.error == JobError.MISALIGNED and r.guard_ok and r.writes == 0
    assert config.narrow_fp8_ok is False


def test_unknown_backend():
    x, w, y = operands(0, 2, 2, 2)
    with pytest.raises(ValueError, match="backend"):
        sim.run_job(C221, "gemm", x, w, y, backend="verilator-ish")


def test_refused_jobs_touch_no_memory_and_engine_stays_usable():
    """Every refusal reason, in one simulation: its ERROR code, an evt, no TCDM request; then a good
    job runs correctly."""
    config = C221
    M, N, K = 3, 3, 5
    x, w, y = operands(8, M, N, K)
    bench = JobBench(config, 1024, seed=8)
    mem = bench.mem
    good = dict(x_addr=0x40, w_addr=0x80, z_addr=0x100, m=M, n=N, k=K, op="gemm")
    mem.place_matrix(0x40, x)
    mem.place_matrix(0x80, w)
    mem.place_matrix(0x100, y)
    mem.snapshot()
    bad = [
        (dict(m=0), JobError.SIZE_ZERO),
        (dict(n=0), JobError.SIZE_ZERO),
        (dict(k=0), JobError.SIZE_ZERO),
        (dict(in_fmt=3), JobError.BAD_FORMAT),
        (dict(out_fmt=6), JobError.BAD_FORMAT),
        (dict(x_addr=0x41), JobError.MISALIGNED),
        (dict(w_addr=0x81), JobError.MISALIGNED),
        (dict(z_addr=0x101), JobError.MISALIGNED),
        (dict(y_addr=0x201), JobError.MISALIGNED),
        (dict(x_stride=7), JobError.MISALIGNED),
        (dict(w_stride=11), JobError.MISALIGNED),
        (dict(z_stride=13), JobError.MISALIGNED),
    ]
    results = []

    async def script(ctx, d):
        for kw, _ in bad:
            t, e = await d.offload(ctx, jobs.job_registers(**{**good, **kw}))
            results.append((await d.read(ctx, Reg.ERROR), await d.read(ctx, Reg.CYCLES), e - t))
        assert await d.read(ctx, Reg.FINISHED) == len(bad)
        assert mem.log == [] and bench.req_rises == []
        mem.guard_check([])     # not a byte changed
        await d.offload(ctx, jobs.job_registers(**good))
        results.append((await d.read(ctx, Reg.ERROR), None, None))

    bench.run(script)
    for (kw, code), (error, cycles, span) in zip(bad, results):
        assert (error, cycles, span) == (code, 1, 1), kw
    assert results[-1][0] == JobError.OK
    mem.guard_check(mem.matrix_regions(0x100, (M, K)))
    z = mem.read_matrix(0x100, (M, K))
    assert np.array_equal(z, golden.gemm_op("gemm", x, w, y))


def test_single_context_queue():
    """With one context the second job's ACQUIRE returns -1 until the first has finished."""
    r = check(Config(L=2, H=2, P=1, contexts=1), "addmin", 3, 3, 5, queue=2, seed=12)
    a, b = r.runs
    assert b.trigger_cycle > a.evt_cycle
    assert b.cycles == b.evt_cycle - b.trigger_cycle
