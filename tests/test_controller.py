"""RegFile + Controller with a behavioural engine and streamer: job checks, refusals, CYCLES, abort.

The hardware decode is compared with ``jobs.job_error`` / ``jobs.resolved_pitches`` (the Python
model) on hand-picked and random register sets; full jobs run in tests/test_top.py.
"""
import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring

from redmule_hdl.config import Config
from redmule_hdl.interfaces import ce_control, element_format
from redmule_hdl.sim.driver import PeriphDriver
from redmule_hdl.spec import jobs
from redmule_hdl.spec.formats import E4M3, E5M2, FP16
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JobError, Reg
from redmule_hdl.system.controller import Controller
from redmule_hdl.system.regfile import RegFile

from .helpers import run_testbench


class Dut(Elaboratable):
    def __init__(self, config):
        self.regfile = RegFile(config.contexts)
        self.ctrl = Controller(misaligned=config.misaligned, D=config.D, L=config.L,
                               fpga_arith=config.fpga_arith)

    def elaborate(self, platform):
        m = Module()
        m.submodules.regfile = rf = self.regfile
        m.submodules.ctrl = c = self.ctrl
        wiring.connect(m, rf.head, c.head)
        wiring.connect(m, c.status, rf.status)
        return m


class Harness:
    """Runs a bench against Dut; a background process plays engine and streamer.

    The fake engine and streamer hold up to two jobs; a started job's last store is granted
    ``latency`` cycles after its start, and the streamer's ``stored`` pulse follows one cycle later
    (jobs finish in order, at least one cycle apart), so a job alone has its evt ``latency + 1``
    cycles after the controller took it (its jobs reach the fake engine and streamer, always
    ready, ``Controller.START_CYCLES`` later, both in the same cycle).
    """

    def __init__(self, config, latency=5):
        self.dut = Dut(config)
        self.latency = latency
        self.starts = []     # (cycle, sjob fields as dict)
        self.evts = []
        self.aborts = []

    def run(self, bench):
        dut, c = self.dut, self.dut.ctrl
        drv = PeriphDriver(dut.regfile.periph, evt=c.evt)

        async def fake(ctx):
            cycle, stored_at = 0, []     # the cycle of each running job's stored pulse, in order
            while True:
                ctx.set(c.engine.job.ready, 1)
                ctx.set(c.streamer.job.ready, 1)
                ctx.set(c.streamer.idle, not stored_at)
                ctx.set(c.streamer.stored, bool(stored_at) and cycle == stored_at[0])
                _, _, start, ev, ab, valid, sjob, ejob = await ctx.tick().sample(
                    c.streamer.job.valid, c.evt, c.streamer.abort, c.engine.job.valid, c.streamer.job.payload,
                    c.engine.job.payload)
                if start:
                    assert valid, cycle
                    got = {f: getattr(sjob, f) for f in
                           ("x_addr", "w_addr", "y_addr", "z_addr", "x_pitch", "w_pitch", "z_pitch",
                            "m", "n", "k", "uses_y")}
                    for f in ("in_fmt", "out_fmt"):
                        got[f] = {"wide": getattr(sjob, f).wide, "fp8": getattr(sjob, f).fp8}
                    got["engine"] = {f: getattr(ejob, f) for f in ("m", "n", "k", "uses_y")}
                    got["engine"]["ce"] = {f: int(getattr(ejob.ce, f)) for f in
                                           ("mode", "compare_first", "inner_max", "outer_max")}
                    taken = cycle - Controller.START_CYCLES
                    self.starts.append((taken, got))
                    stored_at.append(max(taken + self.latency + 1, stored_at[-1] + 1 if stored_at else 0))
                if ev:
                    self.evts.append(cycle)
                    if stored_at and cycle == stored_at[0]:
                        stored_at.pop(0)
                if ab:
                    self.aborts.append(cycle)
                    stored_at.clear()
                cycle += 1

        async def main(ctx):
            await bench(ctx, drv)
        run_testbench(dut, main, background=[fake])


GOOD = dict(x_addr=0x1000, w_addr=0x2000, z_addr=0x3000, m=5, n=7, k=9, op="gemm")


def regs_of(**kw):
    return jobs.job_registers(**{**GOOD, **kw})


async def offload(ctx, d, regs):
    """HAL sequence; returns (trigger cycle, evt cycle, CYCLES, ERROR)."""
    t, e = await d.offload(ctx, regs)
    return t, e, await d.read(ctx, Reg.CYCLES), await d.read(ctx, Reg.ERROR)


