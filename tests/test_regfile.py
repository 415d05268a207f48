"""RegFile alone: register readback, ACQUIRE/TRIGGER/contexts/queue, SOFT_CLEAR, FINISHED, bus timing."""
import random

import pytest
from amaranth.sim import Simulator

from redmule_hdl.spec import jobs, regmap, render
from redmule_hdl.config import Config
from redmule_hdl.system.regfile import RegFile
from redmule_hdl.spec.regmap import ACQUIRE_NONE, JOB_REGS, REGISTERS, Reg
from redmule_hdl.sim.driver import PeriphDriver


def run(regfile, bench, monitor=None):
    """Run ``bench(ctx, driver)``; ``monitor(ctx)`` runs in the background (same cycle numbering)."""
    sim = Simulator(regfile)
    sim.add_clock(1e-6)
    drv = PeriphDriver(regfile.periph)

    async def main(ctx):
        await bench(ctx, drv)
    sim.add_testbench(main)
    if monitor is not None:
        sim.add_testbench(monitor, background=True)
    sim.run()


def reg_mask(reg):
    return (1 << REGISTERS[reg].bits) - 1


def field(payload, reg):
    return getattr(payload, reg.name.lower())


def test_readback_and_byte_enables():
    rf = RegFile(Config(contexts=2))
    rng = random.Random(1)

    async def bench(ctx, d):
        assert await d.acquire(ctx) == 0
        values = {r: rng.getrandbits(32) for r in JOB_REGS}
        for r, v in values.items():
            await d.write(ctx, r, v)
        for r, v in values.items():
            assert await d.read(ctx, r) == v & reg_mask(r), r.name
        # Byte enables: only bytes 0 and 2 change.
        await d.write(ctx, Reg.X_ADDR, 0xAABBCCDD, be=0b0101)
        old = values[Reg.X_ADDR]
        assert await d.read(ctx, Reg.X_ADDR) == (old & 0xFF00FF00) | 0x00BB00DD
        # Write-only registers read 0, read-only ones ignore writes, unmapped offsets read 0.
        assert await d.read(ctx, Reg.TRIGGER) == 0
        assert await d.read(ctx, Reg.SOFT_CLEAR) == 0
        await d.write(ctx, Reg.FINISHED, 123)
        assert await d.read(ctx, Reg.FINISHED) == 0
        assert await d.read(ctx, 0x70) == 0
        # CYCLES and ERROR show the controller's values.
        ctx.set(rf.cycles, 0x12345678)
        ctx.set(rf.error, regmap.JobError.MISALIGNED)
        assert await d.read(ctx, Reg.CYCLES) == 0x12345678
        assert await d.read(ctx, Reg.ERROR) == regmap.JobError.MISALIGNED
        # Bits beyond the decoded window alias (the interconnect selects the base).
        assert await d.read(ctx, 0x1000_0000 | Reg.MCFG1) == values[Reg.MCFG1] & 0xFFFF

    run(rf, bench)


def test_acquire_lock_and_commit_only():
    rf = RegFile(Config(contexts=2))

    async def bench(ctx, d):
        assert await d.read(ctx, Reg.ACQUIRE) == 0
        assert await d.read(ctx, Reg.ACQUIRE) == ACQUIRE_NONE   # locked by the first initiator
        await d.write(ctx, Reg.X_ADDR, 0x100)
        await d.write(ctx, Reg.TRIGGER, 1)                      # commit only: unlock, no job
        assert await d.read(ctx, Reg.STATUS) == 0
        assert not ctx.get(rf.busy)
        assert await d.read(ctx, Reg.ACQUIRE) == 0              # the same context, registers kept
        assert await d.read(ctx, Reg.X_ADDR) == 0x100

    run(rf, bench)


def test_contexts_queue_and_finished():
    rf = RegFile(Config(contexts=2))
    seen = []   # (cycle, x_addr) of every head handshake

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, ready, payload in ctx.tick().sample(
                rf.head.valid, rf.head.ready, rf.head.payload):
            if valid and ready:
                seen.append((cycle, payload.x_addr))
            cycle += 1

    async def bench(ctx, d):
        for i in range(2):
            assert await d.acquire(ctx) == i
            await d.write(ctx, Reg.X_ADDR, 0x1000 * (i + 1))
            await d.trigger(ctx)
            assert await d.read(ctx, Reg.STATUS) == (1 << (i + 1)) - 1
            assert ctx.get(rf.busy)
        assert await d.read(ctx, Reg.ACQUIRE) == ACQUIRE_NONE    # both contexts pending
        # Writes to a pending context are ignored.
        await d.write(ctx, Reg.X_ADDR, 0xDEAD)
        assert ctx.get(rf.head.valid) and ctx.get(rf.head.payload.x_addr) == 0x1000
        # Start the head, finish it.
        ctx.set(rf.head.ready, 1)
        await d.idle(ctx)
        ctx.set(rf.head.ready, 0)
        assert not ctx.get(rf.head.valid)                         # context 0 running
        assert await d.read(ctx, Reg.RUNNING_JOB) == 0
        ctx.set(rf.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.finish, 0)
        assert await d.read(ctx, Reg.STATUS) == 0b10
        assert await d.read(ctx, Reg.FINISHED) == 1
        assert ctx.get(rf.head.valid) and ctx.get(rf.head.payload.x_addr) == 0x2000
        # Context 0 is free again: the ring hands it out next.
        assert await d.acquire(ctx) == 0
        await d.write(ctx, Reg.TRIGGER, 5)   # commit only
        ctx.set(rf.head.ready, 1)
        await d.idle(ctx)
        ctx.set(rf.head.ready, 0)
        assert await d.read(ctx, Reg.RUNNING_JOB) == 1
        for k in range(3):                   # finish pulses while nothing runs are ignored
            ctx.set(rf.finish, 1)
            await d.idle(ctx)
        ctx.set(rf.finish, 0)
        assert await d.read(ctx, Reg.FINISHED) == 2
        assert await d.read(ctx, Reg.STATUS) == 0
        assert not ctx.get(rf.busy)
        assert [x for _, x in seen] == [0x1000, 0x2000]

    run(rf, bench, monitor)


