"""Testbench of the streamer alone: the TCDM memory model on its port, behavioural engine-side
consumers (X, W, Y) and producer (Z) on its streams.

``run(config, M, N, K, ...)`` places a job's matrices in a ``TcdmMemory`` (pitches, offsets, formats,
Y in place of Z as asked), drives one job through ``Streamer`` (optionally after a first job of the
same shape aborted after ``abort_at`` cycles) and checks:

* every X/W/Y beat bit for bit: its valid elements against the engine's stream order
  (``sim.streams``, from the matrices as placed in memory), and every element of it against the bytes
  in memory at the beat's address (cast to FP16); a beat offered is never withdrawn or changed;
* Z: the producer offers beats (FP16, with specials; garbage beyond K) no earlier than the engine
  could (after the inputs of their tile were taken); afterwards Z must be in memory exactly (cast to
  the output format) and no other byte may have changed;
* one port transfer per beat (two per FP16 beat on an FP8 port), no request after the last store,
  ``stored`` pulsing the cycle after the last store's grant.

Consumers take beats with probability ``ready_p`` per cycle, the producer offers with ``z_valid_p``,
the memory refuses grants with ``p_refuse`` and answers after ``latency`` cycles; all random draws
come from ``seed``. Returns a ``Result`` with the cycle counts the tests check.
"""
import random
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from redmule_hdl.interfaces import element_format
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import format_by_name
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.system.streamer import Streamer

from .memory import TcdmMemory
from .streams import FP16_SPECIALS, pack_beat, unpack_beat, w_beats, x_beats, y_beats, z_beats

__all__ = ["Layout", "Result", "reference_reads", "beat_from_memory", "run"]


# ---- reference: the beats of a job, with their element addresses ---------------------------------------
@dataclass
class Layout:
    """Where a job's matrices live (byte addresses and pitches) and in which formats."""
    x_addr: int
    w_addr: int
    y_addr: int
    z_addr: int
    x_pitch: int
    w_pitch: int
    z_pitch: int
    in_fmt: str
    out_fmt: str


def reference_reads(config, M, N, K, op, lay):
    """``{"x"|"w"|"y": [(element address, valid elements), ...]}`` in the schedule's stream order."""
    ies = format_by_name(lay.in_fmt).width // 8
    oes = format_by_name(lay.out_fmt).width // 8
    schedule = config.schedule(M, N, K, uses_y=GemmOp(op).uses_y)
    walks = {"x": (schedule.x_beats(), lay.x_addr, lay.x_pitch, ies),
             "w": (schedule.w_beats(), lay.w_addr, lay.w_pitch, ies),
             "y": (schedule.y_beats(), lay.y_addr, lay.z_pitch, oes)}
    return {name: [(base + b.row * pitch + b.col * es, b.count) for b in beats]
            for name, (beats, base, pitch, es) in walks.items()}


def beat_from_memory(image, base, addr, D, fmt):
    """The D FP16 elements at element address ``addr`` of a memory image (bytes from ``base``)."""
    f = format_by_name(fmt)
    es = f.width // 8
    raw = image[addr - base: addr - base + D * es]
    if es == 2:
        return raw.view("<u2").astype(np.uint16)
    return golden.cast(raw, f, "fp16").astype(np.uint16)


@dataclass
class Result:
    cycles: int                 # from the start cycle to the cycle of the last store grant
    first_request: int          # cycle of the first request (the start pulse is cycle 0)
    idle_after: int             # cycles from the last store grant until idle was seen high
    mem: TcdmMemory
    z: np.ndarray               # Z as read back (out format bits)
    z_expected: np.ndarray
    reads: int
    writes: int
    gaps: int                   # cycles without a request between the first and the last read
    z_wait: list = field(default_factory=list)   # per Z beat: cycles from valid to its grant


