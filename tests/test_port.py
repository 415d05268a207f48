"""The memory port as a real cluster drives it: memories that answer writes, and soft clears while a
request waits for its grant (the request must stay, unchanged, until granted)."""
import numpy as np
import pytest

from redmule_hdl import sim
from redmule_hdl.config import Config
from redmule_hdl.spec import golden
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JobError

from .helpers import random_matrix

SMALL = Config(L=2, H=2, P=1)
SMALL_WR = Config(L=2, H=2, P=1, write_responses=True)
# A port of D FP8 elements: an FP16 beat is two transfers, so two writes (and responses) per Z beat.
SMALL_WR_FP8 = Config(L=2, H=2, P=1, write_responses=True, beat_format="fp8")


def operands(seed, M, N, K, fmt="fp16", out_fmt=None):
    rng = np.random.default_rng(seed)
    return (random_matrix(rng, (M, N), fmt, 0.1), random_matrix(rng, (N, K), fmt, 0.1),
            random_matrix(rng, (M, K), out_fmt or fmt, 0.1))


def exact(r, op, x, w, y, in_fmt="fp16", out_fmt=None):
    want = golden.gemm_op(op, x, w, y if GemmOp.parse(op).uses_y else None, in_fmt=in_fmt,
                          out_fmt=out_fmt)
    assert r.error == JobError.OK and r.guard_ok, r.guard_message
    for run in r.runs:
        assert np.array_equal(run.z, want), f"{np.count_nonzero(run.z != want)} wrong elements"


def test_memory_answering_writes_breaks_a_port_that_does_not_expect_it():
    # The failure the option exists for: a write's response, arriving while a read is in flight
    # (read latency >= 2), is taken as that read's data.
    x, w, y = operands(1, 4, 3, 24)
    r = sim.run_job(SMALL, "gemm", x, w, y, write_responses=True, latency=2, seed=1)
    assert np.count_nonzero(r.z != golden.gemm_op("gemm", x, w, y)) > 10


@pytest.mark.parametrize("config", [SMALL_WR, SMALL_WR_FP8], ids=["fp16-port", "fp8-port"])
@pytest.mark.parametrize("op,M,N,K,stall,latency", [
    ("gemm", 4, 3, 24, 0.0, 1), ("addmax", 5, 6, 9, 0.3, 3), ("matmul", 3, 9, 13, 0.5, 8),
    ("minmax", 4, 5, 8, 0.2, 2)])
def test_write_responses_expected_and_dropped(op, M, N, K, stall, latency, config):
    x, w, y = operands(M * N, M, N, K)
    r = sim.run_job(config, op, x, w, y, stall=stall, latency=latency, seed=M, queue=2)
    exact(r, op, x, w, y)
    assert r.writes > 0


@pytest.mark.parametrize("config,in_fmt,out_fmt", [
    (SMALL_WR, "e5m2", "fp16"), (SMALL_WR_FP8, "e5m2", "fp16"), (SMALL_WR_FP8, "fp16", "e4m3")],
    ids=["fp16-port", "fp8-port", "fp8-port-fp16-in"])
def test_write_responses_fp8_misaligned_and_aborts(config, in_fmt, out_fmt):
    x, w, y = operands(7, 5, 7, 10, in_fmt, out_fmt)
    r = sim.run_job(config, "mulmin", x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, stall=0.3,
                    latency=4, seed=3, abort_after=35, y_sep=True)
    exact(r, "mulmin", x, w, y, in_fmt, out_fmt)


@pytest.mark.parametrize("beat_format", ["fp16", "fp8"])
def test_write_responses_cost_nothing_at_latency_1(beat_format):
    # With one response slot per cycle, a store per cycle still goes through: same cycles.
    x, w, y = operands(2, 6, 8, 16)
    plain = sim.run_job(Config(L=2, H=2, P=1, beat_format=beat_format), "gemm", x, w, y, seed=2)
    answered = sim.run_job(Config(L=2, H=2, P=1, write_responses=True, beat_format=beat_format),
                           "gemm", x, w, y, seed=2)
    assert answered.cycles == plain.cycles and np.array_equal(answered.z, plain.z)


@pytest.mark.parametrize("config", [SMALL, SMALL_WR, SMALL_WR_FP8],
                         ids=["plain", "write_responses", "write_responses-fp8-port"])
def test_soft_clear_never_withdraws_a_waiting_request(config):
    """A soft clear at every point of a job under heavy grant refusal: the memory model fails on any
    request withdrawn or changed before its grant; run_job also fails on a new request after the
    clear; the job after each clear is exact. (On the FP8 port FP16 beats take two transfers: some
    clears fall between the halves of a beat.)"""
    x, w, y = operands(3, 3, 5, 6)
    for abort_after in range(3, 60, 4):
        r = sim.run_job(config, "gemm", x, w, y, stall=0.6, latency=2, seed=abort_after,
                        abort_after=abort_after)
        exact(r, "gemm", x, w, y)


def test_abort_in_the_cycle_of_the_last_grant_is_no_abort():
    """The SOFT_CLEAR write accepted in the cycle of the job's last store grant: the job finishes
    (evt in that cycle); run_job reports that abort_after is too late, as a ValueError."""
    x, w, y = operands(4, 2, 3, 4)
    length = sim.run_job(SMALL, "gemm", x, w, y).cycles
    # The clear is accepted abort_after + 1 cycles after the trigger's acceptance (the idle cycles,
    # then the write): the last store is granted `length` cycles after the trigger.
    with pytest.raises(ValueError, match="abort_after=.* does not abort the job"):
        sim.run_job(SMALL, "gemm", x, w, y, abort_after=length - 1)
    with pytest.raises(ValueError, match="abort_after=.* does not abort the job"):
        sim.run_job(SMALL, "gemm", x, w, y, abort_after=length + 5)
    r = sim.run_job(SMALL, "gemm", x, w, y, abort_after=length - 2)
    exact(r, "gemm", x, w, y)
