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
from collections.abc import Mapping

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int

__all__ = ["JOBS_IN_FLIGHT", "JobSlots", "WalkerSignature", "job_view", "ring_next"]

#: Jobs the engine and the streamer hold at once (the controller runs at most this many).
JOBS_IN_FLIGHT = 2


def job_view(layout, fields):
    """The ``StructLayout`` of the members ``fields`` of struct ``layout``, in the layout's order."""
    members = data.Layout.cast(layout).members
    unknown = set(fields) - set(members)
    if unknown:
        raise ValueError(f"no fields {sorted(unknown)} in {layout!r}")
    return data.StructLayout({name: shape for name, shape in members.items() if name in fields})


class WalkerSignature(wiring.Signature):
    """One walker's port of ``JobSlots`` over jobs of struct ``layout`` (as the slots drive it; a
    walking part uses it flipped).

    ``fields``: the fields of the job the walker reads (default: all); ``next_fields``: fields it
    reads only from ``next_job``. A walker's job copy holds only those fields: no register is kept
    for a field nobody reads. ``registered_next``: ``next_job`` and ``next_active`` are registers
    of the slots (kept equal to the following slot's job and state) rather than the slot pointer's
    multiplexers, for a walker whose control reads them late in the cycle (the sequencer's
    ``chain``, on the path to the engine's ``y.ready``). ``same``: fields (of ``fields`` and
    ``next_fields``) compared between ``job`` and ``next_job`` for ``next_same``, a register with
    ``registered_next`` (its comparison then starts no path).

    Members:
        job (out): the ``fields`` of the job of the walker's slot (a register; valid while ``active``).
        active (out): a register: a job is in the walker's slot that it has not finished.
        next_active (out): the following slot holds a job for the walker: after a ``finish`` in this
            cycle it is active at once, with ``next_job`` (a register with ``registered_next``).
        next_job (out): the ``fields`` and ``next_fields`` of the job of the following slot (valid
            while ``next_active``; a register with ``registered_next``).
        next_same (out, with ``same``): ``next_active`` and ``next_job`` equals ``job`` in the fields
            ``same``.
        ptr (out): the walker's slot.
        finish (in): the walker is done with its job (only while ``active``): it moves to the
            following slot.
    """

    def __init__(self, layout, depth=JOBS_IN_FLIGHT, *, fields=None, next_fields=(),
                 registered_next=False, same=()):
        self.layout, self.depth = layout, check_int("depth", depth, 1)
        self.registered_next = bool(registered_next)
        if fields is None:
            fields = data.Layout.cast(layout).members
        self.fields = tuple(job_view(layout, fields).members)
        self.next_fields = tuple(job_view(layout, (*fields, *next_fields)).members)
        self.same = tuple(same)
        missing = set(self.same) - set(self.fields)
        if missing:
            raise ValueError(f"same: fields {sorted(missing)} are not among the walker's fields "
                             f"{self.fields}")
        members = {
            "job": Out(job_view(layout, self.fields)), "active": Out(1),
            "next_active": Out(1), "next_job": Out(job_view(layout, self.next_fields)),
            "ptr": Out(range(self.depth)),
            "finish": In(1),
        }
        if self.same:
            members["next_same"] = Out(1)
        super().__init__(members)


