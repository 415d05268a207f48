"""``JobSlots``: walkers keep their job and active bit in registers that always match their slot."""
import random

import pytest
from amaranth.hdl import Assert, Elaboratable, Module, Signal
from amaranth.lib import data
from amaranth.sim import Simulator

from redmule_hdl.engine.job_slots import JobSlots

_JOB = data.StructLayout({"id": 8})


class _Ring(Elaboratable):
    """Three walkers over ``depth`` slots of 8-bit jobs; the last one releases. Each cycle checks
    (``Assert``) that every walker's registered ``active`` and ``job`` equal what its slot holds."""

    def __init__(self, depth):
        self.depth = depth
        self.put = Signal()
        self.payload = Signal(_JOB)
        self.finish = Signal(3)
        self.clear = Signal()
        self.can_put = Signal()
        self.active = [Signal(name=f"active{i}") for i in range(3)]
        self.job = [Signal(8, name=f"job{i}") for i in range(3)]

    def elaborate(self, platform):
        m = Module()
        slots = JobSlots(m, "slot", _JOB, depth=self.depth)
        walkers = [slots.walker(f"w{i}") for i in range(3)]
        for i, w in enumerate(walkers):
            with m.If(self.finish[i] & w.active):
                w.finish(release=i == 2)
            m.d.comb += [self.active[i].eq(w.active), self.job[i].eq(w.job.id)]
            full = slots.full.bit_select(w.ptr, 1)
            m.d.sync += [
                Assert(w.active == (full & ~w.done.bit_select(w.ptr, 1)), f"w{i}: active"),
                Assert(~full | (w.job.as_value() == slots._raw[w.ptr]), f"w{i}: job"),
            ]
        m.d.comb += self.can_put.eq(slots.can_put)
        with m.If(self.put & slots.can_put):
            slots.put(self.payload)
        with m.If(self.clear):
            m.d.sync += slots.clear()
        return m


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_walkers_see_every_job_in_order_with_registered_views(depth):
    """Random puts and finishes (the releasing walker only finishes a job the other two finished,
    as in the engine and the streamer), and a few clears: every walker walks the jobs in the order
    they were put, its ``job`` register shows the job it is on, and the per-cycle assertions hold."""
    dut = _Ring(depth)
    rng = random.Random(depth)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    counts = {"jobs": 0, "clears": 0}

    async def bench(ctx):
        put_ids, walked = [], [[], [], []]
        next_id = 1
        for cycle in range(3000):
            clear = rng.random() < 0.004
            put = not clear and rng.random() < 0.35 and ctx.get(dut.can_put)
            finish = 0
            for i in range(3):
                allowed = i < 2 or all(len(walked[j]) > len(walked[2]) for j in (0, 1))
                if ctx.get(dut.active[i]):
                    # The job register holds the job this walker is on.
                    assert ctx.get(dut.job[i]) == put_ids[len(walked[i])], (cycle, i)
                    if allowed and rng.random() < 0.4:
                        finish |= 1 << i
                        walked[i].append(ctx.get(dut.job[i]))
            ctx.set(dut.finish, finish)
            ctx.set(dut.clear, clear)
            ctx.set(dut.put, put)
            ctx.set(dut.payload.id, next_id & 0xFF)
            if put:
                put_ids.append(next_id & 0xFF)
                next_id += 1
            await ctx.tick()
            if clear:
                counts["jobs"] += len(walked[2])
                counts["clears"] += 1
                put_ids, walked = [], [[], [], []]
            for i in range(3):
                assert walked[i] == put_ids[:len(walked[i])]
        counts["jobs"] += len(walked[2])

    sim.add_testbench(bench)
    sim.run()
    assert counts["jobs"] > 200 and counts["clears"] >= 3
