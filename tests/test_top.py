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
from redmule_hdl.system.controller import Controller

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


def test_a_reused_simulator_runs_a_job_as_a_new_one():
    """Benches of one Config share a compiled simulator, reset between runs: after an aborted job and
    a run that ended in an error (a clear that came too late), a job gives the cycles, bus traffic
    and bits it gives on a new simulator."""
    from redmule_hdl.sim.amaranth_backend import compiled_configs, forget_compiled

    def job():
        x, w, y = operands(7, 3, 5, 6)
        return sim.run_job(C221, "gemm", x, w, y, stall=0.3, latency=2, seed=7)

    def summary(r):
        return r.cycles, r.sim_cycles, r.first_request, r.reads, r.writes, r.refused, r.z.tobytes()

    forget_compiled()
    fresh = summary(job())
    assert compiled_configs() == [C221]
    x, w, y = operands(8, 4, 3, 5)
    sim.run_job(C221, "gemm", x, w, y, stall=0.6, latency=2, seed=3, abort_after=11)
    with pytest.raises(ValueError):
        sim.run_job(C221, "gemm", x, w, y, abort_after=10_000)
    assert compiled_configs() == [C221]     # the job below runs on the same, reused simulator
    assert summary(job()) == fresh


@pytest.mark.parametrize("config", [C221, C221_FP8], ids=port_id)
@pytest.mark.parametrize("op", list(GemmOp), ids=lambda o: o.name.lower())
def test_every_op_fp16_with_leftovers(op, config):
    r = check(config, op, 3, 5, 6, seed=int(op))
    # CYCLES counts from the accepted trigger to evt.
    assert r.cycles == r.runs[0].evt_cycle - r.runs[0].trigger_cycle


# Both zeros, subnormals, normals of equal magnitude and both signs, the largest finite values,
# both infinities, and NaNs (canonical, negative, signalling, with a payload).
COMPARE_SPECIALS = np.array([
    0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x3C00, 0xBC00, 0x3C01, 0x7BFF, 0xFBFF,
    0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7FFF,
], np.uint16)


@pytest.mark.parametrize("op", ["maxmin", "minmax"])
def test_compare_ops_on_every_pair_of_special_values(op):
    """The CEs compare x and w one cycle ahead (on the operands of the next cycle) and register only
    the choice: every pair of special values, each in its own output (N = 1, X a column, W a row of
    them), must give the direct comparison. Y = NaN makes Z = minmax(x, w) itself."""
    config = Config(L=2, H=2, P=3)
    x = COMPARE_SPECIALS[:, None].copy()
    w = COMPARE_SPECIALS[None, :].copy()
    y = np.full((len(COMPARE_SPECIALS),) * 2, 0x7E00, np.uint16)
    r = sim.run_job(config, op, x, w, y, seed=1)
    assert r.error == JobError.OK and r.guard_ok
    direct = (golden.maximum if op == "maxmin" else golden.minimum)(x, w)
    assert (golden.gemm_op(op, x, w, y) == direct).all()
    bad = np.argwhere(r.z != direct)
    assert not bad.size, (f"{len(bad)} wrong, first x={x[bad[0][0], 0]:#06x} w={w[0, bad[0][1]]:#06x}: "
                          f"{r.z[tuple(bad[0])]:#06x} != {direct[tuple(bad[0])]:#06x}")