class JobSlots(wiring.Component):
    """``depth`` job slots (a ring) of ``layout`` and the walkers that go through them in order.

    ``walkers`` names the walkers: a mapping of names to their ``WalkerSignature``, or a sequence of
    names (each reads every field). ``release`` is the one that walks each job last: its ``finish``
    frees the slot.

    Ports:
        put (stream in): a job enters the next slot; ``ready``: that slot is free. Every walker walks
            it after the jobs before it.
        walk: one ``WalkerSignature`` port per walker, by name (``slots.walk.<name>``).
        clear: empty every slot and rewind every walker (abort).
        any_full: a slot holds a job.
    Priorities, for every register: ``clear`` over ``put`` over ``finish``. ``put`` and ``finish``
    never write the same slot (a walker finishes a full slot, ``put`` fills an empty one); ``put``
    wins for a walker that is at, or moving onto, the slot it fills. ``clear`` leaves the jobs
    themselves (and the walkers' copies) as they are.
    """

    #: Formal only: ``lemmas(m, full=..., wr=...)``, set by a property harness to add assertions over
    #: the ring's registers (k-induction needs them); ``None`` in hardware (nothing is added).
    lemmas = None

    def __init__(self, layout, walkers, *, release, depth=JOBS_IN_FLIGHT):
        self.layout = layout
        self.depth = check_int("depth", depth, 1)
        if not isinstance(walkers, Mapping):
            walkers = {name: WalkerSignature(layout, self.depth) for name in walkers}
        for name, sig in walkers.items():
            if not isinstance(sig, WalkerSignature) or sig.layout != layout or sig.depth != self.depth:
                raise TypeError(f"walker {name!r}: a WalkerSignature of {layout!r} and depth "
                                f"{self.depth} is needed, not {sig!r}")
        self.walkers = tuple(walkers)
        if release not in self.walkers:
            raise ValueError(f"release must be one of the walkers {self.walkers}, not {release!r}")
        self.release = release
        super().__init__({
            "put": In(stream.Signature(layout)),
            "walk": Out(wiring.Signature({name: Out(sig) for name, sig in walkers.items()})),
            "clear": In(1),
            "any_full": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        jobs = [Signal(self.layout, name=f"job{i}") for i in range(depth)]
        raw = Array(job.as_value() for job in jobs)
        full = Signal(depth)
        wr = Signal(range(depth))
        m.d.comb += [self.put.ready.eq(~full.bit_select(wr, 1)), self.any_full.eq(full.any())]
        put = Signal()
        m.d.comb += put.eq(self.put.valid & self.put.ready)

        # Each register below: clear (if it is one of those clear resets) over put over finish.
        rel = getattr(self.walk, self.release)
        with m.If(self.clear):
            m.d.sync += wr.eq(0)
        with m.Elif(put):
            m.d.sync += wr.eq(ring_next(wr, depth))
        full_next = Signal(depth, name="full_next")     # (read by a ``registered_next`` walker)
        m.d.sync += full.eq(full_next)
        for i in range(depth):
            with m.If(put & (wr == i)):
                m.d.sync += jobs[i].eq(self.put.payload)
            with m.If(self.clear):
                m.d.comb += full_next[i].eq(0)
            with m.Elif(put & (wr == i)):
                m.d.comb += full_next[i].eq(1)
            with m.Elif(rel.finish & (rel.ptr == i)):      # the last walker frees the slot
                m.d.comb += full_next[i].eq(0)
            with m.Else():
                m.d.comb += full_next[i].eq(full[i])

        for name in self.walkers:
            w = getattr(self.walk, name)
            done = Signal(depth, name=f"{name}_done")    # the walker has finished the slot's job
            nxt = ring_next(w.ptr, depth)
            done_next = Signal(depth, name=f"{name}_done_next")
            m.d.sync += done.eq(done_next)
            # The next-cycle values of ``next_active``, ``next_job`` and ``job`` (for registers).
            next_active_next = Const(0)
            if depth == 1:
                pass    # the only slot is the one being finished: ``next_active`` stays 0
            elif w.signature.registered_next:
                # A register too: the following slot's state after this cycle's clear, put and
                # finishes (``full_next``, ``done_next``) at the walker's following slot then.
                next_active = Signal(name=f"{name}_next_active")
                following_slot = Mux(self.clear, ring_next(Const(0, len(w.ptr)), depth),
                                     Mux(w.finish, ring_next(nxt, depth), nxt))
                next_active_next = (full_next.bit_select(following_slot, 1)
                                    & ~done_next.bit_select(following_slot, 1))
                m.d.sync += next_active.eq(next_active_next)
                m.d.comb += w.next_active.eq(next_active)
            else:
                m.d.comb += w.next_active.eq(full.bit_select(nxt, 1) & ~done.bit_select(nxt, 1))
            next_job = Signal(self.layout, name=f"{name}_next_job")
            if w.signature.registered_next:
                next_job_next = Signal(self.layout, name=f"{name}_next_job_next")
                # Kept equal to the job of slot ``ring_next(ptr)`` after this cycle's put, finish
                # and clear (the slots' jobs change only at a put).
                after_next = ring_next(nxt, depth)
                first_next = ring_next(Const(0, len(w.ptr)), depth)
                payload = self.put.payload.as_value()
                following = Mux(put & (wr == after_next), payload, raw[after_next])    # at a finish
                staying = Mux(put & (wr == nxt), payload, next_job)
                with m.If(self.clear):
                    m.d.comb += next_job_next.eq(Mux(put & (wr == first_next), payload, raw[first_next]))
                with m.Else():
                    m.d.comb += next_job_next.eq(Mux(w.finish, following, staying))
                m.d.sync += next_job.eq(next_job_next)
            else:
                m.d.comb += next_job.eq(raw[nxt])
            m.d.comb += [w.next_job[f].eq(next_job[f]) for f in w.signature.next_fields]
            # A job put into the slot the walker is at, or is just moving onto, is its job at once
            # (put over finish). Both outcomes are prepared from registers and ``finish`` only
            # chooses between them: it comes late in the cycle (a grant, the end of a walk) and
            # drives every bit of the job copy.
            lands_moving = Signal(name=f"{name}_lands_moving")
            lands_staying = Signal(name=f"{name}_lands_staying")
            m.d.comb += [lands_moving.eq(put & (nxt == wr)), lands_staying.eq(put & (w.ptr == wr))]
            job_next = {}
            for f in w.signature.fields:
                moving = Mux(lands_moving, self.put.payload[f], w.next_job[f])
                staying = Mux(lands_staying, self.put.payload[f], w.job[f])
                job_next[f] = Signal.like(w.job[f], name=f"{name}_job_next_{f}")
                m.d.comb += job_next[f].eq(Mux(w.finish, moving, staying))
                m.d.sync += w.job[f].eq(job_next[f])
            if w.signature.same:
                # ``next_same``: the following job is there and equals the walker's in ``same``.
                # As a register (``registered_next``), from the next values of the three.
                if w.signature.registered_next:
                    equal = [Value.cast(next_job_next[f]) == Value.cast(job_next[f])
                             for f in w.signature.same]
                    m.d.sync += w.next_same.eq(next_active_next & Cat(*equal).all())
                else:
                    equal = [Value.cast(w.next_job[f]) == Value.cast(w.job[f]) for f in w.signature.same]
                    m.d.comb += w.next_same.eq(w.next_active & Cat(*equal).all())
            with m.If(self.clear):
                m.d.sync += w.active.eq(0)
            with m.Else():
                m.d.sync += w.active.eq(Mux(w.finish, lands_moving | w.next_active,
                                            lands_staying | w.active))
            with m.If(self.clear):
                m.d.sync += w.ptr.eq(0)
            with m.Elif(w.finish):
                m.d.sync += w.ptr.eq(nxt)
            for i in range(depth):
                with m.If(self.clear):
                    m.d.comb += done_next[i].eq(0)
                with m.Elif(put & (wr == i)):
                    m.d.comb += done_next[i].eq(0)
                with m.Elif(w.finish & (w.ptr == i)):
                    m.d.comb += done_next[i].eq(1)
                with m.Else():
                    m.d.comb += done_next[i].eq(done[i])
        if self.lemmas is not None:
            self.lemmas(m, full=full, wr=wr)
        return m


def ring_next(ptr, depth):
    """The position after ``ptr`` in a ring of ``depth``."""
    return Mux(ptr == depth - 1, 0, ptr + 1) if depth > 1 else ptr
