"""Operand buffers of the engine: X-buffer, W-buffer and Z-buffer (DESIGN section 5).

All three hold FP16 elements in flip-flops: every cycle they feed all L rows (or all H columns) at
once, which a RAM port could not. Sizes follow from L, H, P; they are stated in each docstring.
"""
from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.interfaces import beat_layout

__all__ = ["XBuffer", "WBuffer", "ZBuffer"]


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
    Storage: ``L * (2*D - 1)`` FP16 elements.
    """

    def __init__(self, config):
        self.config = config
        L = config.L
        super().__init__({
            "beat": In(stream.Signature(beat_layout(config))),
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
        L, D = self.config.L, self.config.D
        pending = Array(Signal(beat_layout(self.config), name=f"pending{r}") for r in range(L))
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


class WBuffer(wiring.Component):
    """W operands: one D-element shift register per CE column; W is broadcast to all L rows.

    Column ``h`` loads W row ``n`` (one beat) when step ``n`` is fed to it, then presents element ``j``
    of it ``j`` cycles later, the cycle CE ``h`` of every row processes output column ``j``.

    Ports:
        beat (stream in): W beats, taken when ``load`` is asserted (ready = load).
        load, column: load the stream's beat into shift register ``column``.
        shift: advance every column by one element (the array's enable).
        w: element 0 of every column, one per CE column.
    Storage: ``H * D`` FP16 elements.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "beat": In(stream.Signature(beat_layout(config))),
            "load": In(1),
            "column": In(range(config.H)),
            "shift": In(1),
            "w": Out(data.ArrayLayout(16, config.H)),
        })

    def elaborate(self, platform):
        m = Module()
        H = self.config.H
        m.d.comb += self.beat.ready.eq(self.load)
        for h in range(H):
            reg = Signal(beat_layout(self.config), name=f"wcol{h}")
            m.d.comb += self.w[h].eq(reg[0])
            with m.If(self.load & (self.column == h)):
                m.d.sync += reg.eq(self.beat.payload)
            with m.Elif(self.shift):
                m.d.sync += reg.eq(reg.as_value() >> 16)
        return m


class ZBuffer(wiring.Component):
    """Y preload and Z drain: one D-element register per row, shared by Y (going in) and Z (coming out).

    During the first pass of a tile the rows shift by one element per cycle: element 0 (Y of the tile)
    goes to CE 0 of its row, and the output of the row's last CE (Z of the previous tile) enters at
    element D-1. Between those windows, rows are read out as Z beats and re-written with Y beats.

    Ports:
        shift, shift_in: shift every row; ``shift_in`` is one element per row.
        head: element 0 of every row.
        wr_en, wr_row, wr_data: write a whole row (Y beat).
        rd_row, rd_data: read a whole row (Z beat, combinational).
        rd_forward: read row 0 as it will be after this cycle's shift (element D-1 = ``shift_in``),
            so a finished Z row can leave in the cycle its last element arrives.
    Storage: ``L * D`` FP16 elements.
    """

    def __init__(self, config):
        self.config = config
        L = config.L
        super().__init__({
            "shift": In(1),
            "shift_in": In(data.ArrayLayout(16, L)),
            "head": Out(data.ArrayLayout(16, L)),
            "wr_en": In(1), "wr_row": In(range(L)), "wr_data": In(beat_layout(config)),
            "rd_row": In(range(L)), "rd_data": Out(beat_layout(config)), "rd_forward": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, D = self.config.L, self.config.D
        rows = Array(Signal(beat_layout(self.config), name=f"zrow{r}") for r in range(L))
        m.d.comb += self.rd_data.eq(Mux(self.rd_forward, _shift_in(rows[0], self.shift_in[0]),
                                        rows[self.rd_row]))
        for r in range(L):
            m.d.comb += self.head[r].eq(rows[r][0])
            with m.If(self.shift):
                m.d.sync += rows[r].eq(_shift_in(rows[r], self.shift_in[r]))
            with m.Elif(self.wr_en & (self.wr_row == r)):
                m.d.sync += rows[r].eq(self.wr_data)
        return m


def _shift_in(row, new_element):
    """``row`` shifted down by one element with ``new_element`` entering at index D-1."""
    return Cat(row.as_value()[16:], new_element)