@pytest.mark.parametrize("kw,expected", [
    ({}, JobError.OK),
    ({"m": 0}, JobError.SIZE_ZERO),
    ({"n": 0}, JobError.SIZE_ZERO),
    ({"k": 0}, JobError.SIZE_ZERO),
    ({"in_fmt": 3}, JobError.BAD_FORMAT),
    ({"in_fmt": 7}, JobError.BAD_FORMAT),
    ({"out_fmt": 5}, JobError.BAD_FORMAT),
    ({"x_addr": 0x1001}, JobError.MISALIGNED),
    ({"w_addr": 0x2003}, JobError.MISALIGNED),
    ({"z_addr": 0x3001}, JobError.MISALIGNED),
    ({"y_addr": 0x4001}, JobError.MISALIGNED),
    ({"x_stride": 15}, JobError.MISALIGNED),
    ({"w_stride": 33}, JobError.MISALIGNED),
    ({"z_stride": 19}, JobError.MISALIGNED),
    ({"y_addr": 0x4001, "op": "matmul"}, JobError.OK),      # Y is not read by matmul
    ({"x_addr": 0x1001, "in_fmt": "e4m3"}, JobError.OK),     # FP8: byte aligned is fine
    ({"z_addr": 0x3001, "in_fmt": "e4m3", "out_fmt": "fp16"}, JobError.MISALIGNED),
    ({"m": 0, "in_fmt": 6, "x_addr": 1}, JobError.SIZE_ZERO),  # first fault wins
    # GOOD has 3 x 3 tiles on 2x2x1 (L = 2, D = 4): Z may share no byte with X, W or a separate Y.
    ({"z_addr": 0x1000}, JobError.OVERLAP),                       # Z at X's address
    ({"z_addr": 0x2000 + 2 * 6 * 9 - 2}, JobError.OVERLAP),       # Z's first element is W's last
    ({"z_addr": 0x2000 + 2 * 7 * 9}, JobError.OK),                # Z right after W
    ({"x_addr": 0x3000 + 2 * 5 * 9 - 2}, JobError.OVERLAP),       # X starts on Z's last element
    ({"y_addr": 0x3002}, JobError.OVERLAP),                       # Y one element after Z
    ({"y_addr": 0x3000}, JobError.OK),                            # Y_SEP, in place
    ({"y_addr": 0x3002, "op": "matmul"}, JobError.OK),            # Y is not read
    ({"z_addr": 0x1000, "m": 2, "k": 4}, JobError.OK),            # one tile: exact in place of X
    ({"z_addr": 0x1000, "m": 2, "k": 5}, JobError.OVERLAP),       # two tiles
    ({"z_addr": 0x1000, "x_addr": 0x1001}, JobError.MISALIGNED),  # a decode fault comes first
    ({"z_stride": 1 << 31}, JobError.OVERLAP),                    # a span of 2 GiB overlaps all
    # X (5 rows of 14 bytes) past 2**32 wraps around onto Z at 0 (found by formal's guard_self)
    ({"x_addr": (1 << 32) - 16, "z_addr": 0}, JobError.OVERLAP),
    ({"x_addr": (1 << 32) - 70, "z_addr": 0}, JobError.OK),       # X ends at 2**32 exactly
])
def test_refusals(kw, expected):
    config = Config(L=2, H=2, P=1)
    h = Harness(config)
    regs = regs_of(**kw)
    assert jobs.job_error(regs, config) == expected   # the Python model agrees with the table
    # A multi-tile job waits for the overlap check; its CYCLES count from the trigger.
    m, k = jobs.unpack_mcfg0(regs[Reg.MCFG0])
    wait = Controller.GUARD_CYCLES if m > config.L or k > config.D else 0

    async def bench(ctx, d):
        t, e, cycles, error = await offload(ctx, d, regs)
        assert error == expected
        assert await d.read(ctx, Reg.FINISHED) == 1
        assert await d.read(ctx, Reg.STATUS) == 0
        if expected == JobError.OVERLAP:
            assert cycles == 1 + wait and e == t + 1 + wait
        elif expected:
            assert cycles == 1 and e == t + 1
        else:
            assert cycles == h.latency + 1 + wait and e == t + h.latency + 1 + wait
        # The controller stays usable: a good job afterwards runs.
        t, e, cycles, error = await offload(ctx, d, regs_of())
        assert error == JobError.OK and cycles == e - t == h.latency + 1 + Controller.GUARD_CYCLES

    h.run(bench)
    assert len(h.starts) == 1 + (expected == JobError.OK)
    assert len(h.evts) == 2


