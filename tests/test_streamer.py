"""The streamer against the TCDM memory model, with behavioural engine-side consumers and producer.

Every X/W/Y beat the streamer delivers is checked bit for bit: its valid elements against the engine's
stream order (``sim.streams``, from the matrices as placed in memory), and every element of it against
the bytes in memory at the beat's address (cast to FP16). Z beats go the other way; afterwards Z must
be in memory exactly (cast to the output format) and no other byte may have changed.
"""
import random
from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from redmule_hdl.config import Config
from redmule_hdl.interfaces import TcdmSignature, element_format
from redmule_hdl.sim.memory import TcdmMemory, TcdmProtocolError
from redmule_hdl.sim.streams import pack_beat, unpack_beat, w_beats, x_beats, y_beats, z_beats
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import format_by_name
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.system.streamer import Streamer

from .helpers import FP16_SPECIALS


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
            ctx.set(dut.job.payload, job)
            ctx.set(dut.job.valid, 1)
            await ctx.tick()
            ctx.set(dut.job.valid, 0)
            await ctx.tick().repeat(abort_at)
            ctx.set(dut.abort, 1)
            await ctx.tick()
            state["phase"] = "aborted"
            ctx.set(dut.abort, 0)
            if not restart_at_once:
                # As the controller does: the next job starts once the streamer is idle.
                while not ctx.get(dut.idle):
                    await ctx.tick()
            else:
                # The earliest restart the streamer allows: no request waits for its grant (a
                # request raised before the abort stays until granted); reads may be in flight.
                while ctx.get(dut.tcdm.req):
                    await ctx.tick()
            state["phase"] = "run"
        reads_before, writes_before = mem.reads, mem.writes
        ctx.set(dut.job.payload, job)
        ctx.set(dut.job.valid, 1)
        cycle = 0
        store_granted = False    # the previous cycle granted a store
        async for _, _, req, gnt, wen, sd, idle in ctx.tick().sample(
                dut.tcdm.req, dut.tcdm.gnt, dut.tcdm.wen, dut.stored, dut.idle):
            if cycle == 0:
                ctx.set(dut.job.valid, 0)
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


C221 = Config(L=2, H=2, P=1)
C321 = Config(L=3, H=2, P=1)
C423 = Config(L=4, H=2, P=3)


# ---- basic function and latencies ---------------------------------------------------------------------
def test_fp16_dense():
    r = run(C221, 3, 5, 6)
    assert r.first_request == 1


def test_latencies_and_back_to_back_port():
    # Consumers always ready, memory always grants, latency 1: the first request comes the cycle
    # after start, the port carries a request in every cycle between the first and the last read,
    # Z stores leave within a cycle of being offered (one cycle only when an urgent W goes first),
    # stored pulses and idle rises the cycle after the last grant.
    r = run(C321, 5, 7, 9, seed=3)
    assert r.first_request == 1
    assert r.gaps == 0
    assert max(r.z_wait) <= 1 and r.z_wait.count(0) >= len(r.z_wait) // 2
    assert r.idle_after == 1


def test_response_is_forwarded_in_its_cycle():
    # r_valid -> stream valid in the same cycle: at latency 1 with the consumers always ready the
    # FIFOs stay empty, so the whole job costs reads + writes + a few cycles of Z causality.
    r = run(C221, 2, 4, 4, op="matmul")
    assert r.cycles <= r.reads + r.writes + 2, (r.cycles, r.reads, r.writes)


@pytest.mark.parametrize("op", ["matmul", "gemm", "addmax"])
def test_ops_with_and_without_y(op):
    # MATMUL reads no Y at all (``run`` checks the number of reads against the job's beats).
    run(C321, 4, 3, 5, op=op, seed=5)


# ---- odd shapes, strides, alignment -------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 4, 4), (3, 5, 6), (5, 9, 3), (7, 3, 9)],
                         ids=lambda s: "x".join(map(str, s)))
def test_shapes(shape):
    run(C221, *shape, seed=sum(shape), ready_p=0.6, z_valid_p=0.7)


def test_strides_fp16():
    run(C321, 5, 7, 9, pitch_pad=(6, 10, 2), seed=11, ready_p=0.7)


def test_misaligned_fp16_rows():
    # Element aligned, not word aligned: base offsets of 2 bytes and pitches of 2 mod 4.
    run(C321, 5, 7, 9, pitch_pad=(0, 4, 0), offsets=(2, 2, 2, 2), seed=12, ready_p=0.8)


@pytest.mark.parametrize("in_fmt,out_fmt", [("e5m2", "e5m2"), ("e4m3", "e4m3"), ("e5m2", "fp16"),
                                            ("fp16", "e4m3"), ("e4m3", "e5m2")])
