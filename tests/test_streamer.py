"""The streamer against the TCDM memory model, with behavioural engine-side consumers and producer
(the testbench ``sim.streamer_bench``, which checks every beat and Z in memory bit for bit), over
shapes, strides, alignments, formats, memory stalls, aborts and the FP8 port; and the memory model
itself.
"""
import random
import zlib

import numpy as np
import pytest
from amaranth.hdl import Module, Signal

from redmule_hdl.config import Config
from redmule_hdl.interfaces import TcdmSignature
from redmule_hdl.sim.memory import TcdmMemory, TcdmProtocolError
from redmule_hdl.sim.streamer_bench import run
from redmule_hdl.spec.schedule import LOAD_FIFO_CYCLES, Z_REGISTER_CYCLES

from .helpers import run_testbench


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


def test_response_reaches_the_engine_in_the_next_cycle():
    # r_valid -> load FIFO -> stream valid in the next cycle, and the Z beat register: at latency 1
    # with the consumers always ready the whole job costs reads + writes + those two cycles + a few
    # cycles of Z causality (9 cycles before both registers, 11 with them).
    r = run(C221, 2, 4, 4, op="matmul")
    assert r.cycles <= r.reads + r.writes + LOAD_FIFO_CYCLES + Z_REGISTER_CYCLES + 2, \
        (r.cycles, r.reads, r.writes)


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
        seed=zlib.crc32(f"{in_fmt},{out_fmt}".encode()) & 0xFFFF, ready_p=0.8)


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
    run_testbench(m, initiator, background=[mem.process(port)])


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
