"""Flow control of one stream: the beats it may have in flight."""
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int

__all__ = ["Credits"]


class Credits(wiring.Component):
    """Counts a stream's beats between their first transfer's grant and their consumption.

    A load stream owns ``depth`` credits (its FIFO depth): a beat is requested only while fewer than
    ``depth`` of its beats are in flight or buffered, so the responses, which arrive with no
    backpressure, always have room. With ``write_responses`` the Z stream counts its stores the same
    way, up to their last response.

    Ports:
        issued (in): a beat's first transfer is granted.
        consumed (in): a beat leaves (the engine takes it; for Z, its last response arrives).
        clear (in): abort: no beat counts any more at the end of this cycle.
        available (out): fewer than ``depth`` beats counted: the stream may request.
        empty (out): no beat counted.
        drained (out): no beat counted once this cycle's ``consumed`` is (``empty``, or one beat
            counted and it leaves now; combinational from ``consumed``).
    With ``groups`` (X: the L rows of an n-chunk, Y: the L rows of a tile):
        issued_last, consumed_last (in): the issued / consumed beat ends its group.
        current_group (out): every group requested so far has been fully taken, so the next beat
            belongs to the group the engine is filling now.
    Parameters: ``depth``; ``groups``. Latency: the counts are registers, the outputs compare them.
    """

    #: Formal only: ``lemmas(m, **registers)``, set by a property harness to add assertions over
    #: the counts (k-induction needs them); ``None`` in hardware (nothing is added).
    lemmas = None

    def __init__(self, depth, *, groups=False):
        self.depth = check_int("depth", depth, 1)
        self.groups = bool(groups)
        super().__init__({
            "issued": In(1),
            "consumed": In(1),
            "clear": In(1),
            "available": Out(1),
            "empty": Out(1),
            "drained": Out(1),
            **({"issued_last": In(1), "consumed_last": In(1), "current_group": Out(1)}
               if self.groups else {}),
        })

    def elaborate(self, platform):
        m = Module()
        used = Signal(range(self.depth + 1))
        m.d.comb += [self.available.eq(used < self.depth), self.empty.eq(used == 0),
                     self.drained.eq((used == 0) | ((used == 1) & self.consumed))]
        counts = [(used, used + self.issued - self.consumed)]
        if self.groups:
            # Groups fully requested but not yet fully taken.
            ahead = Signal(range(self.depth + 2))
            counts.append((ahead, ahead + (self.issued & self.issued_last)
                           - (self.consumed & self.consumed_last)))
            m.d.comb += self.current_group.eq(ahead == 0)
        for count, update in counts:
            with m.If(self.clear):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(update)
        if self.lemmas is not None:
            self.lemmas(m, used=used)
        return m
