"""Arguments of the entry points (``run_job``, ``run_engine``, ``golden.gemm_op``, ``GemmOp.parse``)
are checked before anything runs: a wrong one is a ``TypeError`` (wrong kind of value) or a
``ValueError`` (right kind, outside its rule) whose message starts with the argument's public name, the
same on both back ends. No test here simulates a single cycle unless its name says so: the back end
and the engine are replaced by tripwires.
"""
import numpy as np
import pytest

from redmule_hdl import golden
from redmule_hdl.config import Config
from redmule_hdl.sim import engine_runner, run
from redmule_hdl.sim.arguments import MAX_LATENCY, MAX_SIM_CYCLES, check_job_arguments
from redmule_hdl.spec.ops import GemmOp

C221 = Config(L=2, H=2, P=1)
X = np.array([[0x3C00, 0x4000, 0x0000], [0xBC00, 0x3800, 0x4200]], np.uint16)   # 2 x 3
W = np.array([[0x3C00, 0x0000], [0x4000, 0x3C00], [0xB800, 0x3400]], np.uint16)  # 3 x 2
Y = np.array([[0x0000, 0x3C00], [0x4000, 0xC000]], np.uint16)                    # 2 x 2
X8, W8, Y8 = (golden.cast(a, "fp16", "e4m3") for a in (X, W, Y))

BACKENDS = ["amaranth", "verilator"]


class SimulationStarted(Exception):
    pass


@pytest.fixture(autouse=True)
def tripwires(monkeypatch):
    """Any attempt to build a back end or an engine fails the test: every check must come first."""
    def refuse(*args, **kwargs):
        raise SimulationStarted("an argument check ran after the simulation was set up")
    monkeypatch.setattr(run, "make_backend", refuse)
    monkeypatch.setattr(engine_runner, "Engine", refuse)


def job(**over):
    """``run_job`` on the small valid job, with some arguments replaced."""
    args = {"config": C221, "op": "gemm", "x": X, "w": W, "y": Y}
    args.update(over)
    return run.run_job(args.pop("config"), args.pop("op"), args.pop("x"), args.pop("w"),
                       args.pop("y"), **args)


