"""The X-buffer: per row of the array, a pending X beat and the chunk being consumed.

Flip-flops, not RAM: every cycle it feeds all L rows at once.
"""
from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int
from redmule_hdl.interfaces import beat_layout

__all__ = ["XBuffer"]


class XBuffer(wiring.Component):
    """X operands: per row a pending beat (filled from memory) and an active chunk (being consumed).

    An X beat is ``D`` consecutive elements ``X[m, n0 : n0+D]`` of one row. Beats are filled in groups of
    ``fill_rows`` rows (one n-chunk of one tile). The engine consumes one element per row every ``P+1``
    cycles with ``take``; the first take of a chunk moves the pending group into the active shift
    register, freeing the pending beats for the next group while the chunk is still in use.

    Ports:
        beat (stream in): X beats, accepted while ``fill_enable`` and the pending group is not full.
        fill_enable, fill_rows: rows of the group being filled (1..L); the caller advances its
            iterator on ``group_done`` (one-cycle pulse with the last beat of a group).
        take, take_last: consume the head element of every row; ``take_last`` marks the chunk's last.
        can_take: an element is available (active chunk non-empty or pending group complete).
        head: the element ``take`` consumes, one per row (combinational).
        clear: empty both stages (abort, job start).
    Parameters: ``L`` rows, ``D`` elements per beat.
    Storage: ``L * (2*D - 1)`` FP16 elements.
    """

    def __init__(self, L, D):
        self.L, self.D = L, D = check_int("L", L, 1), check_int("D", D, 2)
        super().__init__({
            "beat": In(stream.Signature(beat_layout(D))),
            "fill_enable": In(1),
            "fill_rows": In(range(L + 1)),
            "group_done": Out(1),
            "take": In(1), "take_last": In(1),
            "can_take": Out(1),
            "head": Out(data.ArrayLayout(16, L)),
            "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, D = self.L, self.D
        pending = Array(Signal(beat_layout(D), name=f"pending{r}") for r in range(L))
        active = [Signal(data.ArrayLayout(16, D - 1), name=f"active{r}") for r in range(L)]
        pending_full = Signal()
        active_full = Signal()
        wr_row = Signal(range(L))

        from_pending = ~active_full
        m.d.comb += self.can_take.eq(active_full | pending_full)
        for r in range(L):
            m.d.comb += self.head[r].eq(Mux(from_pending, pending[r][0], active[r][0]))
            with m.If(self.take):
                # Shift the chunk by one element; a fresh chunk comes from the pending beat.
                shifted = active[r].as_value() >> 16
                m.d.sync += active[r].eq(Mux(from_pending, pending[r].as_value()[16:], shifted))

        with m.If(self.take):
            m.d.sync += active_full.eq(~self.take_last)
            with m.If(from_pending):
                m.d.sync += pending_full.eq(0)

        m.d.comb += self.beat.ready.eq(self.fill_enable & ~pending_full)
        with m.If(self.beat.valid & self.beat.ready):
            m.d.sync += pending[wr_row].eq(self.beat.payload)
            with m.If(wr_row == self.fill_rows - 1):
                m.d.comb += self.group_done.eq(1)
                m.d.sync += [wr_row.eq(0), pending_full.eq(1)]
            with m.Else():
                m.d.sync += wr_row.eq(wr_row + 1)

        with m.If(self.clear):
            m.d.sync += [pending_full.eq(0), active_full.eq(0), wr_row.eq(0)]
        return m
