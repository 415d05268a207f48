"""``Config.memories``: the X-buffer and the load FIFOs in registers ("flops") or in
``amaranth.lib.memory.Memory`` banks ("ram"). Both builds must give the same results in the same
cycles ("fifos", only the FIFOs in memories, too; and the FPGA build, "ram" with ``fpga_arith``);
the X-buffer's diagonal banks are also checked against a model of the buffer alone."""
import random

import numpy as np
import pytest

from redmule_hdl import sim
from redmule_hdl.config import Config
from redmule_hdl.engine.x_buffer import XBuffer
from redmule_hdl.spec import golden
from redmule_hdl.system.streamer.loads import LoadFifo

from .helpers import random_matrix, refused, run_testbench


def test_memories_parameter():
    assert Config().memories == "flops"
    with pytest.raises(ValueError, match=r"^memories must be one of 'flops', 'fifos', 'ram', not 'bram'$"):
        Config(memories="bram")
    with pytest.raises(TypeError, match=r"^memories must be a str, not 1$"):
        Config(memories=1)
    with refused(ValueError, r"^memories must be 'flops' or 'ram', not 'latches'$"):
        XBuffer(2, 2, memories="latches")
    with refused(ValueError, r"^memories must be 'flops' or 'ram', not None$"):
        LoadFifo(2, 2, memories=None)
    assert [Config(memories=m).storage("xbuf") for m in Config.MEMORIES] == ["flops", "flops", "ram"]
    assert [Config(memories=m).storage("fifos") for m in Config.MEMORIES] == ["flops", "ram", "ram"]


@pytest.mark.parametrize("L,D", [(3, 2), (2, 4), (4, 3)])
@pytest.mark.parametrize("memories", ["flops", "ram"])
def test_x_buffer_against_model(L, D, memories):
    """Random fills (groups of 1..L rows) and takes (chunks of 1..D elements): every element taken
    is the model's, for every row of its group; ``can_take``, ``ready`` and ``group_done`` match it
    in every cycle. L > D and D > L exercise both bank counts of the "ram" build."""
    dut = XBuffer(L, D, memories=memories)
    rng = random.Random(L * 10 + D)
    checked = []

    async def testbench(ctx):
        groups = []          # complete groups not yet taken from: (rows, beats)
        active = None        # (rows, beats, next element, chunk length) of the chunk being taken
        filling = []         # beats of the group being filled
        rows = rng.randint(1, L)
        for cycle in range(600):
            fill = rng.random() < 0.7
            valid = rng.random() < 0.7
            beat = [rng.getrandbits(16) for _ in range(D)]
            can_take = active is not None or bool(groups)
            # The pending group is full once complete and until its chunk's first take.
            pending_full = len(groups) == 1
            take = can_take and rng.random() < 0.6
            if take and active is None:
                g_rows, g_beats = groups.pop(0)
                active = (g_rows, g_beats, 0, rng.randint(1, D))
            last = take and active[2] + 1 == active[3]
            ctx.set(dut.fill_enable, fill)
            ctx.set(dut.fill_rows, rows)
            ctx.set(dut.beat.valid, valid)
            ctx.set(dut.beat.payload, beat)
            ctx.set(dut.take, take)
            ctx.set(dut.take_last, last)
            assert ctx.get(dut.can_take) == can_take, cycle
            assert ctx.get(dut.beat.ready) == (fill and not pending_full), cycle
            if take:
                g_rows, g_beats, e, n = active
                head = ctx.get(dut.head)
                for r in range(g_rows):
                    assert head[r] == g_beats[r][e], (cycle, r, e)
                    checked.append(1)
                active = None if last else (g_rows, g_beats, e + 1, n)
            if fill and valid and not pending_full:
                filling.append(beat)
                done = len(filling) == rows
                assert ctx.get(dut.group_done) == done
                if done:
                    groups.append((rows, filling))
                    filling, rows = [], rng.randint(1, L)
            else:
                assert not ctx.get(dut.group_done)
            await ctx.tick()

    run_testbench(dut, testbench)
    assert len(checked) > 100


@pytest.mark.parametrize("depth", [1, 2, 5])
@pytest.mark.parametrize("memories", ["flops", "ram"])
def test_load_fifo_against_model(depth, memories):
    """Random pushes (while there is room, as the credits guarantee), takes and clears: the head
    (valid, beat, group-last flag) is the model's in every cycle, one cycle after a push. The "ram"
    build's head register must follow a push into an empty FIFO, a take with or without a push,
    and a clear."""
    D = 2
    dut = LoadFifo(D, depth, memories=memories)
    rng = random.Random(depth * 10 + len(memories))
    taken = []

    async def testbench(ctx):
        model = []
        for cycle in range(800):
            push = len(model) < depth and rng.random() < 0.6
            beat = [rng.getrandbits(16) for _ in range(D)]
            last = rng.random() < 0.3
            ready = rng.random() < 0.6
            clear = rng.random() < 0.03
            ctx.set(dut.push_valid, push)
            ctx.set(dut.push_beat, beat)
            ctx.set(dut.push_last, last)
            ctx.set(dut.out.ready, ready)
            ctx.set(dut.clear, clear)
            assert ctx.get(dut.out.valid) == bool(model), cycle
            take = bool(model) and ready
            assert ctx.get(dut.take) == take, cycle
            if model:
                assert list(ctx.get(dut.out.payload)) == model[0][0], cycle
                assert ctx.get(dut.take_last) == model[0][1], cycle
            if take:
                taken.append(model.pop(0))
            if push:
                model.append((beat, last))
            if clear:
                model = []
            await ctx.tick()

    run_testbench(dut, testbench)
    assert len(taken) > 150


def _operands(seed, M, N, K, fmt="fp16"):
    rng = np.random.default_rng(seed)
    return tuple(random_matrix(rng, shape, fmt, 0.1) for shape in ((M, N), (N, K), (M, K)))


@pytest.mark.parametrize("params,op,shape,kwargs", [
    # L > D (3 banks for D = 2): several tiles, refused grants, read latency 3, two queued jobs.
    (dict(L=3, H=1, P=1), "gemm", (7, 5, 3), dict(stall=0.3, latency=3, seed=1, queue=2)),
    # D > L, FP8 port (FP16 beats in two transfers), an abort, FP8 operands.
    (dict(L=2, H=2, P=1, beat_format="fp8"), "mulmin", (3, 6, 5),
     dict(stall=0.2, latency=2, seed=2, abort_after=20, in_fmt="e4m3")),
], ids=["3x1x1-queue", "2x2x1-fp8-abort"])
def test_ram_build_is_cycle_identical(params, op, shape, kwargs):
    x, w, y = _operands(sum(shape), *shape, kwargs.get("in_fmt", "fp16"))
    runs = {mem: sim.run_job(Config(**params, memories=mem), op, x, w, y, **kwargs)
            for mem in Config.MEMORIES}
    runs["ram, fpga_arith"] = sim.run_job(Config(**params, memories="ram", fpga_arith=True), op, x, w, y,
                                         **kwargs)
    want = golden.gemm_op(op, x, w, y, in_fmt=kwargs.get("in_fmt", "fp16"))
    for mem, r in runs.items():
        assert [np.array_equal(run.z, want) for run in r.runs] == [True] * len(r.runs), mem
    for mem in ("fifos", "ram", "ram, fpga_arith"):
        assert runs[mem].cycles == runs["flops"].cycles
        assert [run.cycles for run in runs[mem].runs] == [run.cycles for run in runs["flops"].runs]