@pytest.mark.parametrize("op", ["maxmin", "minmax"])
def test_compare_ops_on_special_values_with_stalls(op):
    """Special values only, several steps per output and a refusing memory: the registered operand
    choice holds while the array stalls and follows each new X and W."""
    rng = np.random.default_rng(8)
    x, w, y = (rng.choice(COMPARE_SPECIALS, shape) for shape in ((5, 7), (7, 9), (5, 9)))
    r = sim.run_job(C221, op, x, w, y, stall=0.4, seed=3)
    assert r.refused > 0 and r.error == JobError.OK and r.guard_ok
    assert (r.z == golden.gemm_op(op, x, w, y)).all()


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
    """Trigger -> first TCDM request: 2 cycles (the controller's job register, then the streamer's
    first request); last store grant -> evt: 1 cycle (registered, so no input of the memory port
    reaches evt in the same cycle)."""
    r = check(C221, "gemm", 2, 2, 4, seed=1)
    assert r.first_request == Controller.START_CYCLES + 1
    assert r.store_to_evt == 1
    assert r.cycles == r.runs[0].evt_cycle - r.runs[0].trigger_cycle


def test_jobs_back_to_back():
    """Three copies through two contexts: each correct. The second starts soon after its trigger,
    while the first still runs (its loads overlap the first's end), so each later job adds
    fewer cycles than a job alone; CYCLES still counts from each job's start to its own evt."""
    r = check(C221, "gemm", 3, 3, 5, queue=3, seed=4)
    a, b, c = r.runs
    assert a.cycles == a.evt_cycle - a.trigger_cycle
    assert b.trigger_cycle < a.evt_cycle   # b was queued while a ran ...
    # ... and started right after the controller's read-after-write check
    assert b.cycles == b.evt_cycle - (b.trigger_cycle + 1 + Controller.GUARD_CYCLES)
    assert a.evt_cycle < b.evt_cycle < c.evt_cycle
    assert b.evt_cycle - a.evt_cycle < a.cycles and c.evt_cycle - b.evt_cycle < a.cycles


@pytest.mark.parametrize("config,op,M,N,K,in_fmt,out_fmt", [
    (Config(L=2, H=2, P=3), "gemm", 5, 24, 13, "fp16", None),
    (Config(L=2, H=2, P=3), "matmul", 4, 16, 16, "e4m3", "fp16"),
    *((Config(L=2, H=2, P=3, beat_format="fp8"), "gemm", 5, 24, 13, i, o)
      for i, o in (("fp16", None), ("e4m3", None), ("e5m2", "fp16"), ("fp16", "e4m3"))),
    (Config(L=3, H=2, P=3, beat_format="fp8"), "matmul", 4, 16, 16, "fp16", None),
    # The first tile's second X group (four two-transfer rows, on demand) runs the W FIFO dry unless
    # a two-transfer W beat is urgent from the cycle its last beat is taken (one cycle late before).
    (Config(L=4, H=2, P=3, beat_format="fp8"), "gemm", 4, 32, 8, "fp16", None),
], ids=lambda v: port_id(v) if isinstance(v, Config) else str(v))
def test_fixed_cost_of_a_compute_bound_job(config, op, M, N, K, in_fmt, out_fmt):
    """docs/architecture.md, "Timing model": with 1-cycle memory and every grant, a compute-bound job
    takes C + 1 + t_in*(r0 + 1) + t_out*uses_y*r0 + D + t_out*r1 + 1 cycles, t_in and t_out being the
    transfers per beat of the input and output format (two for FP16 on a port of D FP8 elements)."""
    out = out_fmt or in_fmt
    uses_y = GemmOp.parse(op).uses_y
    C = config.compute_bound(M, N, K)
    assert config.port_bound(M, N, K, uses_y=uses_y, in_fmt=in_fmt, out_fmt=out) < C
    fixed = config.schedule(M, N, K, uses_y=uses_y).fixed_cycles(in_fmt, out)
    r = check(config, op, M, N, K, in_fmt=in_fmt, out_fmt=out_fmt, seed=19)
    assert r.cycles == C + fixed


@pytest.mark.parametrize("config", [C221, C221_FP8], ids=port_id)
@pytest.mark.parametrize("abort_after,stall", [(2, 0.0), (12, 0.0), (40, 0.0), (25, 0.3)])
def test_soft_clear_mid_job_then_correct_job(abort_after, stall, config):
    """Abort at the first requests, mid-compute, during the Z stores, and under grant stalls: no
    request after the abort (checked by run_job), nothing outside Z written, the next job exact."""
    r = check(config, "gemm", 3, 5, 6, abort_after=abort_after, stall=stall, seed=6)
    assert len(r.runs) == 1