def test_fp8_formats(in_fmt, out_fmt):
    # Byte-packed FP8 rows at every byte offset, odd pitches.
    run(C321, 5, 7, 9, in_fmt=in_fmt, out_fmt=out_fmt, pitch_pad=(1, 3, 5), offsets=(1, 3, 2, 1),
        seed=hash((in_fmt, out_fmt)) & 0xFFFF, ready_p=0.8)


def test_y_in_place_of_z():
    # Y read from Z's own location (Y_SEP = 0): every Y beat must be read before its Z is stored.
    run(C321, 5, 4, 6, y_is_z=True, seed=13, ready_p=0.8)
    run(C321, 4, 4, 9, y_is_z=True, in_fmt="e4m3", offsets=(1, 1, 0, 3), seed=14)


def test_deeper_pipeline_config():
    run(C423, 6, 11, 13, pitch_pad=(2, 0, 4), offsets=(2, 0, 2, 2), seed=15, ready_p=0.7)
    run(C423, 5, 9, 17, in_fmt="e5m2", out_fmt="e4m3", offsets=(3, 1, 0, 2), latency=3,
        p_refuse=0.3, seed=16)


def test_word_aligned_port():
    # misaligned=False: the port is exactly one beat wide and all beat addresses are word aligned.
    c = Config(L=2, H=2, P=1, misaligned=False)
    run(c, 3, 5, 6, pitch_pad=(2, 0, 0), seed=17, ready_p=0.7)
    run(c, 3, 9, 6, in_fmt="e5m2", out_fmt="e4m3", pitch_pad=(3, 2, 2), seed=18, ready_p=0.7)


# ---- memory stalls and latency --------------------------------------------------------------------------
@pytest.mark.parametrize("latency", [1, 3])
@pytest.mark.parametrize("p_refuse", [0.0, 0.3, 0.7])
def test_grant_refusal_and_latency(p_refuse, latency):
    seed = int(p_refuse * 10) + 7 * latency
    run(C321, 5, 7, 9, pitch_pad=(2, 0, 6), offsets=(2, 0, 0, 2), latency=latency,
        p_refuse=p_refuse, seed=seed, ready_p=0.7, z_valid_p=0.8)
    run(C221, 3, 5, 6, in_fmt="e4m3", out_fmt="e5m2", offsets=(1, 2, 3, 1), latency=latency,
        p_refuse=p_refuse, seed=seed + 1, ready_p=0.9)


def test_fifo_depths():
    # Depth 1 everywhere (minimum) and deep FIFOs with a slow consumer: still exact.
    run(C321, 4, 7, 5, depths={"x_depth": 1, "w_depth": 1, "y_depth": 1}, latency=2,
        p_refuse=0.3, seed=19, ready_p=0.5)
    run(C321, 4, 7, 5, depths={"x_depth": 3, "w_depth": 5, "y_depth": 4}, latency=3,
        p_refuse=0.3, seed=20, ready_p=0.3)


# ---- abort -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("abort_at,p_refuse", [(3, 0.0), (6, 0.7), (1, 0.3)])
def test_abort_then_new_job(abort_at, p_refuse):
    run(C321, 4, 5, 6, latency=3, p_refuse=p_refuse, abort_at=abort_at, seed=21 + abort_at)


def test_abort_and_restart_at_once():
    # The next job starts in the cycle after the abort, while the aborted job's reads are still
    # in flight: their responses must be dropped, not delivered to the new job.
    run(C321, 4, 5, 6, latency=3, p_refuse=0.3, abort_at=5, restart_at_once=True, seed=31)
    run(C221, 3, 5, 6, latency=2, abort_at=2, restart_at_once=True, seed=32, in_fmt="e5m2")


# ---- a port of D FP8 elements (beat_format="fp8") ---------------------------------------------------------
FP8_PORT = Config(L=2, H=2, P=1, beat_format="fp8")            # D = 4: 32 + 32 = 64-bit port
FP8_PORT_D3 = Config(L=3, H=3, P=0, beat_format="fp8")         # D = 3: 56-bit port, halves 3 bytes apart
FP8_PORT_NARROW = Config(L=2, H=2, P=1, misaligned=False, beat_format="fp8")   # 32-bit port
FP8_PORTS = [FP8_PORT, FP8_PORT_D3]
FORMAT_PAIRS = [("fp16", "fp16"), ("e4m3", "e4m3"), ("e5m2", "fp16"), ("fp16", "e4m3"),
                ("e4m3", "e5m2"), ("fp16", "e5m2")]


def _port_id(config):
    return f"D{config.D}{'' if config.misaligned else '-narrow'}"


