"""The streamer's port arbiter: one request per cycle, chosen by a fixed priority, held until granted."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Source", "Arbiter"]


class Source(enum.Enum, shape=2):
    """The stream a memory request belongs to."""
    X = 0
    W = 1
    Y = 2
    Z = 3


class Arbiter(wiring.Component):
    """Picks the first raised level of ``levels`` (a priority list of ``Source``, highest first).

    A request that was raised and not granted is held: ``src`` keeps its source until ``gnt``, so
    the request never changes while it waits, not even across an abort (the bus protocols forbid
    withdrawing a request).

    Ports: ``raised`` (in, one bit per level), ``gnt`` (in); ``req`` (out: a level is raised or a
    request is held), ``src`` (out, ``Source``), ``granted`` (out, ``req & gnt``), ``holding`` (out:
    a request raised in an earlier cycle still waits for ``gnt``), ``grants`` (out, one bit per
    ``Source`` by value: ``granted & (src == s)``).

    ``grants`` is built per source from the levels at and above that source's own levels, not
    decoded from ``src``: a source's grant then does not depend on the levels below it (the Z
    store's grant, which moves the Z address generator and may end a job, does not wait for the
    engine's Y and X readiness, two levels lower).
    Parameters: ``levels``, the source of each priority level. Latency: combinational, one register
    for the hold.
    """

    def __init__(self, levels):
        levels = tuple(levels)
        if not levels or not all(isinstance(s, Source) for s in levels):
            raise TypeError(f"levels must be a non-empty sequence of Source, not {levels!r}")
        self.levels = levels
        super().__init__({
            "raised": In(len(levels)),
            "gnt": In(1),
            "req": Out(1),
            "src": Out(Source),
            "granted": Out(1),
            "holding": Out(1),
            "grants": Out(len(Source)),
        })

    def elaborate(self, platform):
        m = Module()
        hold = self.holding
        hold_src = Signal(Source)
        pick = Signal(Source)
        for i, source in enumerate(self.levels):
            with (m.If if i == 0 else m.Elif)(self.raised[i]):
                m.d.comb += pick.eq(source)
        m.d.comb += [
            self.src.eq(Mux(hold, hold_src, pick)),
            self.req.eq(hold | self.raised.any()),
            self.granted.eq(self.req & self.gnt),
        ]
        m.d.sync += [hold.eq(self.req & ~self.gnt), hold_src.eq(self.src)]
        # Level i wins when it is raised and no level above it is.
        wins = [self.raised[i] & ~self.raised[:i].any() if i else self.raised[0]
                for i in range(len(self.levels))]
        for source in Source:
            picked = 0
            for i, level in enumerate(self.levels):
                if level == source:
                    picked = picked | wins[i]
            m.d.comb += self.grants[source.value].eq(
                self.gnt & Mux(hold, hold_src == source, picked))
        return m