def run(config, M, N, K, *, op=GemmOp.GEMM, in_fmt="fp16", out_fmt=None, pitch_pad=(0, 0, 0),
        offsets=(0, 0, 0, 0), y_is_z=False, latency=1, p_refuse=0.0, seed=0, ready_p=1.0,
        z_valid_p=1.0, depths=None, abort_at=None, restart_at_once=False, max_cycles=20000):
    """Run one job (optionally preceded by an aborted one) and check every beat; returns ``Result``."""
    out_fmt = out_fmt or in_fmt
    op = GemmOp.parse(op)
    D = config.D
    ies = format_by_name(in_fmt).width // 8
    oes = format_by_name(out_fmt).width // 8
    port_bytes = config.port_width // 8
    rng = np.random.default_rng(seed)

    # Memory map: each matrix gets its rows, a tail for reads past its end and a guard gap.
    base = 0x1_0000
    cursor = [base + 64]

    def alloc(rows, pitch, offset):
        addr = cursor[0] + offset
        cursor[0] = (addr + rows * pitch + port_bytes + 2 * D * 2 + 64 + 3) & ~3
        return addr

    x_pitch = N * ies + pitch_pad[0]
    w_pitch = K * ies + pitch_pad[1]
    z_pitch = K * oes + pitch_pad[2]
    lay = Layout(
        x_addr=alloc(M, x_pitch, offsets[0]), w_addr=alloc(N, w_pitch, offsets[1]),
        y_addr=0, z_addr=alloc(M, z_pitch, offsets[3]),
        x_pitch=x_pitch, w_pitch=w_pitch, z_pitch=z_pitch, in_fmt=in_fmt, out_fmt=out_fmt)
    lay.y_addr = lay.z_addr if y_is_z else alloc(M, z_pitch, offsets[2])
    mem = TcdmMemory(cursor[0] - base + 64, base=base, read_latency=latency, p_refuse=p_refuse,
                     seed=seed, keep_log=True)
    mem.fill_random(seed)
    image = mem.mem.copy()

    # Z as the engine would produce it: FP16 values with specials; beats carry garbage beyond K.
    z16 = rng.integers(0, 1 << 16, (M, K), dtype=np.uint16)
    pick = rng.random((M, K)) < 0.2
    z16 = np.where(pick, rng.choice(FP16_SPECIALS, (M, K)), z16).astype(np.uint16)
    z_expected = z16 if oes == 2 else golden.cast(z16, "fp16", out_fmt)

    # Expected read beats: order from sim.streams (valid elements), every element from memory.
    reads = reference_reads(config, M, N, K, op, lay)
    z_regions = mem.matrix_regions(lay.z_addr, (M, K), out_fmt, z_pitch)
    z_written = np.zeros(mem.size, dtype=bool)
    for a, n in z_regions:
        z_written[a - base:a - base + n] = True

    def matrix16(addr, shape, pitch, fmt):
        bits = mem.read_matrix(addr, shape, fmt, pitch)
        return bits if fmt == "fp16" else golden.cast(bits, fmt, "fp16").astype(np.uint16)

    x16 = matrix16(lay.x_addr, (M, N), x_pitch, in_fmt)
    w16 = matrix16(lay.w_addr, (N, K), w_pitch, in_fmt)
    y16 = matrix16(lay.y_addr, (M, K), z_pitch, out_fmt)
    oracle = {"x": list(x_beats(config, x16, K)), "w": list(w_beats(config, w16, M)),
              "y": list(y_beats(config, y16)) if op.uses_y else []}
    expected = {}
    for s, fmt in (("x", in_fmt), ("w", in_fmt), ("y", out_fmt)):
        es = ies if s != "y" else oes
        assert len(reads[s]) == len(oracle[s]), f"reference and sim.streams disagree on {s}"
        beats = []
        for (addr, valid), ref in zip(reads[s], oracle[s]):
            beat = beat_from_memory(image, base, addr, D, fmt)
            assert (beat[:valid] == ref[:valid]).all()
            # Elements past the matrix that a store of an earlier tile may have overwritten
            # (only with Y = Z) are don't-care: not checked.
            check = np.array([not z_written[addr - base + j * es: addr - base + (j + 1) * es].any()
                              or j < valid for j in range(D)])
            beats.append((beat, check))
        expected[s] = beats

    dut = Streamer(config, **(depths or {}))
    job = {
        "x_addr": lay.x_addr, "w_addr": lay.w_addr, "y_addr": lay.y_addr, "z_addr": lay.z_addr,
        "x_pitch": x_pitch, "w_pitch": w_pitch, "z_pitch": z_pitch,
        "m": M, "n": N, "k": K, "uses_y": int(op.uses_y),
        "in_fmt": element_format(in_fmt), "out_fmt": element_format(out_fmt),
    }
    z_list = list(z_beats(config, M, K))
    # Causality like the engine's: a Z beat of tile t leaves only after all inputs of tile t were taken.
    need = []
    counts = {"x": 0, "w": 0, "y": 0}
    n_chunks = -(-N // D)
    for tile in config.schedule(M, N, K).tiles():
        counts["x"] += tile.rows * n_chunks
        counts["w"] += N
        counts["y"] += tile.rows if op.uses_y else 0
        need += [dict(counts)] * tile.rows
    taken = {"x": 0, "w": 0, "y": 0}
    state = {"start": None, "phase": "warmup" if abort_at is not None else "run", "cycle": 0}
    t = {"first_req": None, "last_grant": None, "idle": None, "last_read": None, "first_read": None}
    gaps = []
    z_wait = []
    prng = random.Random(seed * 1000 + 17)

    def consumer(s):
        port = getattr(dut, s)
        crng = random.Random(seed * 1000 + ord(s))

        async def process(ctx):
            held = None
            while True:
                # Not ready between an abort and the next job: a stale beat would stay for it.
                ready = crng.random() < ready_p and state["phase"] != "aborted"
                ctx.set(port.ready, ready)
                _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload.as_value())
                if held is not None:
                    assert valid and payload == held, f"{s}: a beat offered was withdrawn or changed"
                held = None
                if not valid or state["phase"] != "run":
                    continue
                if not ready:
                    held = payload
                    continue
                i = taken[s]
                assert i < len(expected[s]), f"{s}: more beats than the job has"
                want, check = expected[s][i]
                got = unpack_beat(payload, D)
                bad = np.flatnonzero((got != want) & check)
                assert bad.size == 0, (
                    f"{s} beat {i} (element address {reads[s][i][0]:#x}): element {bad[0]} is "
                    f"{got[bad[0]]:#06x}, expected {want[bad[0]]:#06x}")
                taken[s] += 1
        return process

    async def producer(ctx):
        for i, (mm, k0, cols) in enumerate(z_list):
            while state["phase"] != "run" or any(taken[s] < need[i][s] for s in taken):
                await ctx.tick()
            while prng.random() >= z_valid_p:
                await ctx.tick()
            data = rng.integers(0, 1 << 16, D, dtype=np.uint16)     # garbage beyond K
            data[:cols] = z16[mm, k0:k0 + cols]
            ctx.set(dut.z.payload.data.as_value(), pack_beat(data))
            ctx.set(dut.z.payload.mask, (1 << cols) - 1)
            ctx.set(dut.z.valid, 1)
            waited = 0
            while True:
                _, _, ready = await ctx.tick().sample(dut.z.ready)
                if ready:
                    break
                waited += 1
            z_wait.append(waited)
            ctx.set(dut.z.valid, 0)

    async def main(ctx):
        if abort_at is not None:
            # A first job of the same shape, aborted after ``abort_at`` cycles: the consumers ignore
            # its beats, its reads in flight must be dropped, and the next job must be unaffected.
            ctx.set(dut.control.job.payload, job)
            ctx.set(dut.control.job.valid, 1)
            await ctx.tick()
            ctx.set(dut.control.job.valid, 0)
            await ctx.tick().repeat(abort_at)
            ctx.set(dut.control.abort, 1)
            await ctx.tick()
            state["phase"] = "aborted"
            ctx.set(dut.control.abort, 0)
            if not restart_at_once:
                # As the controller does: the next job starts once the streamer is idle.
                while not ctx.get(dut.control.idle):
                    await ctx.tick()
            else:
                # The earliest restart the streamer allows: no request waits for its grant (a
                # request raised before the abort stays until granted); reads may be in flight.
                while ctx.get(dut.tcdm.req):
                    await ctx.tick()
            state["phase"] = "run"
        reads_before, writes_before = mem.reads, mem.writes
        ctx.set(dut.control.job.payload, job)
        ctx.set(dut.control.job.valid, 1)
        cycle = 0
        store_granted = False    # the previous cycle granted a store
        async for _, _, req, gnt, wen, sd, idle in ctx.tick().sample(
                dut.tcdm.req, dut.tcdm.gnt, dut.tcdm.wen, dut.control.stored, dut.control.idle):
            if cycle == 0:
                ctx.set(dut.control.job.valid, 0)
            elif t["last_grant"] is None:
                if req and t["first_req"] is None:
                    t["first_req"] = cycle
                if req and gnt and wen:
                    t["first_read"] = t["first_read"] if t["first_read"] is not None else cycle
                    t["last_read"] = cycle
                gaps.append(bool(req))
                if sd:
                    # stored is registered: it pulses the cycle after the last store's grant.
                    t["last_grant"] = cycle - 1
                    assert store_granted, "stored pulsed without a store grant before it"
                    if idle:
                        t["idle"] = cycle
                store_granted = bool(req and gnt and not wen)
            else:
                assert not req, f"cycle {cycle}: request after the last store"
                if idle and t["idle"] is None:
                    t["idle"] = cycle
                if t["idle"] is not None and cycle > t["idle"] + 3:
                    break
            cycle += 1
            if cycle > max_cycles:
                raise TimeoutError(f"no completion within {max_cycles} cycles; taken {taken}, "
                                   f"{len(z_wait)} of {len(z_list)} Z beats stored")
        state["reads"] = mem.reads - reads_before
        state["writes"] = mem.writes - writes_before

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(mem.process(dut.tcdm), background=True)
    for s in "xwy":
        sim.add_testbench(consumer(s), background=True)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(main)
    mem.snapshot()
    sim.run()

    for s in "xwy":
        assert taken[s] == len(expected[s]), f"{s}: {taken[s]} of {len(expected[s])} beats delivered"
    assert len(z_wait) == len(z_list)
    z = mem.read_matrix(lay.z_addr, (M, K), out_fmt, z_pitch)
    bad = np.argwhere(z != z_expected)
    assert bad.size == 0, (f"Z differs at {len(bad)} elements, first {tuple(bad[0])}: "
                           f"{z[tuple(bad[0])]:#x} != {z_expected[tuple(bad[0])]:#x}")
    mem.guard_check(z_regions)
    # Transfers: one per beat, two per FP16 beat on a port of D FP8 elements.
    per_beat = {"x": in_fmt, "w": in_fmt, "y": out_fmt}
    n_reads = sum(len(v) * config.transfers_per_beat(per_beat[s]) for s, v in reads.items())
    n_writes = len(z_list) * config.transfers_per_beat(out_fmt)
    assert state["reads"] == n_reads, f"{state['reads']} reads issued, the job needs {n_reads}"
    assert state["writes"] == n_writes, f"{state['writes']} writes issued, the job needs {n_writes}"
    span = gaps[t["first_read"] - 1:t["last_read"]] if t["first_read"] else []
    return Result(cycles=t["last_grant"], first_request=t["first_req"],
                  idle_after=t["idle"] - t["last_grant"], mem=mem, z=z, z_expected=z_expected,
                  reads=n_reads, writes=n_writes, gaps=span.count(False), z_wait=z_wait)