@pytest.mark.parametrize("config", FP8_PORTS, ids=_port_id)
@pytest.mark.parametrize("in_fmt,out_fmt", FORMAT_PAIRS)
def test_fp8_port_formats_misaligned_rows_and_stalls(config, in_fmt, out_fmt):
    # Every format pair, leftovers in M, N and K (N and K below and above D), element-aligned rows
    # at every byte offset with odd pitches, refused grants, read latency 3, slow consumers.
    seed = FORMAT_PAIRS.index((in_fmt, out_fmt)) + 10 * config.D
    es_in = 2 if in_fmt == "fp16" else 1
    es_out = 2 if out_fmt == "fp16" else 1
    for M, N, K in ((3, 2, 7), (4, 7, 2)):
        run(config, M, N, K, in_fmt=in_fmt, out_fmt=out_fmt, pitch_pad=(es_in, 3 * es_in, es_out),
            offsets=(es_in, 4 - es_in, 0, 4 - es_out), latency=3, p_refuse=0.4,
            seed=seed + N, ready_p=0.7, z_valid_p=0.8)


def test_fp8_port_fp16_beat_is_two_transfers_back_to_back():
    # All streams FP16, word-aligned rows, memory always grants: every request is a half, the high
    # half (D bytes further, same direction) is accepted in the cycle after its low half, a store's
    # halves enable the bytes of the low and high half of the row; the port never idles between
    # the first and the last read, and every beat costs two cycles of the port.
    r = run(FP8_PORT, 3, 6, 6, pitch_pad=(4, 4, 4), seed=40)
    log = r.mem.log
    assert len(log) == r.reads + r.writes and len(log) % 2 == 0
    D = FP8_PORT.D
    for (c0, k0, a0, be0), (c1, k1, a1, be1) in zip(log[::2], log[1::2]):
        assert (c1, k1, a1) == (c0 + 1, k0, a0 + D)
        if k0 == "w":
            # K = 6: the second k-tile has 2 valid elements, all in the low half.
            assert (be0, be1) in ((0xF, 0xF), (0xF, 0x0))
    assert r.gaps == 0
    assert r.cycles <= r.reads + r.writes + 4


def test_fp8_port_fp8_jobs_move_as_on_an_fp16_port():
    # A job whose streams are all FP8 takes one transfer per beat: the same requests in the same
    # cycles (grants refused by the same draws) as on the FP16 port of the same array.
    for p_refuse, latency in ((0.0, 1), (0.4, 3)):
        kw = dict(in_fmt="e4m3", out_fmt="e5m2", offsets=(1, 2, 3, 1), pitch_pad=(1, 2, 3),
                  latency=latency, p_refuse=p_refuse, seed=41)
        a, b = run(C221, 5, 6, 7, **kw), run(FP8_PORT, 5, 6, 7, **kw)
        assert (a.cycles, a.reads, a.writes) == (b.cycles, b.reads, b.writes)
        assert [e[:2] for e in a.mem.log] == [e[:2] for e in b.mem.log]
        assert a.mem.refused == b.mem.refused


def test_fp8_port_word_aligned():
    # misaligned=False: a 32-bit port; both halves of an FP16 beat are whole words.
    run(FP8_PORT_NARROW, 3, 5, 6, pitch_pad=(2, 0, 0), latency=2, p_refuse=0.3, seed=42, ready_p=0.7)
    run(FP8_PORT_NARROW, 3, 9, 6, in_fmt="e5m2", out_fmt="fp16", pitch_pad=(3, 2, 0), seed=43,
        ready_p=0.7)
    run(FP8_PORT_NARROW, 5, 4, 9, in_fmt="fp16", out_fmt="e4m3", pitch_pad=(0, 2, 3), seed=44,
        latency=3, p_refuse=0.5)


@pytest.mark.parametrize("in_fmt,out_fmt", [("fp16", "fp16"), ("e4m3", "fp16")])
def test_fp8_port_abort_between_halves(in_fmt, out_fmt):
    # Aborts at every cycle of a job's start under heavy grant refusal, so that some fall between
    # the halves of a beat: the memory model fails on a withdrawn or changed request, the aborted
    # job's responses are dropped, and the next job is exact.
    for abort_at in range(1, 14):
        run(FP8_PORT, 3, 5, 6, in_fmt=in_fmt, out_fmt=out_fmt, latency=2, p_refuse=0.6,
            abort_at=abort_at, seed=50 + abort_at)
    run(FP8_PORT, 3, 5, 6, in_fmt=in_fmt, out_fmt=out_fmt, latency=3, p_refuse=0.3, abort_at=5,
        restart_at_once=True, seed=49)


# ---- the memory model itself -----------------------------------------------------------------------------
class _Initiator:
    """A scripted initiator for testing the memory model: one request tuple (or None) per cycle."""

    def __init__(self, config):
        self.port = TcdmSignature(config.port_width).create()