@pytest.mark.parametrize("seed,abort_after", [(0, 55), (1, 62), (2, 71), (3, 83), (1, 81), (3, 68)])
def test_soft_clear_while_a_request_waits_for_its_grant(seed, abort_after):
    """Grants refused 70% of the time, read latency 4: the soft clear comes while a request waits.
    A waiting Z store keeps its data and byte enables until granted (the memory model fails on any
    change), and its grant (or a waiting read's) moves nothing of the next job, which runs exactly.
    In the last two a Z store waits (a streamer that does not keep its beat fails them); when the
    first four were chosen, seeds 0 and 1 changed a waiting store's data (the engine's Z beat left
    with the abort) and seeds 2 and 3 hung the next job (the orphan grant advanced the Y walker)."""
    r = check(C221, "gemm", 3, 5, 6, abort_after=abort_after, stall=0.7, latency=4, seed=seed)
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


@pytest.mark.parametrize("backend", ["amaranth", "verilator"])
def test_queued_jobs_of_every_kind_and_dependent_ones(backend):
    """Different ops, formats and shapes queued back to back, two of them reading what an earlier
    job writes: job 3 reads job 1's Z as Y, and job 4 reads part of job 3's Z (the job right before
    it) as W. Every Z bit-exact against the jobs run one by one; the independent job 2 runs beside
    job 1, the dependent job 4 starts only after job 3's evt."""
    from redmule_hdl.sim.session import Session
    config = Config(L=2, H=2, P=1, contexts=3)
    rng = np.random.default_rng(11)
    with Session(config, 4096, backend=backend, stall=0.2, latency=2, seed=5) as s:
        def place(addr, shape, fmt="fp16"):
            bits = random_matrix(rng, shape, fmt=fmt, special_fraction=0.1)
            s.place_matrix(addr, bits, fmt)
            return bits

        x1, w1, y1 = place(0x000, (5, 6)), place(0x100, (6, 7)), place(0x200, (5, 7))
        x2, w2 = place(0x300, (3, 9), "e4m3"), place(0x380, (9, 5), "e4m3")
        x3, w3 = place(0x480, (5, 3)), place(0x500, (3, 7))
        x4, y4 = place(0x680, (7, 5)), place(0x700, (7, 2))
        x5, w5, y5 = (place(a, (4, 4), "e5m2") for a in (0x780, 0x7C0, 0x800))
        regs = [
            jobs.job_registers(x_addr=0x000, w_addr=0x100, z_addr=0x200, m=5, n=6, k=7, op="gemm"),
            jobs.job_registers(x_addr=0x300, w_addr=0x380, z_addr=0x400, m=3, n=9, k=5, op="matmul",
                               in_fmt="e4m3", out_fmt="fp16"),
            jobs.job_registers(x_addr=0x480, w_addr=0x500, y_addr=0x200, z_addr=0x600, m=5, n=3, k=7,
                               op="addmax"),
            # W = the first two columns of job 3's Z (5 x 7 FP16, rows 14 bytes apart).
            jobs.job_registers(x_addr=0x680, w_addr=0x600, w_stride=14, z_addr=0x700, m=7, n=5, k=2,
                               op="gemm"),
            jobs.job_registers(x_addr=0x780, w_addr=0x7C0, z_addr=0x800, m=4, n=4, k=4, op="minmax",
                               in_fmt="e5m2"),
        ]
        done = s.offload(regs)
        z1 = golden.gemm_op("gemm", x1, w1, y1)
        z3 = golden.gemm_op("addmax", x3, w3, z1)
        expected = [
            (0x200, z1, "fp16"),
            (0x400, golden.gemm_op("matmul", x2, w2, in_fmt="e4m3", out_fmt="fp16"), "fp16"),
            (0x600, z3, "fp16"),
            (0x700, golden.gemm_op("gemm", x4, z3[:, :2], y4), "fp16"),
            (0x800, golden.gemm_op("minmax", x5, w5, y5, in_fmt="e5m2"), "e5m2"),
        ]
        assert all(job.ok for job in done.jobs)
        for i, (addr, z, fmt) in enumerate(expected):
            assert np.array_equal(s.read_matrix(addr, z.shape, fmt), z), f"job {i + 1}"
        j = done.jobs
        assert j[1].trigger_cycle < j[0].evt_cycle and j[1].evt_cycle - j[0].evt_cycle < j[1].cycles
        # Job 4 was queued while job 3 ran, but started (evt - CYCLES) only after job 3's evt.
        assert j[3].trigger_cycle < j[2].evt_cycle < j[3].evt_cycle - j[3].cycles


