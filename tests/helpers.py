"""Shared test data: FP16/FP8 matrices with special values sprinkled in; ``refused`` for a
component whose ``__init__`` raises."""
import contextlib
import gc
import traceback
import warnings

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from redmule_hdl.sim.streams import FP16_SPECIALS
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import format_by_name


def random_matrix(rng, shape, fmt="fp16", special_fraction=0.0, scale=1.0):
    """Values of moderate magnitude rounded to ``fmt``, with some special values mixed in."""
    f = format_by_name(fmt)
    bits = golden.from_float(rng.normal(0.0, scale, size=shape), f)
    if special_fraction:
        specials = golden.cast(FP16_SPECIALS, "fp16", f) if f.width == 8 else FP16_SPECIALS
        if f.width == 8:   # FP8 NaN payloads: use raw patterns too
            specials = np.concatenate([specials, np.array([f.inf | 1, f.sign_mask | 1, 1], np.uint8)])
        pick = rng.random(shape) < special_fraction
        bits = np.where(pick, rng.choice(specials, size=shape), bits).astype(bits.dtype)
    return bits


@contextlib.contextmanager
def refused(error, match):
    """``pytest.raises(error, match=match)`` around building a component that refuses its
    parameters: the object exists before its ``__init__`` raises, and Amaranth warns
    (``UnusedElaboratable``) when it dies unelaborated, so the warning is silenced and the object
    collected here (its ``__init__`` frame, which holds it, is cleared from the traceback)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(error, match=match) as info:
            yield
        traceback.clear_frames(info.tb)
        del info
        gc.collect()


def run_testbench(dut, testbench, *, background=(), clocked=True):
    """Simulate ``dut`` until the async ``testbench(ctx)`` returns, with the ``background``
    testbenches beside it and, if ``clocked``, a clock of 1 us on the sync domain."""
    s = Simulator(dut)
    if clocked:
        s.add_clock(1e-6)
    s.add_testbench(testbench)
    for bench in background:
        s.add_testbench(bench, background=True)
    s.run()
