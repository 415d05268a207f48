"""``JobSlots``: walkers keep their job and active bit in registers that always match their slot."""
import random

import pytest
from amaranth.lib import data

from redmule_hdl.engine.job_slots import JobSlots, WalkerSignature

from .helpers import run_testbench

_JOB = data.StructLayout({"id": 8, "kind": 1})
_WALKERS = ("w0", "w1", "w2")


class _Model:
    """The ring in Python: slots, full bits, the write pointer and each walker's slot and done bits."""

    def __init__(self, depth):
        self.depth = depth
        self.jobs = [None] * depth
        self.kinds = [None] * depth
        self.clear()

    def clear(self):
        self.full = [False] * self.depth
        self.wr = 0
        self.ptr = [0] * len(_WALKERS)
        self.done = [[False] * self.depth for _ in _WALKERS]

    def nxt(self, ptr):
        return (ptr + 1) % self.depth

    def active(self, i):
        return self.full[self.ptr[i]] and not self.done[i][self.ptr[i]]

    def next_active(self, i):
        n = self.nxt(self.ptr[i])
        return self.depth > 1 and self.full[n] and not self.done[i][n]

    def next_same(self, i):
        """The following job is there and of the same ``kind`` as walker i's."""
        return self.next_active(i) and self.kinds[self.nxt(self.ptr[i])] == self.kinds[self.ptr[i]]

    def step(self, put, payload, kind, finish, clear):
        for i in range(len(_WALKERS)):
            if finish >> i & 1:
                assert self.active(i)
                self.done[i][self.ptr[i]] = True
                if i == len(_WALKERS) - 1:
                    self.full[self.ptr[i]] = False
                self.ptr[i] = self.nxt(self.ptr[i])
        if put:
            self.jobs[self.wr] = payload
            self.kinds[self.wr] = kind
            self.full[self.wr] = True
            for done in self.done:
                done[self.wr] = False
            self.wr = self.nxt(self.wr)
        if clear:
            self.clear()


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_walkers_see_every_job_in_order_with_registered_views(depth):
    """Random puts and finishes (the releasing walker only finishes a job the other two finished,
    as in the engine and the streamer), and a few clears: every walker walks the jobs in the order
    they were put; its ``job``, ``active``, ``next_active`` and ``next_job`` match the ring (a Python
    model) in every cycle, and ``put.ready`` and ``any_full`` match the slots. The first walker's
    ``next_job`` is a register (``registered_next``, as the sequencer's), the others' the slot
    multiplexer; the first two compare the jobs' ``kind`` (``same``): their ``next_same`` (a
    register for the first) matches the ring while they are active."""
    walkers = {name: WalkerSignature(_JOB, depth, registered_next=name == _WALKERS[0],
                                     same=("kind",) if name != _WALKERS[2] else ())
               for name in _WALKERS}
    dut = JobSlots(_JOB, walkers, release=_WALKERS[-1], depth=depth)
    ports = [getattr(dut.walk, name) for name in _WALKERS]
    rng = random.Random(depth)
    model = _Model(depth)
    counts = {"jobs": 0, "clears": 0, "landed": 0, "same": 0, "differ": 0}

    async def bench(ctx):
        put_ids, walked = [], [[], [], []]
        next_id = 1
        for cycle in range(3000):
            assert ctx.get(dut.put.ready) == (not model.full[model.wr]), cycle
            assert ctx.get(dut.any_full) == any(model.full), cycle
            clear = rng.random() < 0.004
            put = not clear and rng.random() < 0.35 and ctx.get(dut.put.ready)
            finish = 0
            for i, w in enumerate(ports):
                active = model.active(i)
                assert ctx.get(w.active) == active, (cycle, i)
                assert ctx.get(w.ptr) == model.ptr[i], (cycle, i)
                assert ctx.get(w.next_active) == model.next_active(i), (cycle, i)
                if model.next_active(i):
                    assert ctx.get(w.next_job.id) == model.jobs[model.nxt(model.ptr[i])], (cycle, i)
                if i < 2 and active:
                    assert ctx.get(w.next_same) == model.next_same(i), (cycle, i)
                    if model.next_active(i):
                        counts["same" if model.next_same(i) else "differ"] += 1
                allowed = i < 2 or all(len(walked[j]) > len(walked[2]) for j in (0, 1))
                if active:
                    # The job register holds the job this walker is on.
                    assert ctx.get(w.job.id) == put_ids[len(walked[i])] == model.jobs[model.ptr[i]], \
                        (cycle, i)
                    if allowed and rng.random() < 0.4:
                        finish |= 1 << i
                        walked[i].append(ctx.get(w.job.id))
                        # A put landing on the slot this walker moves onto (put wins over finish).
                        if put and depth > 1 and model.nxt(model.ptr[i]) == model.wr:
                            counts["landed"] += 1
            for i, w in enumerate(ports):
                ctx.set(w.finish, finish >> i & 1)
            ctx.set(dut.clear, clear)
            ctx.set(dut.put.valid, put)
            kind = rng.random() < 0.5
            ctx.set(dut.put.payload.id, next_id & 0xFF)
            ctx.set(dut.put.payload.kind, kind)
            model.step(put, next_id & 0xFF, kind, finish, clear)
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

    run_testbench(dut, bench)
    assert counts["jobs"] > 200 and counts["clears"] >= 3
    assert depth == 1 or counts["landed"] > 10
    assert depth == 1 or (counts["same"] > 100 and counts["differ"] > 100)


def test_same_names_fields_of_the_walker():
    with pytest.raises(ValueError, match="same"):
        WalkerSignature(_JOB, 2, fields=("id",), same=("kind",))

