"""``JobSlots``: a few jobs in flight, walked in order by several independent walkers.

The engine and the streamer each hold the jobs they are working on in a small ring of slots. Their
parts (the X fill, the sequencer, the Y and Z phases; the address generator of each stream) walk the
jobs one after another at their own pace: a part that finishes its walk of one job moves on to the
next slot at once if a job is there, while a part behind it still works on the older job. So the
loads of a queued job start while the previous one drains.

A walker's ``job`` and ``active`` are registers of its own, kept equal to its slot's job and state:
the parts' control logic (such as the streamer's arbiter) then starts at a flip-flop with a few loads,
not at the slot pointer, which selects every bit of a job and needs a deep buffer tree.
"""
from amaranth.hdl import Array, Mux, Signal

from redmule_hdl.config import check_int

__all__ = ["JOBS_IN_FLIGHT", "JobSlots", "SlotWalker", "ring_next"]

#: Jobs the engine and the streamer hold at once (the controller runs at most this many).
JOBS_IN_FLIGHT = 2


class JobSlots:
    """``depth`` job slots (a ring) of ``layout`` and the walkers that go through them in order.

    Not a component: its registers belong to the module ``m`` of the block that holds the jobs.
    A job is ``put`` into the next slot while ``can_put``; the slot stays full until the last walker
    ``release``\\ s it. ``clear()`` empties every slot and rewinds every walker (abort).
    Attributes: ``jobs`` (the slot registers), ``full`` (one bit per slot), ``can_put``, ``any_full``.
    """

    def __init__(self, m, name, layout, *, depth=JOBS_IN_FLIGHT):
        self._m, self.name, self.layout = m, name, layout
        self.depth = check_int("depth", depth, 1)
        self.jobs = [Signal(layout, name=f"{name}_job{i}") for i in range(self.depth)]
        self._raw = Array(job.as_value() for job in self.jobs)
        self.full = Signal(self.depth, name=f"{name}_full")
        self.wr = Signal(range(self.depth), name=f"{name}_wr")
        self.can_put = ~self.full.bit_select(self.wr, 1)
        self.any_full = self.full.any()
        self.walkers = []

    def walker(self, name):
        """A new ``SlotWalker`` over these slots."""
        walker = SlotWalker(self, name)
        self.walkers.append(walker)
        return walker

    def put(self, payload):
        """Store job ``payload`` in the next slot (only while ``can_put``; adds ``sync`` statements to
        the current ``m.If`` context): every walker walks it after the jobs before it. Call it after
        every walker has been created and after every walker's ``finish`` (its statements win)."""
        m = self._m
        m.d.sync += self.wr.eq(ring_next(self.wr, self.depth))
        for i in range(self.depth):
            with m.If(self.wr == i):
                m.d.sync += [self.jobs[i].eq(payload), self.full[i].eq(1)]
                m.d.sync += [w.done[i].eq(0) for w in self.walkers]
        # A walker that is (or is just moving) at the slot written gets the job in its own copy.
        for w in self.walkers:
            with m.If(Mux(w.finishing, ring_next(w.ptr, self.depth), w.ptr) == self.wr):
                m.d.sync += [w.job.eq(payload), w.active.eq(1)]

    def clear(self):
        """Statements that empty every slot and rewind every walker."""
        return [self.full.eq(0), self.wr.eq(0),
                *(s for w in self.walkers for s in (w.ptr.eq(0), w.done.eq(0), w.active.eq(0)))]


class SlotWalker:
    """One part's position in the ring of ``JobSlots``.

    Attributes: ``ptr`` (the slot of its current or next job), ``job`` (that slot's job, a register:
    valid while the slot is full), ``active`` (a register: a job is there that this walker has not
    finished), ``next_active`` (after ``finish()`` in this cycle, the walker would be active at once:
    the following slot holds a job for it), ``next_job`` (that job) and ``finishing`` (``finish()``
    is called in this cycle).
    """

    def __init__(self, slots, name):
        self._slots = slots
        m, depth = slots._m, slots.depth
        self.ptr = Signal(range(depth), name=f"{name}_ptr")
        self.done = Signal(depth, name=f"{name}_done")
        self.job = Signal(slots.layout, name=f"{name}_job")
        self.active = Signal(name=f"{name}_active")
        self.finishing = Signal(name=f"{name}_finishing")
        nxt = ring_next(self.ptr, depth)
        if depth > 1:
            self.next_active = slots.full.bit_select(nxt, 1) & ~self.done.bit_select(nxt, 1)
        else:
            self.next_active = 0    # the only slot is the one being finished
        self.next_job = Signal(slots.layout, name=f"{name}_next_job")
        m.d.comb += self.next_job.eq(slots._raw[nxt])

    def finish(self, *, release=False):
        """Mark the current job walked and move to the next slot (adds ``sync`` statements to the
        current ``m.If`` context); ``release``: this is the last walker (every other one has finished
        the job), the slot becomes free."""
        m, depth = self._slots._m, self._slots.depth
        m.d.comb += self.finishing.eq(1)
        for i in range(depth):
            with m.If(self.ptr == i):
                m.d.sync += self.done[i].eq(1)
                if release:
                    m.d.sync += self._slots.full[i].eq(0)
        m.d.sync += [self.ptr.eq(ring_next(self.ptr, depth)), self.active.eq(self.next_active),
                     self.job.eq(self.next_job)]


def ring_next(ptr, depth):
    """The position after ``ptr`` in a ring of ``depth``."""
    return Mux(ptr == depth - 1, 0, ptr + 1) if depth > 1 else ptr
