"""The Z-buffer: per row, D elements shared by the Y preload (going in) and the Z drain (coming out)."""
from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int
from redmule_hdl.interfaces import beat_layout

__all__ = ["ZBuffer"]


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
    Parameters: ``L`` rows, ``D`` elements per beat.
    Storage: ``L * D`` FP16 elements.
    """

    def __init__(self, L, D):
        self.L, self.D = L, D = check_int("L", L, 1), check_int("D", D, 2)
        super().__init__({
            "shift": In(1),
            "shift_in": In(data.ArrayLayout(16, L)),
            "head": Out(data.ArrayLayout(16, L)),
            "wr_en": In(1), "wr_row": In(range(L)), "wr_data": In(beat_layout(D)),
            "rd_row": In(range(L)), "rd_data": Out(beat_layout(D)), "rd_forward": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.L
        rows = Array(Signal(beat_layout(self.D), name=f"zrow{r}") for r in range(L))
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