NARROW_CASES = {
    # D = 4: every beat of FP16 (8 bytes) and FP8 (4 bytes) elements is whole words.
    Config(L=2, H=2, P=1, misaligned=False): [
        (regs_of(n=8, k=8), JobError.OK),
        (regs_of(n=7, k=8), JobError.MISALIGNED),        # dense X pitch 14 bytes
        (regs_of(n=8, k=8, x_addr=0x1002), JobError.MISALIGNED),
        (regs_of(n=7, k=8, x_stride=16), JobError.OK),
        (regs_of(n=8, k=6, in_fmt="e5m2", w_stride=8), JobError.MISALIGNED),  # Z pitch 6
        (regs_of(n=8, k=8, in_fmt="e5m2"), JobError.OK)],
    # D = 6: an FP16 beat is 3 words, but the second FP8 beat of a row would start at byte 6.
    Config(L=2, H=3, P=1, misaligned=False): [
        (regs_of(n=12, k=12), JobError.OK),
        (regs_of(n=6, k=6, in_fmt="e4m3", x_stride=8, w_stride=8, z_stride=8), JobError.OK),
        (regs_of(n=7, k=6, in_fmt="e4m3", x_stride=8, w_stride=8, z_stride=8), JobError.MISALIGNED),
        (regs_of(n=6, k=7, in_fmt="e4m3", x_stride=8, w_stride=8, z_stride=8), JobError.MISALIGNED),
        (regs_of(n=12, k=6, in_fmt="e5m2", out_fmt="fp16", z_stride=12), JobError.MISALIGNED),
        (regs_of(n=6, k=12, in_fmt="fp16", out_fmt="e5m2", x_stride=12), JobError.MISALIGNED),
        (regs_of(n=12, k=6, in_fmt="fp16", out_fmt="e5m2", z_stride=8), JobError.OK)],
    # D = 4 on a port of D FP8 elements (32 bits): the high half of an FP16 beat is D = 4 bytes after
    # its low half, so the rules are those of the FP16 port (Config refuses D % 4 != 0).
    Config(L=2, H=2, P=1, misaligned=False, beat_format="fp8"): [
        (regs_of(n=8, k=8), JobError.OK),
        (regs_of(n=7, k=8), JobError.MISALIGNED),
        (regs_of(n=7, k=8, x_stride=16), JobError.OK),
        (regs_of(n=8, k=8, z_addr=0x1006), JobError.MISALIGNED),
        (regs_of(n=9, k=12, in_fmt="e4m3", out_fmt="fp16", x_stride=12), JobError.OK),
        (regs_of(n=9, k=12, in_fmt="e4m3", out_fmt="fp16"), JobError.MISALIGNED)],
}


@pytest.mark.parametrize("config", list(NARROW_CASES), ids=lambda c: f"D{c.D}-{c.beat_format}-port")
def test_word_alignment_without_misaligned_port(config):
    h = Harness(config)
    cases = NARROW_CASES[config]

    async def bench(ctx, d):
        for regs, expected in cases:
            assert jobs.job_error(regs, config) == expected
            *_, error = await offload(ctx, d, regs)
            assert error == expected, regs

    h.run(bench)


