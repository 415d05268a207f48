"""``arith.adders.carry_select_add`` (the streamer's address adds and the job guard's range ends)
against Python integers, at an even and an odd width, with the carry out."""
import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from redmule_hdl.arith.adders import carry_select_add


@pytest.mark.parametrize("width", [32, 33])
def test_carry_select_add_matches_integers(width):
    m = Module()
    x, y = Signal(width), Signal(width)
    total = Signal(width + 1)
    m.d.comb += total.eq(carry_select_add(m, "t", x, y, width))
    rng = random.Random(width)
    top = (1 << width) - 1
    half = 1 << ((width + 1) // 2)
    # Edge cases (the low half's carry ripples into the high half or not), then random pairs.
    cases = [(0, 0), (top, 1), (top, top), (half - 1, 1), (half - 1, 0), (top - half + 1, half - 1)]
    cases += [(rng.getrandbits(width), rng.getrandbits(width)) for _ in range(300)]

    async def bench(ctx):
        for a, b in cases:
            ctx.set(x, a)
            ctx.set(y, b)
            assert ctx.get(total) == a + b, (a, b)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