# (arguments, error type, the public name the message starts with)
RUN_JOB_CASES = [
    # the configuration and the op
    (dict(config="12x4x3"), TypeError, "config"),
    (dict(config=None), TypeError, "config"),
    (dict(op=True), TypeError, "op"),
    (dict(op=1.0), TypeError, "op"),
    (dict(op=None), TypeError, "op"),
    (dict(op=8), ValueError, "op"),
    (dict(op="gemmm"), ValueError, "op"),
    # the matrices: shape, dtype of the format, values
    (dict(x=X.astype(np.uint8)), ValueError, "x"),              # bytes given as FP16 bit patterns
    (dict(x=X8, w=W8), ValueError, "x"),                        # FP8 bytes without in_fmt
    (dict(x=X.astype(np.int64)), ValueError, "x"),
    (dict(x=X.astype(np.float32)), ValueError, "x"),
    (dict(x=X.astype(bool)), ValueError, "x"),
    (dict(x=X[0]), ValueError, "x"),
    (dict(x=np.zeros((0, 3), np.uint16)), ValueError, "x"),
    (dict(x=np.zeros((65536, 1), np.uint16), w=W[:1], y=np.zeros((65536, 2), np.uint16)), ValueError,
     "x"),
    (dict(w=W[:2]), ValueError, "w"),
    (dict(w=W.astype(np.uint32)), ValueError, "w"),
    (dict(y=None), ValueError, "y"),
    (dict(y=Y.T[:1]), ValueError, "y"),
    (dict(y=Y.astype(np.uint8)), ValueError, "y"),
    (dict(x=X8, w=W8, in_fmt="e4m3", out_fmt="fp16", y=Y8), ValueError, "y"),
    (dict(x=X8, w=W8, in_fmt="e4m3"), ValueError, "y"),         # Y in the default out_fmt: FP8
    (dict(in_fmt="fp32"), ValueError, "in_fmt"),
    (dict(in_fmt=1), ValueError, "in_fmt"),
    (dict(out_fmt="e4m3fn"), ValueError, "out_fmt"),
    # the memory model
    (dict(stall=-0.1), ValueError, "stall"),
    (dict(stall=1.0), ValueError, "stall"),
    (dict(stall=float("nan")), ValueError, "stall"),
    (dict(stall="0.3"), TypeError, "stall"),
    (dict(stall=True), TypeError, "stall"),
    (dict(stall=None), TypeError, "stall"),
    (dict(latency=0), ValueError, "latency"),
    (dict(latency=MAX_LATENCY + 1), ValueError, "latency"),
    (dict(latency=2.5), TypeError, "latency"),
    (dict(latency=True), TypeError, "latency"),
    (dict(latency="3"), TypeError, "latency"),
    (dict(seed=2.5), TypeError, "seed"),
    (dict(seed="1"), TypeError, "seed"),
    (dict(seed=True), TypeError, "seed"),
    (dict(seed=None), TypeError, "seed"),
    (dict(seed=-1), ValueError, "seed"),
    # the layout
    (dict(strides=(0, 0)), ValueError, "strides"),
    (dict(strides=(0, 0, 0, 0)), ValueError, "strides"),
    (dict(strides=(6.0, 0, 0)), TypeError, "strides"),
    (dict(strides=("8", 0, 0)), TypeError, "strides"),
    (dict(strides=(True, 0, 0)), TypeError, "strides"),
    (dict(strides="abc"), TypeError, "strides"),
    (dict(strides=8), TypeError, "strides"),
    (dict(strides=(-8, 0, 0)), ValueError, "strides"),
    (dict(strides=(4, 0, 0)), ValueError, "strides"),            # smaller than a row of 6 bytes
    (dict(strides=(0, 0, 1 << 32)), ValueError, "strides"),      # wider than the stride register
    (dict(strides=(0, 0, 1 << 31), queue=2), ValueError, "strides"),   # beyond 32-bit addresses
    (dict(y_sep=np.array([True, False])), TypeError, "y_sep"),
    (dict(y_sep="False"), TypeError, "y_sep"),
    (dict(y_sep=1), TypeError, "y_sep"),
    (dict(y_sep=None), TypeError, "y_sep"),
    # the run
    (dict(queue=True), TypeError, "queue"),
    (dict(queue=1.0), TypeError, "queue"),
    (dict(queue="2"), TypeError, "queue"),
    (dict(queue=0), ValueError, "queue"),
    (dict(abort_after=-1), ValueError, "abort_after"),
    (dict(abort_after=2.5), TypeError, "abort_after"),
    (dict(abort_after=True), TypeError, "abort_after"),
    (dict(abort_after=MAX_SIM_CYCLES + 1), ValueError, "abort_after"),
    (dict(max_cycles=0), ValueError, "max_cycles"),
    (dict(max_cycles=-5), ValueError, "max_cycles"),
    (dict(max_cycles=2.5), TypeError, "max_cycles"),
    (dict(max_cycles=True), TypeError, "max_cycles"),
    (dict(max_cycles=MAX_SIM_CYCLES + 1), ValueError, "max_cycles"),
    (dict(vcd=5), TypeError, "vcd"),
    (dict(vcd=""), ValueError, "vcd"),
    # the back end
    (dict(backend="verilator-ish"), ValueError, "backend"),
    (dict(backend=None), ValueError, "backend"),
    (dict(backend_options=[("cache_dir", "x")]), TypeError, "backend_options"),
    (dict(backend_options={"bogus": 1}), ValueError, "backend_options"),
    (dict(backend_options={1: 1}), ValueError, "backend_options"),
    (dict(backend_options={"stall": 0.5}), ValueError, "backend_options"),
]


def _case_id(case):
    def show(v):
        return f"{v.dtype}{list(v.shape)}" if isinstance(v, np.ndarray) else repr(v)[:24]
    return ",".join(f"{k}={show(v)}" for k, v in case[0].items())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", RUN_JOB_CASES, ids=[_case_id(c) for c in RUN_JOB_CASES])
