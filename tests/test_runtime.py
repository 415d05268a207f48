"""The tiling runtime (``redmule_hdl.runtime``) and the live simulator under it (``sim.session``):
any size, every op and format, bit-exact against ``golden.gemm_op`` on the whole problem."""
import numpy as np
import pytest

from redmule_hdl import Config, golden, sim
from redmule_hdl.runtime import JobRefused, Runtime
from redmule_hdl.sim.session import Session
from redmule_hdl.spec.jobs import job_registers
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JobError, Reg

SMALL = Config(L=2, H=2, P=1)


def _bits(rng, shape, fmt="fp16"):
    return golden.from_float(rng.normal(size=shape), fmt)


@pytest.fixture(scope="module")
def rt():
    # 512 bytes of TCDM: every problem below is cut into many jobs.
    with Runtime(SMALL, tcdm_bytes=512, backend="verilator") as runtime:
        yield runtime


def _check(rt, op, M, N, K, in_fmt="fp16", out_fmt=None, seed=0):
    rng = np.random.default_rng(seed)
    x, w = _bits(rng, (M, N), in_fmt), _bits(rng, (N, K), in_fmt)
    y = _bits(rng, (M, K), out_fmt or in_fmt)
    r = rt.gemm_op(op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)
    want = golden.gemm_op(op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)
    assert r.z.dtype == want.dtype and np.array_equal(r.z, want), (op, M, N, K, in_fmt, out_fmt)
    return r


def test_tiling_with_leftovers_in_every_dimension(rt):
    r = _check(rt, "gemm", 29, 37, 23)
    m0s, n0s, k0s = ({getattr(j, a) for j in r.records} for a in ("m0", "n0", "k0"))
    assert len(m0s) > 1 and len(n0s) > 1 and len(k0s) > 1
    # Leftover tiles: some job is smaller than the planned tile in each dimension.
    for dim in ("m", "n", "k"):
        assert len({getattr(j, dim) for j in r.records}) > 1, dim
    assert r.jobs == len(r.records) > 8
    assert sum(j.cycles for j in r.records) == r.cycles > 0
    assert sum(j.fmas for j in r.records) == 29 * 37 * 23 == r.stats.fmas
    assert 0 < r.utilization <= 1
    assert r.stats.sim_cycles >= r.cycles
    assert r.stats.port_bytes == (r.stats.tcdm_reads + r.stats.tcdm_writes) * SMALL.port_width // 8
    assert r.stats.host_bytes > 0 and r.stats.transposed == 0


@pytest.mark.parametrize("op", list(GemmOp))
def test_every_op_with_a_split_reduction(rt, op):
    r = _check(rt, op, 7, 29, 6, seed=int(op))
    firsts = [j for j in r.records if j.n0 == 0]
    later = [j for j in r.records if j.n0 > 0]
    assert later, "the reduction was not split"
    # Only the first chunk of a MATMUL starts from +0; the later ones take the partial Z as Y.
    assert all(j.op is op for j in firsts)
    assert all(j.op is (GemmOp.GEMM if op is GemmOp.MATMUL else op) for j in later)


@pytest.mark.parametrize("in_fmt,out_fmt", [("e4m3", "e5m2"), ("fp16", "e4m3"), ("e5m2", None),
                                            ("e4m3", "fp16")])
def test_fp8_with_fp16_partials(rt, in_fmt, out_fmt):
    split = _check(rt, "gemm", 9, 41, 10, in_fmt, out_fmt, seed=3)
    assert any(j.n0 for j in split.records)
    fout = out_fmt or in_fmt
    if fout != "fp16":
        # FP16 partials: Y widened and Z rounded once to FP8, both in software.
        assert split.stats.host_cast == 2 * 9 * 10
    whole = _check(rt, "matmul", 3, 5, 4, in_fmt, out_fmt, seed=4)   # one job: FP8 written by the engine
    assert whole.jobs == 1 and whole.stats.host_cast == 0


def test_transposes_are_done_by_the_host_and_counted(rt):
    rng = np.random.default_rng(5)
    a, b, g = _bits(rng, (16, 9)), _bits(rng, (7, 16)), _bits(rng, (9, 7))
    r = rt.gemm_op("matmul", a, b.T.copy(), transpose_x=True)        # a.T @ b.T.T
    assert np.array_equal(r.z, golden.gemm_op("matmul", a.T.copy(), b.T.copy()))
    assert r.stats.transposed == a.size
    r = rt.gemm_op("gemm", a.T.copy(), b, g, transpose_w=True)         # a.T @ b.T + g
    assert np.array_equal(r.z, golden.gemm_op("gemm", a.T.copy(), b.T.copy(), g))
    assert r.stats.transposed == b.size


def test_one_simulator_for_every_job(rt):
    live = rt.session.live
    pid = live.harness.proc.pid
    before = rt.session.cycle
    jobs_before = rt.totals.jobs
    _check(rt, "addmax", 5, 9, 5)
    _check(rt, "minmax", 4, 3, 9)
    assert rt.session.live is live and live.harness.proc.pid == pid and live.harness.proc.poll() is None
    assert rt.session.cycle > before and rt.totals.jobs > jobs_before