def test_decode_matches_model_on_random_jobs():
    """Random register contents: ERROR, and for good jobs every streamer field, match the model."""
    rng = random.Random(7)
    config = Config(L=2, H=2, P=1)
    h = Harness(config, latency=1)
    programmed = []
    for _ in range(40):
        fmt = rng.choice([FP16, E5M2, E4M3, 3])
        out = rng.choice([None, FP16, E5M2, E4M3, 4])
        pick = lambda: rng.choice([0, rng.randrange(0, 4), rng.randrange(1, 40) * 2,  # noqa: E731
                                   rng.getrandbits(32)])
        regs = jobs.job_registers(
            x_addr=pick(), w_addr=pick(), z_addr=pick(),
            y_addr=rng.choice([None, pick()]),
            m=rng.choice([0, 1, 3, 65535]), n=rng.choice([0, 2, 5]), k=rng.choice([0, 1, 4, 9]),
            op=rng.randrange(8), in_fmt=fmt, out_fmt=out,
            x_stride=pick(), w_stride=pick(), z_stride=pick())
        programmed.append(regs)

    async def bench(ctx, d):
        await d.soft_clear(ctx)
        for regs in programmed:
            await d.acquire(ctx)
            await d.program(ctx, regs)
            await d.trigger(ctx)
            await d.wait_evt(ctx)
            assert await d.read(ctx, Reg.ERROR) == jobs.job_error(regs, config), regs

    h.run(bench)
    good = [r for r in programmed if jobs.job_error(r, config) == JobError.OK]
    assert 3 <= len(good) == len(h.starts) and len(h.evts) == len(programmed)
    assert any(jobs.job_error(r, config) == JobError.OVERLAP for r in programmed)
    for regs, (_, got) in zip(good, h.starts):
        cfg = jobs.unpack_macfg(regs[Reg.MACFG])
        m, k = jobs.unpack_mcfg0(regs[Reg.MCFG0])
        xp, wp, zp = jobs.resolved_pitches(regs)
        n = jobs.unpack_mcfg1(regs[Reg.MCFG1])
        uses_y = int(GemmOp(cfg.op).uses_y)
        ce = {f: int(v) for f, v in ce_control(cfg.op).items()}
        assert got == dict(x_addr=regs[Reg.X_ADDR], w_addr=regs[Reg.W_ADDR], z_addr=regs[Reg.Z_ADDR],
                           y_addr=regs[Reg.Y_ADDR] if cfg.y_sep else regs[Reg.Z_ADDR],
                           x_pitch=xp, w_pitch=wp, z_pitch=zp, m=m, n=n, k=k, uses_y=uses_y,
                           in_fmt=element_format(cfg.in_fmt), out_fmt=element_format(cfg.out_fmt),
                           engine=dict(m=m, n=n, k=k, uses_y=uses_y, ce=ce))


def test_queue_back_to_back_and_cycles():
    """Two contexts queued: the second starts in the cycle after its trigger, while the first runs
    (two jobs in flight); each CYCLES counts from its own start (the trigger for the first, which
    waits for its overlap check: K > D) to its evt, and the evts come in order."""
    h = Harness(Config(L=2, H=2, P=1), latency=30)

    async def bench(ctx, d):
        await d.soft_clear(ctx)
        triggers = []
        for i in range(2):
            await d.acquire(ctx)
            await d.program(ctx, regs_of(m=i + 1, z_addr=0x3000 + 0x1000 * i))
            triggers.append(await d.trigger(ctx))
        h.trigger_cycles = triggers
        assert await d.read(ctx, Reg.STATUS) == 0b11
        await d.idle(ctx, Controller.GUARD_CYCLES)
        assert await d.read(ctx, Reg.RUNNING_JOB) == 1
        assert ctx.get(h.dut.ctrl.streamer.abort) == 0
        e1 = await d.wait_evt(ctx)
        assert await d.read(ctx, Reg.CYCLES) == e1 - triggers[0] == 31 + Controller.GUARD_CYCLES
        assert await d.read(ctx, Reg.STATUS) == 0b10
        e2 = await d.wait_evt(ctx)
        assert await d.read(ctx, Reg.CYCLES) == 31 and e2 < e1 + 31
        assert await d.read(ctx, Reg.FINISHED) == 2
        assert await d.read(ctx, Reg.STATUS) == 0

    h.run(bench)
    (s1, j1), (s2, j2) = h.starts
    assert j1["m"] == 1 and j2["m"] == 2
    # Started after its read-after-write check (GUARD_CYCLES from the cycle after its trigger),
    # while the first ran.
    assert s2 < h.evts[0] and s2 - h.trigger_cycles[1] == 1 + Controller.GUARD_CYCLES


def run_two_jobs(h, first, second):
    """Queue the job registers ``first`` then ``second`` on harness ``h`` and run until both evts."""
    async def bench(ctx, d):
        await d.soft_clear(ctx)
        for regs in (first, second):
            await d.acquire(ctx)
            await d.program(ctx, regs)
            await d.trigger(ctx)
        await d.wait_evt(ctx, count=2 - len(d.evt_cycles))

    h.run(bench)