def test_run_job_refuses_before_simulating(case, backend):
    over, error, name = case
    over = {"backend": backend, **over}
    with pytest.raises(error, match=rf"^{name}\b") as info:
        job(**over)
    assert not isinstance(info.value, SimulationStarted)
    # The same message on both back ends (only the back-end arguments depend on the back end).
    if not {"backend", "backend_options"} & set(case[0]):
        with pytest.raises(error) as other:
            job(**{**over, "backend": [b for b in BACKENDS if b != backend][0]})
        assert str(other.value) == str(info.value)


@pytest.mark.parametrize("over,name", [
    (dict(backend="amaranth", verilog_flow="export"), "verilog_flow"),
    (dict(backend="verilator", verilog_flow="fastest"), "verilog_flow"),
    (dict(backend="verilator", verilog_flow="sim", backend_options={"flow": "sim"}), "verilog_flow"),
    (dict(backend="amaranth", vcd="never.fst"), "vcd"),
    (dict(backend="amaranth", trace="never.saif"), "trace"),
    (dict(backend="verilator", trace="never.txt"), "trace"),
    (dict(backend="verilator", trace="/no/such/folder/t.fst"), "trace"),
    (dict(backend="verilator", trace="t.fst", trace_window=(5, 5)), "trace_window"),
    (dict(backend="verilator", trace_window=(0, 5)), "trace_window"),
    (dict(backend="verilator", trace="t.fst", vcd="t.vcd"), "vcd"),
    (dict(backend="amaranth", backend_options={"cache_dir": "somewhere"}), "backend_options"),
    (dict(backend="verilator", backend_options={"fastest": True}), "backend_options"),
    (dict(write_responses=1), "write_responses"),
    (dict(backend_options={"write_responses": True}), "backend_options"),
])
def test_back_end_specific_arguments(over, name):
    error = TypeError if name == "write_responses" else ValueError
    with pytest.raises(error, match=rf"^{name}\b"):
        job(**over)


def test_messages_use_the_public_names():
    """The memory model's own names (p_refuse, read_latency) never reach the caller."""
    for over in (dict(stall=1.5), dict(latency=0)):
        with pytest.raises(ValueError) as info:
            job(**over)
        assert "p_refuse" not in str(info.value) and "read_latency" not in str(info.value)
    assert str(info.value) == "latency must be in 1..65535, not 0"   # as README.md quotes it


def test_normalized_arguments():
    """numpy scalars, lists and ``None`` strides are accepted and become plain Python values."""
    a = check_job_arguments(C221, np.int64(1), X, W, Y, stall=0, latency=np.int32(2), seed=np.uint8(3),
                            strides=[0, None, np.int64(8)], y_sep=np.bool_(True), queue=np.int16(2),
                            abort_after=np.int64(5), max_cycles=np.int64(1000))
    assert a.op is GemmOp.GEMM
    assert a.stall == 0.0 and type(a.stall) is float
    assert (a.latency, a.seed, a.queue, a.abort_after, a.max_cycles) == (2, 3, 2, 5, 1000)
    assert all(type(v) is int for v in (a.latency, a.seed, a.queue, a.abort_after, a.max_cycles))
    assert a.strides == (0, 0, 8) and a.pitches == (6, 4, 8)
    assert a.y_sep is True
    assert (a.M, a.N, a.K) == (2, 3, 2)
    assert a.out_fmt is None and a.fout.name == "fp16"
    b = check_job_arguments(C221, "matmul", X8, W8, None, in_fmt="e4m3", out_fmt="fp16")
    assert b.fin.name == "e4m3" and b.out_fmt.name == "fp16" and b.y is None
    assert b.backend == "amaranth" and b.backend_options == {} and b.max_cycles is None
    c = check_job_arguments(C221, "gemm", X, W, Y, backend="verilator", verilog_flow="export",
                            backend_options={"cache_dir": "somewhere"})
    assert c.backend_options == {"cache_dir": "somewhere", "flow": "export"}
    # A big-endian uint16 array is still 16-bit unsigned: accepted, converted to native order.
    d = check_job_arguments(C221, "gemm", X.astype(">u2"), W, Y)
    assert d.x.dtype == np.uint16 and np.array_equal(d.x, X)


