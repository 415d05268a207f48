"""The loop order has one owner: ``spec.schedule`` in Python and ``engine.tile_walk.TileWalk`` in
hardware walk exactly the same positions; the bounds of ``Config`` count exactly the schedule's beats."""
import random

import pytest

from redmule_hdl.config import Config
from redmule_hdl.engine.tile_walk import ROWS, TileWalk

from .helpers import run_testbench

SHAPES = [(1, 1, 1), (5, 3, 7), (12, 16, 16), (13, 17, 33), (24, 1, 2), (3, 40, 5)]


@pytest.mark.parametrize("M,N,K", SHAPES)
def test_schedule_counts_match_its_walks(M, N, K):
    config = Config(L=4, H=2, P=1)
    for uses_y in (True, False):
        s = config.schedule(M, N, K, uses_y=uses_y)
        walks = {"x": list(s.x_beats()), "w": list(s.w_beats()), "y": list(s.y_beats()),
                 "z": list(s.z_beats())}
        assert {k: len(v) for k, v in walks.items()} == s.beats
        assert s.port_beats == sum(len(v) for v in walks.values()) == config.port_bound(
            M, N, K, uses_y=uses_y)
        # Every output element is covered exactly once, every X and W element at least once.
        z = [(b.row, b.col + j) for b in walks["z"] for j in range(b.count)]
        assert sorted(z) == [(m, k) for m in range(M) for k in range(K)]
        assert {(b.row, b.col + j) for b in walks["x"] for j in range(b.count)} == \
            {(m, n) for m in range(M) for n in range(N)}
        assert {(b.row, b.col + j) for b in walks["w"] for j in range(b.count)} == \
            {(n, k) for n in range(N) for k in range(K)}
        assert all(0 < b.count <= config.D for w in walks.values() for b in w)
    tiles = list(s.tiles())
    assert s.compute_cycles == len(tiles) * -(-N // config.H) * config.D == config.compute_bound(M, N, K)


def _hardware_walk(config, M, N, K, inner):
    """Positions a TileWalk visits, advancing every cycle until its last position. The walk is
    made twice: the second time after a restart from past its end, and a first walk of another
    shape (2M, N + 1, K + 2) cut short by a restart, must visit the same positions."""
    walk = TileWalk(config, inner)
    names = ["m0", "k0"] + [name for name, *_ in inner]
    seen, steps = [], []
    uses_n = any(bound == "n" for *_, bound in inner)

    async def one_walk(ctx, record):
        for _ in range(10_000):
            position = tuple(ctx.get(getattr(walk, n)) for n in names)
            last = ctx.get(walk.is_last)
            record.append((position, last, ctx.get(walk.rows), [ctx.get(walk.steps[n]) for n in names]))
            assert last == all(ctx.get(walk.last[n]) for n in names)
            if last:
                # The walk runs past M; a restart (which wins over advance) brings it back.
                await ctx.tick()
                assert ctx.get(walk.m0) >= M
                ctx.set(walk.restart, 1)
                await ctx.tick()
                ctx.set(walk.restart, 0)
                assert all(ctx.get(getattr(walk, n)) == 0 for n in names)
                return
            await ctx.tick()
        raise AssertionError("the walk did not end")

    async def bench(ctx):
        # Another job's walk, left after 2 * L + 3 advances (a restart and a new job, as an abort).
        ctx.set(walk.m, 2 * M)
        ctx.set(walk.k, K + 2)
        if uses_n:
            ctx.set(walk.n, N + 1)
        ctx.set(walk.advance, 1)
        await ctx.tick().repeat(2 * config.L + 3)
        ctx.set(walk.restart, 1)
        await ctx.tick()
        ctx.set(walk.restart, 0)
        ctx.set(walk.m, M)
        ctx.set(walk.k, K)
        if uses_n:
            ctx.set(walk.n, N)
        first, second = [], []
        await one_walk(ctx, first)
        await one_walk(ctx, second)
        assert first == second
        for position, last, rows, flags in first:
            seen.append((position, last, rows))
            steps.append(flags)

    run_testbench(walk, bench)
    # ``steps``: exactly the loop that increments at the next advance (the loops inside it wrap).
    for (a, *_), (b, *_), flags in zip(seen, seen[1:], steps):
        moved = [i for i, (x, y) in enumerate(zip(a, b)) if y > x]
        assert len(moved) == 1 and flags == [int(i == moved[0]) for i in range(len(names))]
        assert all(b[i] == 0 for i in range(moved[0] + 1, len(names)))
    assert steps[-1] == [0] * len(names)
    return seen


@pytest.mark.parametrize("M,N,K", random.Random(3).sample(SHAPES, 4))
def test_tile_walk_follows_the_schedule(M, N, K):
    config = Config(L=4, H=2, P=1)
    s = config.schedule(M, N, K)
    # X address generator: m-tile, k-tile, n-chunk, row.
    seen = _hardware_walk(config, M, N, K, [("n0", config.D, "n"), ("r", 1, ROWS)])
    assert [(m0 + r, n0) for (m0, k0, n0, r), *_ in seen] == [(b.row, b.col) for b in s.x_beats()]
    assert [last for _, last, _ in seen] == [False] * (len(seen) - 1) + [True]
    # W address generator: m-tile, k-tile, n.
    seen = _hardware_walk(config, M, N, K, [("row", 1, "n")])
    assert [(n, k0) for (m0, k0, n), *_ in seen] == [(b.row, b.col) for b in s.w_beats()]
    # Y/Z: m-tile, k-tile, row; the tile's row count is the schedule's.
    seen = _hardware_walk(config, M, N, K, [("r", 1, ROWS)])
    assert [(m0 + r, k0) for (m0, k0, r), *_ in seen] == [(b.row, b.col) for b in s.z_beats()]
    tiles = {(t.m0, t.k0): t.rows for t in s.tiles()}
    assert all(rows == tiles[(m0, k0)] for (m0, k0, r), _, rows in seen)


def test_schedule_refuses_bad_shapes():
    config = Config()
    with pytest.raises(ValueError, match="M must be >= 1"):
        config.schedule(0, 1, 1)
    with pytest.raises(TypeError, match="K must be an int"):
        config.schedule(1, 1, 2.0)