def _drive(mem, port, script, collect=None):
    async def initiator(ctx):
        for item in script:
            if item is None:
                ctx.set(port.req, 0)
            else:
                add, wen, be, data = item
                ctx.set(port.req, 1)
                ctx.set(port.add, add)
                ctx.set(port.wen, wen)
                ctx.set(port.be, be)
                ctx.set(port.data, data)
            _, _, gnt, rv, rd = await ctx.tick().sample(port.gnt, port.r_valid, port.r_data)
            if collect is not None:
                collect.append((gnt, rv, rd))

    m = Module()
    toggle = Signal()
    m.d.sync += toggle.eq(~toggle)     # a clock domain for the testbenches to tick on
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(mem.process(port), background=True)
    sim.add_testbench(initiator)
    sim.run()


def test_memory_model_reads_writes_latency():
    port = _Initiator(C221).port   # 64 + 32 = 96-bit port, 12 bytes
    mem = TcdmMemory(64, base=0x100, read_latency=3)
    mem.write_bytes(0x110, np.arange(12, dtype=np.uint8))
    out = []
    _drive(mem, port, [(0x110, 1, 0, 0), (0x110, 0, 0b110, 0xAABBCC00), (0x110, 1, 0, 0),
                       None, None, None, None], out)
    # The first read answers in cycle 3 with the old data, the second in cycle 5 with the new.
    assert [o[1] for o in out] == [0, 0, 0, 1, 0, 1, 0]
    assert out[3][2] == int.from_bytes(bytes(range(12)), "little")
    assert out[5][2] & 0xFFFFFFFF == 0x03BBCC00
    assert list(mem.read_bytes(0x110, 4)) == [0x00, 0xCC, 0xBB, 0x03]


def test_memory_model_grant_draw_rule():
    port = _Initiator(C221).port
    mem = TcdmMemory(64, base=0, p_refuse=0.5, seed=42)
    mem.check_stability = False   # this script drops refused requests on purpose
    script = [(0, 1, 0, 0) if i % 3 else None for i in range(40)]
    # A well-behaved initiator holds a refused request: re-drive the same one until granted.
    out = []
    _drive(mem, port, script, out)
    rng = random.Random(42)
    expected = []
    u = rng.random()
    for item in script:
        expected.append(u >= 0.5)
        if item is not None:
            u = rng.random()
    assert [bool(o[0]) for o, s in zip(out, script) if s is not None] == \
           [e for e, s in zip(expected, script) if s is not None]


def test_memory_model_catches_protocol_errors():
    port = _Initiator(C221).port
    # A refused request that is withdrawn.
    mem = TcdmMemory(64, base=0, p_refuse=0.99, seed=1)
    with pytest.raises(TcdmProtocolError, match="cycle 1: request read 0x4 withdrawn"):
        _drive(mem, port, [(4, 1, 0, 0), None, None])
    # A refused request that changes its address.
    mem = TcdmMemory(64, base=0, p_refuse=0.99, seed=1)
    with pytest.raises(TcdmProtocolError, match="cycle 1: request changed"):
        _drive(mem, port, [(4, 1, 0, 0), (8, 1, 0, 0), None])
    # Misaligned and out-of-range accesses.
    with pytest.raises(TcdmProtocolError, match="not word aligned"):
        _drive(TcdmMemory(64), port, [(2, 1, 0, 0)])
    with pytest.raises(TcdmProtocolError, match="outside the memory"):
        _drive(TcdmMemory(64), port, [(56, 1, 0, 0)])
    with pytest.raises(TcdmProtocolError, match="outside the memory"):
        _drive(TcdmMemory(64), port, [(60, 0, 0b10000, 0)])
    _drive(TcdmMemory(64), port, [(60, 0, 0b1111, 0)])   # enabled bytes inside: fine


def test_memory_model_guard_and_matrices():
    mem = TcdmMemory(256, base=0x1000)
    mem.fill_random(3)
    bits = np.arange(12, dtype=np.uint16).reshape(3, 4) * 0x1111
    mem.place_matrix(0x1002, bits, "fp16", pitch=10)
    assert (mem.read_matrix(0x1002, (3, 4), "fp16", pitch=10) == bits).all()
    b8 = np.arange(6, dtype=np.uint8).reshape(2, 3)
    mem.place_matrix(0x1081, b8, "e4m3", pitch=5)
    assert (mem.read_matrix(0x1081, (2, 3), "e4m3", pitch=5) == b8).all()
    mem.snapshot()
    mem.write_bytes(0x1002, [1, 2])
    mem.guard_check([(0x1002, 8)])
    mem.write_bytes(0x100A, [mem.read_bytes(0x100A, 1)[0] ^ 1])
    with pytest.raises(AssertionError, match="0x100a"):
        mem.guard_check([(0x1002, 8)])