@pytest.mark.parametrize("op,error", [(True, TypeError), (False, TypeError), (1.0, TypeError),
                                      (np.float64(1), TypeError), (np.bool_(True), TypeError),
                                      (None, TypeError), ([1], TypeError), (8, ValueError),
                                      (-1, ValueError), ("maxmax", ValueError)])
def test_gemm_op_parse_refuses(op, error):
    with pytest.raises(error, match=r"^op\b"):
        GemmOp.parse(op)


def test_gemm_op_parse_accepts():
    assert GemmOp.parse(np.int64(2)) is GemmOp.ADDMAX
    assert GemmOp.parse("minmax") is GemmOp.MINMAX and GemmOp.parse(GemmOp.GEMM) is GemmOp.GEMM


@pytest.mark.parametrize("call,error,name", [
    (lambda: golden.gemm_op(True, X, W, Y), TypeError, "op"),
    (lambda: golden.gemm_op(1.0, X, W, Y), TypeError, "op"),
    (lambda: golden.gemm_op("gemm", X.astype(np.uint8), W.astype(np.uint8), Y), ValueError, "x"),
    (lambda: golden.gemm_op("gemm", X8, W8, Y8), ValueError, "x"),
    (lambda: golden.gemm_op("gemm", X.tolist(), W, Y), ValueError, "x"),
    (lambda: golden.gemm_op("gemm", X, W, Y.astype(np.int32)), ValueError, "y"),
    (lambda: golden.gemm_op("gemm", X8, W8, Y, in_fmt="e4m3"), ValueError, "y"),
    (lambda: golden.gemm_op("gemm", X, W, Y, in_fmt="fp32"), ValueError, "in_fmt"),
    (lambda: golden.gemm_op("gemm", X, W, Y, out_fmt=16), ValueError, "out_fmt"),
])
def test_golden_gemm_op_refuses(call, error, name):
    with pytest.raises(error, match=rf"^{name}\b"):
        call()


def test_golden_gemm_op_accepts_the_format_dtypes():
    z = golden.gemm_op("gemm", X8, W8, Y, in_fmt="e4m3", out_fmt="fp16")
    assert z.dtype == np.uint16
    assert golden.gemm_op("gemm", X8, W8, Y8, in_fmt="e4m3").dtype == np.uint8


def engine(**over):
    args = {"config": C221, "op": "gemm", "x": X, "w": W, "y": Y}
    args.update(over)
    return engine_runner.run_engine(args.pop("config"), args.pop("op"), args.pop("x"), args.pop("w"),
                                    args.pop("y"), **args)


@pytest.mark.parametrize("over,error,name", [
    (dict(config="2x2x1"), TypeError, "config"),
    (dict(op=True), TypeError, "op"),
    (dict(op=9), ValueError, "op"),
    (dict(x=X.astype(np.uint8)), ValueError, "x"),
    (dict(x=X.astype(np.float64)), ValueError, "x"),
    (dict(w=W[:2]), ValueError, "w"),
    (dict(y=None), ValueError, "y"),
    (dict(y=Y8), ValueError, "y"),
    (dict(stall=1.0), ValueError, "stall"),
    (dict(stall="0"), TypeError, "stall"),
    (dict(seed=2.5), TypeError, "seed"),
    (dict(seed=-3), ValueError, "seed"),
    (dict(max_cycles=0), ValueError, "max_cycles"),
    (dict(max_cycles=2.5), TypeError, "max_cycles"),
    (dict(vcd=5), TypeError, "vcd"),
])
def test_run_engine_refuses_before_simulating(over, error, name):
    with pytest.raises(error, match=rf"^{name}\b"):
        engine(**over)