def test_trigger_presents_head_in_the_same_cycle():
    rf = RegFile(Config(contexts=2))
    seen = []

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid in ctx.tick().sample(rf.head.valid):
            if valid:
                seen.append(cycle)
            cycle += 1

    async def bench(ctx, d):
        ctx.set(rf.head.ready, 1)
        await d.acquire(ctx)
        t = await d.trigger(ctx)
        ctx.set(rf.head.ready, 0)
        await d.idle(ctx, 2)
        assert seen == [t]
        assert await d.read(ctx, Reg.STATUS) == 1      # running

    run(rf, bench, monitor)


@pytest.mark.parametrize("value", [0, 1])
def test_soft_clear(value):
    rf = RegFile(Config(contexts=3))
    clears = []

    async def monitor(ctx):
        cycle = 0
        async for _, _, clear in ctx.tick().sample(rf.clear):
            if clear:
                clears.append(cycle)
            cycle += 1

    async def bench(ctx, d):
        for i in range(2):
            await d.acquire(ctx)
            await d.write(ctx, Reg.W_ADDR, 0x40 + i)
            await d.trigger(ctx)
        ctx.set(rf.head.ready, 1)
        await d.idle(ctx)
        ctx.set(rf.head.ready, 0)
        assert await d.acquire(ctx) == 2
        await d.write(ctx, Reg.W_ADDR, 0x99)
        await d.soft_clear(ctx, value)
        t = d.last_accept
        assert await d.read(ctx, Reg.STATUS) == 0
        await d.idle(ctx)   # let the monitor see the edges up to now
        assert clears == [t + 1]
        assert not ctx.get(rf.busy) and not ctx.get(rf.head.valid)
        assert await d.read(ctx, Reg.ACQUIRE) == 0     # lock released, ring rewound
        assert await d.read(ctx, Reg.W_ADDR) == (0 if value == 0 else 0x40)
        # A finish after the clear is ignored; FINISHED is kept.
        ctx.set(rf.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.finish, 0)
        assert await d.read(ctx, Reg.FINISHED) == 0
        await d.trigger(ctx)
        assert await d.read(ctx, Reg.STATUS) == 1

    run(rf, bench, monitor)


def test_single_context():
    rf = RegFile(Config(contexts=1))

    async def bench(ctx, d):
        assert await d.acquire(ctx) == 0
        await d.write(ctx, Reg.MCFG0, jobs.pack_mcfg0(3, 4))
        await d.trigger(ctx)
        assert await d.read(ctx, Reg.ACQUIRE) == ACQUIRE_NONE
        ctx.set(rf.head.ready, 1)
        await d.idle(ctx)
        ctx.set(rf.head.ready, 0)
        ctx.set(rf.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.finish, 0)
        assert await d.read(ctx, Reg.ACQUIRE) == 0
        assert await d.read(ctx, Reg.MCFG0) == jobs.pack_mcfg0(3, 4)
        assert await d.read(ctx, Reg.FINISHED) == 1

    run(rf, bench)


def test_regmap_helpers():
    v = jobs.pack_macfg("addmin", "e5m2", "e4m3", y_sep=True)
    assert jobs.unpack_macfg(v) == jobs.MacCfg(op=3, in_fmt=0, out_fmt=2, y_sep=True,
                                                   out_fmt_en=True)
    assert jobs.unpack_macfg(jobs.pack_macfg(1, "fp16")).out_fmt == 1
    assert jobs.unpack_mcfg0(jobs.pack_mcfg0(7, 65535)) == (7, 65535)
    with pytest.raises(ValueError):
        jobs.pack_mcfg1(1 << 16)
    regs = jobs.job_registers(x_addr=0, w_addr=0, z_addr=0, m=3, n=5, k=7, op="gemm")
    assert jobs.job_error(regs) == regmap.JobError.OK
    assert jobs.resolved_pitches(regs) == (10, 14, 14)
    assert jobs.job_error(regs, misaligned=False) == regmap.JobError.MISALIGNED
    header = render.c_header()
    for r in Reg:
        assert f"#define REDMULE_{r.name} " in header and f"0x{int(r):02X}" in header