def test_job_whose_z_overlaps_its_own_operands():
    """Issue 20: with Z at X's address, a job of more than one tile read X bytes that its earlier
    tiles had already replaced, depending on the grant pattern (12x33x33 on 12x4x3: 12 elements of
    column 32 wrong). Now such a job (Z sharing a byte with X, W, or a Y read from elsewhere) is
    refused with OVERLAP after the overlap check, touching no memory; a single-tile job in place of
    X and Z = X*W + Z with Y at Z's address stay exact."""
    config = C221                         # L = 2, D = 4
    M, N, K = 3, 3, 5                     # 2 x 2 tiles
    x, w, y = operands(21, M, N, K)
    bench = JobBench(config, 1024, seed=21, stall=0.3)
    mem = bench.mem
    X, W, Z = 0x40, 0x80, 0x100
    mem.place_matrix(X, x)
    mem.place_matrix(W, w)
    mem.place_matrix(Z, y)
    mem.snapshot()
    refused = [dict(z_addr=X, op="matmul"), dict(z_addr=W + 2, op="matmul"),
               dict(y_addr=Z + 2 * K)]      # Y one row after Z
    results = []

    async def script(ctx, d):
        for kw in refused:
            regs = jobs.job_registers(**{**dict(x_addr=X, w_addr=W, z_addr=Z, m=M, n=N, k=K, op="gemm"),
                                         **kw})
            assert jobs.job_error(regs, config) == JobError.OVERLAP
            t, e = await d.offload(ctx, regs)
            results.append((await d.read(ctx, Reg.ERROR), await d.read(ctx, Reg.CYCLES), e - t))
        assert mem.log == [] and bench.req_rises == []
        mem.guard_check([])     # not a byte changed
        # In place of Y (Z = X*W + Z), two by two tiles: exact.
        await d.offload(ctx, jobs.job_registers(x_addr=X, w_addr=W, z_addr=Z, m=M, n=N, k=K, op="gemm"))
        results.append(await d.read(ctx, Reg.ERROR))
        # One tile (M <= L, K <= D) with Z in place of X: every X byte is read before the store.
        await d.offload(ctx, jobs.job_registers(x_addr=X, w_addr=W, z_addr=X, m=2, n=3, k=3, op="matmul",
                                                w_stride=2 * K))
        results.append(await d.read(ctx, Reg.ERROR))

    bench.run(script)
    wait = Controller.GUARD_CYCLES
    assert results[:3] == [(JobError.OVERLAP, 1 + wait, 1 + wait)] * 3
    assert results[3:] == [JobError.OK, JobError.OK]
    assert np.array_equal(mem.read_matrix(Z, (M, K)), golden.gemm_op("gemm", x, w, y))
    assert np.array_equal(mem.read_matrix(X, (2, 3)), golden.gemm_op("matmul", x[:2], w[:, :3]))