@pytest.mark.parametrize("reads", ["y", "x", "w"])
@pytest.mark.parametrize("fpga_arith", [False, True])
def test_job_reading_the_running_jobs_z_waits_for_it(reads, fpga_arith):
    """A queued job that reads any byte of the running job's Z (as Y in place, as X, as W) starts only
    after that job's evt; one that reads right after the end of that Z starts beside it."""
    for touch, beside in ((0, False), (1, True)):
        h = Harness(Config(L=2, H=2, P=1, fpga_arith=fpga_arith), latency=30)
        first = regs_of(m=3, k=4, z_addr=0x3000)          # Z: 0x3000 .. 0x3000 + 2*8 + 8 (exclusive)
        end = 0x3000 + 2 * 8 + 8
        key = {"y": "y_addr", "x": "x_addr", "w": "w_addr"}[reads]
        second = regs_of(**{**dict(m=2, k=4, z_addr=0x5000, y_addr=0x6000),
                            key: end if touch else end - 2})
        run_two_jobs(h, first, second)
        assert (h.starts[1][0] < h.evts[0]) == beside, (reads, touch)
        if not beside:
            assert h.starts[1][0] == h.evts[0] + 1


@pytest.mark.parametrize("touch", [0, 1])
@pytest.mark.parametrize("fpga_arith", [False, True])
def test_guard_is_exact_for_large_ranges(touch, fpga_arith):
    """The range arithmetic over every bit: Z spans (M-1)*pitch = 19999 * 0x12344 bytes (about 1.4
    GiB); a job whose X starts at that Z's end starts beside it, one whose X starts 2 bytes earlier
    waits for its evt."""
    h = Harness(Config(L=2, H=2, P=1, fpga_arith=fpga_arith), latency=30)
    first = regs_of(m=20000, k=4, z_addr=0x100, z_stride=0x12344, x_addr=0xF000_0000,
                    w_addr=0xF100_0000)
    end = 0x100 + 19999 * 0x12344 + 4 * 2
    second = regs_of(m=2, k=4, x_addr=end if touch else end - 2, w_addr=end + 0x1000, z_addr=end + 0x2000)
    run_two_jobs(h, first, second)
    assert (h.starts[1][0] < h.evts[0]) == bool(touch)


@pytest.mark.parametrize("which", ["running_z", "head_x"])
@pytest.mark.parametrize("fpga_arith", [False, True])
def test_guard_counts_a_span_of_2gib_or_more_as_overlapping(which, fpga_arith):
    """Five rows 2 GiB apart wrap around the 32-bit address space (rows 0, 2, 4 at one address, 1
    and 3 at another): a range end computed in 33 bits would lose the wrapped rows, so the guard
    treats any (M-1)*pitch >= 2**31 as overlapping. Here the second job really reads a row of the
    first one's Z and waits for its evt. (L = 8: single-tile jobs, which the overlap check of a
    job's own ranges leaves alone.)"""
    h = Harness(Config(L=8, H=2, P=1, fpga_arith=fpga_arith), latency=30)
    if which == "running_z":
        first = regs_of(m=5, k=4, z_addr=0x1000_0000, z_stride=1 << 31)
        second = regs_of(m=2, k=4, x_addr=0x9000_0000, z_addr=0x5000)
    else:
        first = regs_of(m=2, k=4, z_addr=0x3000)
        second = regs_of(m=5, k=4, x_addr=0x8000_3000, x_stride=1 << 31, z_addr=0x5000)
    run_two_jobs(h, first, second)
    assert h.starts[1][0] == h.evts[0] + 1


@pytest.mark.parametrize("fpga_arith", [False, True])
def test_guard_counts_a_range_past_the_top_of_the_address_space_as_overlapping(fpga_arith):
    """The streamer's addresses count modulo 2**32: W (7 rows of 8 bytes) from 0xFFFF_FFF0 wraps
    around to [0, 40) and reads the running job's Z at [0, 24), so the second job waits for the
    first one's evt. (Found by formal's ``guard_beside``: the guard compared the ranges without
    the wrap and started it beside the first.)"""
    h = Harness(Config(L=2, H=2, P=1, fpga_arith=fpga_arith), latency=30)
    first = regs_of(m=3, k=4, z_addr=0)
    second = regs_of(m=2, k=4, w_addr=0xFFFF_FFF0, z_addr=0x5000)
    run_two_jobs(h, first, second)
    assert h.starts[1][0] == h.evts[0] + 1


