"""What the Verilator parity tests share (``test_verilator.py``, ``test_verilator_flows.py``): the
small configurations, random operands, and a job run on both back ends with every result compared."""
import numpy as np

from redmule_hdl.config import Config
from redmule_hdl.sim.run import run_job
from redmule_hdl.spec import golden
from redmule_hdl.spec.ops import GemmOp

from .helpers import random_matrix


SMALL = Config(L=2, H=2, P=1)     # D = 4
MID = Config(L=4, H=2, P=3)       # D = 8
SMALL_FP8 = Config(L=2, H=2, P=1, beat_format="fp8")     # D = 4, 64-bit port: FP16 beats in halves
ODD_FP8 = Config(L=2, H=3, P=0, beat_format="fp8")       # D = 3, 56-bit port (not whole words)

OPS = [op.name.lower() for op in GemmOp]


def job_operands(seed, M, N, K, in_fmt="fp16", out_fmt=None, special=0.15):
    rng = np.random.default_rng(seed)
    x = random_matrix(rng, (M, N), in_fmt, special)
    w = random_matrix(rng, (N, K), in_fmt, special)
    y = random_matrix(rng, (M, K), out_fmt or in_fmt, special)
    return x, w, y


def run_both(config, op, x, w, y, *, verilator=None, **kw):
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


def check_golden(res, op, x, w, y, in_fmt="fp16", out_fmt=None):
    want = golden.gemm_op(op, x, w, y if GemmOp.parse(op).uses_y else None, in_fmt=in_fmt,
                          out_fmt=out_fmt)
    assert res.error == 0 and res.guard_ok, res.guard_message
    bad = np.argwhere(res.z != want)
    assert bad.size == 0, f"{len(bad)} outputs differ from golden, first at {bad[0]}: " \
                          f"{res.z[tuple(bad[0])]:#x} != {want[tuple(bad[0])]:#x}"


def port_id(config):
    """A test id naming the configuration and its port's format."""
    return f"{config}-{config.beat_format}-port"
