"""RegFile alone: register readback, ACQUIRE/TRIGGER/contexts/queue, SOFT_CLEAR, FINISHED, bus timing."""
import os
import random
import re
import shlex
import shutil
import subprocess

import pytest
from amaranth.lib import data

from redmule_hdl.config import Config
from redmule_hdl.interfaces import JobRegs
from redmule_hdl.sim.driver import PeriphDriver
from redmule_hdl.spec import jobs, regmap, render
from redmule_hdl.spec.formats import FormatCode
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import ACQUIRE_NONE, JOB_REGS, REGISTERS, JobError, Reg
from redmule_hdl.system.regfile import RegFile

from .helpers import run_testbench


def run(regfile, bench, monitor=None):
    """Run ``bench(ctx, driver)``; ``monitor(ctx)`` runs in the background (same cycle numbering)."""
    drv = PeriphDriver(regfile.periph)

    async def main(ctx):
        await bench(ctx, drv)
    run_testbench(regfile, main, background=[monitor] if monitor is not None else [])


def reg_mask(reg):
    return (1 << REGISTERS[reg].bits) - 1


def field(payload, reg):
    return getattr(payload, reg.name.lower())


def test_readback_and_byte_enables():
    rf = RegFile(contexts=2)
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
        ctx.set(rf.status.cycles, 0x12345678)
        ctx.set(rf.status.error, regmap.JobError.MISALIGNED)
        assert await d.read(ctx, Reg.CYCLES) == 0x12345678
        assert await d.read(ctx, Reg.ERROR) == regmap.JobError.MISALIGNED
        # Bits beyond the decoded window alias (the interconnect selects the base).
        assert await d.read(ctx, 0x1000_0000 | Reg.MCFG1) == values[Reg.MCFG1] & 0xFFFF

    run(rf, bench)


def test_acquire_lock_and_commit_only():
    rf = RegFile(contexts=2)

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
    rf = RegFile(contexts=2)
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
        # Context 0 runs; context 1 may start beside it.
        assert ctx.get(rf.head.valid) and ctx.get(rf.head.payload.x_addr) == 0x2000
        assert await d.read(ctx, Reg.RUNNING_JOB) == 0
        ctx.set(rf.status.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.status.finish, 0)
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
            ctx.set(rf.status.finish, 1)
            await d.idle(ctx)
        ctx.set(rf.status.finish, 0)
        assert await d.read(ctx, Reg.FINISHED) == 2
        assert await d.read(ctx, Reg.STATUS) == 0
        assert not ctx.get(rf.busy)
        assert [x for _, x in seen] == [0x1000, 0x2000]

    run(rf, bench, monitor)


def test_two_contexts_run_at_once_and_finish_in_order():
    rf = RegFile(contexts=2)

    async def bench(ctx, d):
        for i in range(2):
            await d.acquire(ctx)
            await d.write(ctx, Reg.X_ADDR, 0x1000 * (i + 1))
            await d.trigger(ctx)
        ctx.set(rf.head.ready, 1)
        await d.idle(ctx, 2)                 # both start, one per cycle
        ctx.set(rf.head.ready, 0)
        assert not ctx.get(rf.head.valid)    # nothing left queued: both contexts run
        assert await d.read(ctx, Reg.RUNNING_JOB) == 1
        assert await d.read(ctx, Reg.STATUS) == 0b11
        ctx.set(rf.status.finish, 1)                # the oldest (context 0) finishes first
        await d.idle(ctx)
        ctx.set(rf.status.finish, 0)
        assert await d.read(ctx, Reg.STATUS) == 0b10
        assert not ctx.get(rf.head.valid)
        assert await d.acquire(ctx) == 0     # context 0 is free and programmable again
        await d.write(ctx, Reg.X_ADDR, 0x3000)
        await d.trigger(ctx)
        assert ctx.get(rf.head.valid) and ctx.get(rf.head.payload.x_addr) == 0x3000
        ctx.set(rf.status.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.status.finish, 0)
        assert await d.read(ctx, Reg.STATUS) == 0b01
        assert await d.read(ctx, Reg.FINISHED) == 2

    run(rf, bench)


def test_trigger_presents_head_in_the_same_cycle():
    rf = RegFile(contexts=2)
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
    rf = RegFile(contexts=3)
    clears = []

    async def monitor(ctx):
        cycle = 0
        async for _, _, clear in ctx.tick().sample(rf.status.clear):
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
        ctx.set(rf.status.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.status.finish, 0)
        assert await d.read(ctx, Reg.FINISHED) == 0
        await d.trigger(ctx)
        assert await d.read(ctx, Reg.STATUS) == 1

    run(rf, bench, monitor)