def test_job_triggered_in_the_cycle_of_a_soft_clear_gets_its_own_overlap_check():
    """A job queued while another waits for its overlap check, then a SOFT_CLEAR and, in the cycle
    of its clear pulse, a TRIGGER of a context holding a job that overlaps itself: the guard's
    check starts over for it and it is refused, not started on the result of the job before.
    (Found by formal's ``guard_self``: the guard's age ran on across the clear.)"""
    h = Harness(Config(L=2, H=2, P=1, contexts=2), latency=30)
    # X rows 0x1000 apart: X spans [0x1000, 0x500E), Z at 0x3000 inside it; 3 x 3 tiles.
    overlapping = regs_of(x_stride=0x1000)

    async def bench(ctx, d):
        await d.soft_clear(ctx)
        await d.acquire(ctx)                   # context 0: the overlapping job, refused
        await d.program(ctx, overlapping)
        await d.trigger(ctx)
        await d.wait_evt(ctx)
        assert await d.read(ctx, Reg.ERROR) == JobError.OVERLAP
        await d.acquire(ctx)                   # context 1: a good job, waiting for its check
        await d.program(ctx, regs_of())
        await d.trigger(ctx)
        await d.soft_clear(ctx, 1)             # keep the registers
        await d.trigger(ctx)                   # in the clear cycle: context 0 again
        await d.wait_evt(ctx)
        assert await d.read(ctx, Reg.ERROR) == JobError.OVERLAP

    h.run(bench)
    assert h.starts == []


def test_third_job_waits_for_a_free_slot():
    """Three contexts: two jobs run at once; the third starts the cycle after the first's evt."""
    h = Harness(Config(L=2, H=2, P=1, contexts=3), latency=30)

    async def bench(ctx, d):
        await d.soft_clear(ctx)
        for i in range(3):
            await d.acquire(ctx)
            await d.program(ctx, regs_of(m=i + 1, z_addr=0x3000 + 0x1000 * i))
            await d.trigger(ctx)
        await d.wait_evt(ctx, count=3 - len(d.evt_cycles))
        assert await d.read(ctx, Reg.FINISHED) == 3

    h.run(bench)
    assert [j["m"] for _, j in h.starts] == [1, 2, 3]
    assert h.starts[1][0] < h.evts[0] and h.starts[2][0] == h.evts[0] + 1


def test_soft_clear_aborts_and_next_job_runs():
    h = Harness(Config(L=2, H=2, P=1), latency=50)

    async def bench(ctx, d):
        await d.soft_clear(ctx)
        await d.acquire(ctx)
        await d.program(ctx, regs_of())
        await d.trigger(ctx)
        await d.idle(ctx, 10)
        await d.soft_clear(ctx)
        t = d.last_accept
        await d.idle(ctx, 60)
        assert h.aborts[1:] == [t + 1] and h.evts == []   # [0]: the first soft clear
        assert await d.read(ctx, Reg.STATUS) == 0
        assert await d.read(ctx, Reg.FINISHED) == 0
        t, e, cycles, error = await offload(ctx, d, regs_of())
        assert (cycles, error) == (h.latency + 1 + Controller.GUARD_CYCLES, 0)

    h.run(bench)
    assert len(h.starts) == 2



def test_error_belongs_to_the_job_whose_evt_it_follows():
    """A refused job queued between two good ones: the second good job starts right after the
    refused job's evt, yet ERROR (like CYCLES) still shows the refused job's code until its own evt."""
    h = Harness(Config(L=2, H=2, P=1, contexts=3), latency=20)

    async def bench(ctx, d):
        await d.soft_clear(ctx)
        for regs in (regs_of(), regs_of(m=0), regs_of()):
            await d.acquire(ctx)
            await d.program(ctx, regs)
            await d.trigger(ctx)
        await d.wait_evt(ctx, count=2 - len(d.evt_cycles))   # the first job's and the refused one's
        assert await d.read(ctx, Reg.STATUS) == 0b100        # the last job is running
        assert await d.read(ctx, Reg.ERROR) == JobError.SIZE_ZERO
        assert await d.read(ctx, Reg.CYCLES) == 1
        await d.wait_evt(ctx)
        assert await d.read(ctx, Reg.ERROR) == JobError.OK
        # It waited for its overlap check from the refused job's take (one cycle before its evt).
        assert await d.read(ctx, Reg.CYCLES) == 21 + Controller.GUARD_CYCLES - 1

    h.run(bench)