def test_bad_arguments_fail_before_anything_runs(rt):
    rng = np.random.default_rng(0)
    x, w, y = _bits(rng, (3, 4)), _bits(rng, (4, 5)), _bits(rng, (3, 5))
    cycle = rt.session.cycle
    with pytest.raises(TypeError, match="^op"):
        rt.gemm_op(True, x, w, y)
    with pytest.raises(ValueError, match="^op"):
        rt.gemm_op("addsub", x, w, y)
    with pytest.raises(ValueError, match="^x must hold"):
        rt.gemm_op("gemm", x.astype(np.float32), w, y)
    with pytest.raises(ValueError, match="^w must have shape"):
        rt.gemm_op("gemm", x, w.T, y)
    with pytest.raises(ValueError, match="^y"):
        rt.gemm_op("gemm", x, w)
    with pytest.raises(ValueError, match="^in_fmt"):
        rt.gemm_op("gemm", x, w, y, in_fmt="fp32")
    with pytest.raises(TypeError, match="^transpose_x"):
        rt.gemm_op("gemm", x, w, y, transpose_x=1)
    with pytest.raises(ValueError, match="^w must be a 2-D"):
        rt.gemm_op("gemm", x, w[0], y, transpose_w=True)
    assert rt.session.cycle == cycle
    with pytest.raises(TypeError, match="^config"):
        Runtime("12x4x3")
    with pytest.raises(ValueError, match="^tcdm_bytes"):
        Runtime(SMALL, tcdm_bytes=16)
    with pytest.raises(TypeError, match="^tcdm_bytes"):
        Runtime(SMALL, tcdm_bytes=4096.0)
    with pytest.raises(ValueError, match="^backend"):
        Runtime(SMALL, backend="icarus")
    with pytest.raises(ValueError, match="^latency"):
        Runtime(SMALL, latency=0)


def test_refusal_by_the_hardware_carries_the_error_code():
    # Without the misaligned port and with D = 2 (not a multiple of 4), an FP8 job whose rows span
    # several beats is refused by the controller (MISALIGNED); the runtime does not second-guess it.
    config = Config(L=1, H=1, P=1, misaligned=False)
    rng = np.random.default_rng(1)
    with Runtime(config, backend="amaranth") as rt:
        with pytest.raises(JobRefused) as e:
            rt.gemm_op("matmul", _bits(rng, (2, 3), "e4m3"), _bits(rng, (3, 5), "e4m3"), in_fmt="e4m3")
        assert e.value.error == JobError.MISALIGNED and "ERROR = 4" in str(e.value)
        assert e.value.regs[Reg.MCFG1] == 3
        # The accelerator is still usable; FP16 rows are padded to whole words.
        _check(rt, "gemm", 3, 5, 3)


def test_back_ends_agree_cycle_for_cycle():
    rng = np.random.default_rng(2)
    x, w, y = _bits(rng, (5, 13)), _bits(rng, (13, 6)), _bits(rng, (5, 6))
    out = {}
    for backend in ("amaranth", "verilator"):
        with Runtime(SMALL, tcdm_bytes=256, backend=backend, stall=0.2, latency=2, seed=4) as rt:
            r1 = rt.gemm_op("addmin", x, w, y)
            r2 = rt.gemm_op("matmul", x, w)
            out[backend] = [(j.m0, j.n0, j.k0, j.cycles) for j in r1.records + r2.records], \
                r1.stats.sim_cycles + r2.stats.sim_cycles, r1.z, r2.z
    a, v = out["amaranth"], out["verilator"]
    assert a[0] == v[0] and a[1] == v[1]
    assert np.array_equal(a[2], v[2]) and np.array_equal(a[3], v[3])
    assert np.array_equal(v[2], golden.gemm_op("addmin", x, w, y))


@pytest.mark.parametrize("backend", ["amaranth", "verilator"])
def test_session_continues_cycle_for_cycle(backend):
    """A session's first job costs what run_job's does (same memory seed and grants); later offloads
    continue the same clock."""
    rng = np.random.default_rng(3)
    M, N, K = 5, 7, 6
    x, w, y = _bits(rng, (M, N)), _bits(rng, (N, K)), _bits(rng, (M, K))
    one = sim.run_job(SMALL, "gemm", x, w, y, stall=0.2, latency=2, seed=3, backend=backend)
    with Session(SMALL, 2048, backend=backend, stall=0.2, latency=2, seed=3) as s:
        s.place_matrix(0, x)
        s.place_matrix(0x100, w)
        s.place_matrix(0x200, y)
        regs = job_registers(x_addr=0, w_addr=0x100, z_addr=0x200, m=M, n=N, k=K, op="gemm")
        first = s.offload([regs])
        assert first.jobs[0].cycles == one.cycles and first.jobs[0].ok
        assert np.array_equal(s.read_matrix(0x200, (M, K)), one.z)
        cycle = s.cycle
        second = s.offload([regs, regs])      # queued through both contexts, in place: Z -> Y -> Z
        assert s.cycle == cycle + second.sim_cycles
        assert second.jobs[0].trigger_cycle >= cycle
        z = one.z
        for _ in range(2):
            z = golden.gemm_op("gemm", x, w, z)
        assert np.array_equal(s.read_matrix(0x200, (M, K)), z)
        assert second.reads > 0 and second.writes > 0
        with pytest.raises(TypeError, match="^jobs"):
            s.offload(regs)
        with pytest.raises(ValueError, match="not a job register"):
            s.offload([{Reg.TRIGGER: 0}])
        with pytest.raises(ValueError, match="outside the TCDM"):
            s.place_matrix(2040, x)
    assert s.closed
    with pytest.raises(RuntimeError, match="closed"):
        s.offload([regs])