def test_single_context():
    rf = RegFile(contexts=1)

    async def bench(ctx, d):
        assert await d.acquire(ctx) == 0
        await d.write(ctx, Reg.MCFG0, jobs.pack_mcfg0(3, 4))
        await d.trigger(ctx)
        assert await d.read(ctx, Reg.ACQUIRE) == ACQUIRE_NONE
        ctx.set(rf.head.ready, 1)
        await d.idle(ctx)
        ctx.set(rf.head.ready, 0)
        ctx.set(rf.status.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.status.finish, 0)
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
    assert jobs.job_error(regs, Config(misaligned=False)) == regmap.JobError.MISALIGNED


def _c_compiler():
    """The system C compiler as an argument list (``$CC``, else ``cc`` or ``gcc``), or None."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    for name in ("cc", "gcc"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def compiled_header_values(config, workdir):
    """Every ``REDMULE_*`` value of ``render.c_header(config)`` as the C compiler sees it.

    The header is included (twice, for the include guard) by a C99 program that prints each macro
    defined with a value; compiled with warnings as errors. Returns ``{name: value}``.
    """
    cc = _c_compiler()
    if cc is None:
        pytest.skip("no C compiler (cc or gcc) on PATH")
    header = render.c_header(config)
    names = re.findall(r"^#define[ \t]+(REDMULE_\w+)[ \t]+\S", header, re.M)
    assert names and len(names) == len(set(names))
    (workdir / "redmule.h").write_text(header)
    lines = ["#include <stdio.h>", '#include "redmule.h"', '#include "redmule.h"', "",
             "int main(void)", "{"]
    lines += [f'    printf("%s %llu\\n", "{n}", (unsigned long long)({n}));' for n in names]
    lines += ["    return 0;", "}", ""]
    (workdir / "values.c").write_text("\n".join(lines))
    exe = workdir / "values"
    proc = subprocess.run([*cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror",
                           "-o", str(exe), "values.c"], cwd=workdir, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True)
    values = {}
    for line in proc.stdout.splitlines():
        name, value = line.split()
        values[name] = int(value)
    assert list(values) == names
    return values


@pytest.mark.parametrize("beat_format,misaligned,values", [
    ("fp16", True, (16, 8, 1, 96)), ("fp8", True, (8, 4, 2, 64)), ("fp8", False, (8, 4, 2, 32))])
def test_c_header_port_transfer(tmp_path, beat_format, misaligned, values):
    """The port's facts as software sees them: element bits and bytes of one transfer, transfers of
    an FP16 beat, data bits of the port."""
    config = Config(L=2, H=2, P=1, misaligned=misaligned, beat_format=beat_format)
    h = compiled_header_values(config, tmp_path)
    names = ("BEAT_FORMAT", "TRANSFER_BYTES", "FP16_TRANSFERS", "PORT_WIDTH")
    assert tuple(h[f"REDMULE_{n}"] for n in names) == values
    assert values == (8 * config.transfer_bytes // config.D, config.transfer_bytes,
                      config.transfers_per_beat("fp16"), config.port_width)


def test_c_header_against_regfile(tmp_path):
    """The generated C header, compiled, against the register file's behaviour in simulation.

    Offsets, field shifts/masks, ACQUIRE_NONE and the codes come from the compiled program; the
    register file is programmed and read with them, and its job payload (what the controller
    decodes) must hold the field values the header's shifts put there.
    """
    config = Config(L=2, H=2, P=1, contexts=2, misaligned=False)
    h = compiled_header_values(config, tmp_path)

    def group(prefix):
        return {k[len(prefix):]: v for k, v in h.items() if k.startswith(prefix)}

    # Generator parameters.
    assert (h["REDMULE_L"], h["REDMULE_H"], h["REDMULE_P"], h["REDMULE_D"]) == (2, 2, 1, 4)
    assert (h["REDMULE_CONTEXTS"], h["REDMULE_MISALIGNED"], h["REDMULE_PORT_WIDTH"]) == (2, 0, 64)
    # Codes: exactly the members of the enums the hardware uses.
    assert group("REDMULE_OP_") == {op.name: op.value for op in GemmOp}
    assert group("REDMULE_FMT_") == {f.name: f.value for f in FormatCode}
    assert group("REDMULE_ERR_") == {e.name: e.value for e in JobError}

    # Fields: the header's <REG>_<FIELD>_SHIFT/_MASK pairs are the fields of the stored job registers.
    hw_fields = {(reg.upper(), name.upper()): (f.offset, f.width)
                 for reg, rf_field in JobRegs if isinstance(rf_field.shape, data.Layout)
                 for name, f in rf_field.shape}
    shifts = {k[:-len("_SHIFT")]: v for k, v in group("REDMULE_").items() if k.endswith("_SHIFT")}
    fields = {}
    for reg, name in hw_fields:
        shift = shifts.pop(f"{reg}_{name}")
        mask = h[f"REDMULE_{reg}_{name}_MASK"]
        width = mask.bit_count()
        assert mask == ((1 << width) - 1) << shift, (reg, name)   # contiguous, starts at the shift
        fields[reg, name] = (shift, mask)
    assert not shifts, f"header fields the register file does not have: {sorted(shifts)}"
    assert {k: (s, m.bit_count()) for k, (s, m) in fields.items()} == hw_fields

    def pack(reg, **values):
        word = 0
        for name, value in values.items():
            shift, mask = fields[reg, name.upper()]
            assert (value << shift) & ~mask == 0, (reg, name, value)
            word |= value << shift
        return word

    def ones(reg):
        return {name.lower(): mask >> shift for (r, name), (shift, mask) in fields.items() if r == reg}

    job_regs = [name.lower() for name, _ in JobRegs]
    offset = {name: h[f"REDMULE_{name.upper()}"] for name in job_regs}
    rng = random.Random(7)
    # Job A: distinct values; job B: every field all ones.
    a_fields = {"mcfg0": dict(m=0x8001, k=0xC003), "mcfg1": dict(n=0xA005),
                "macfg": dict(op=h["REDMULE_OP_MINMAX"], format=h["REDMULE_FMT_E4M3"],
                              out_format=h["REDMULE_FMT_FP16"], y_sep=1, out_fmt_en=1)}
    b_fields = {reg: ones(reg.upper()) for reg in a_fields}
    job_a = {r: rng.getrandbits(32) for r in job_regs}
    job_b = {r: rng.getrandbits(32) for r in job_regs}
    for reg in a_fields:
        job_a[reg] = pack(reg.upper(), **a_fields[reg])
        job_b[reg] = pack(reg.upper(), **b_fields[reg])
    rf = RegFile(config.contexts)

    def check_payload(ctx, job, job_fields):
        payload = rf.head.payload
        assert ctx.get(rf.head.valid)
        for r in job_regs:
            if r in job_fields:
                for name, value in job_fields[r].items():
                    assert int(ctx.get(getattr(getattr(payload, r), name))) == value, (r, name)
            else:
                assert ctx.get(getattr(payload, r)) == job[r], r

    async def bench(ctx, d):
        for i, (job, job_fields) in enumerate(((job_a, a_fields), (job_b, b_fields))):
            assert await d.read(ctx, h["REDMULE_ACQUIRE"]) == i
            for r in job_regs:
                await d.write(ctx, offset[r], job[r])
            for r in job_regs:
                assert await d.read(ctx, offset[r]) == job[r], r
            await d.write(ctx, h["REDMULE_TRIGGER"], 0)
            assert await d.read(ctx, h["REDMULE_STATUS"]) == (1 << (i + 1)) - 1
            check_payload(ctx, job_a, a_fields)           # the oldest job is at the head
        assert await d.read(ctx, h["REDMULE_ACQUIRE"]) == h["REDMULE_ACQUIRE_NONE"]
        # Start job A and finish it: job B is next.
        ctx.set(rf.head.ready, 1)
        await d.idle(ctx)
        ctx.set(rf.head.ready, 0)
        assert await d.read(ctx, h["REDMULE_RUNNING_JOB"]) == 0
        ctx.set(rf.status.finish, 1)
        await d.idle(ctx)
        ctx.set(rf.status.finish, 0)
        assert await d.read(ctx, h["REDMULE_FINISHED"]) == 1
        assert await d.read(ctx, h["REDMULE_STATUS"]) == 0b10
        check_payload(ctx, job_b, b_fields)
        # CYCLES and ERROR at the header's offsets; the error codes are the header's.
        ctx.set(rf.status.cycles, 0xCAFE_F00D)
        assert await d.read(ctx, h["REDMULE_CYCLES"]) == 0xCAFE_F00D
        for name, code in group("REDMULE_ERR_").items():
            ctx.set(rf.status.error, JobError[name])
            assert await d.read(ctx, h["REDMULE_ERROR"]) == code, name
        # SOFT_CLEAR with 0: queue emptied, ring rewound, job registers cleared.
        await d.write(ctx, h["REDMULE_SOFT_CLEAR"], 0)
        assert await d.read(ctx, h["REDMULE_STATUS"]) == 0
        assert await d.read(ctx, h["REDMULE_ACQUIRE"]) == 0
        for r in job_regs:
            assert await d.read(ctx, offset[r]) == 0, r

    run(rf, bench)
