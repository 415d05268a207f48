"""The W-buffer: one D-element shift register per CE column; W is broadcast to all L rows."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int
from redmule_hdl.interfaces import beat_layout

__all__ = ["WBuffer"]


class WBuffer(wiring.Component):
    """W operands: one shift register per CE column; W is broadcast to all L rows.

    Column ``h`` loads W row ``n`` (one beat) when step ``n`` is fed to it, then presents element ``j``
    of it ``j`` cycles later, the cycle CE ``h`` of every row processes output column ``j``. The CEs
    register that element themselves (``ComputeElement``): the buffer gives them the element a column
    presents in the next enabled cycle, so the broadcast to the L rows ends at a register.

    Ports:
        beat (stream in): W beats, taken when ``feed`` and ``shift`` are high (ready).
        feed, column: shift register ``column`` takes the stream's beat in this cycle if ``shift`` is
            high (``feed`` alone selects ``w_next``, so the enable is not on that path).
        shift: advance every column by one element (the array's enable).
        w_next: per column, the element it presents after this cycle when ``shift`` is high: element
            0 of the loading beat, else the next element of the column (combinational).
    Parameters: ``H`` CE columns, ``D`` elements per beat.
    Storage: ``H * (D - 1)`` FP16 elements (element 0 of each column is held by the CEs).
    """

    def __init__(self, H, D):
        self.H, self.D = H, D = check_int("H", H, 1), check_int("D", D, 2)
        super().__init__({
            "beat": In(stream.Signature(beat_layout(D))),
            "feed": In(1),
            "column": In(range(H)),
            "shift": In(1),
            "w_next": Out(data.ArrayLayout(16, H)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.beat.ready.eq(self.feed & self.shift)
        for h in range(self.H):
            # Elements 1..D-1 of the beat: element 0 goes straight to the CEs' registers.
            reg = Signal(data.ArrayLayout(16, self.D - 1), name=f"wcol{h}")
            fed = self.feed & (self.column == h)
            m.d.comb += self.w_next[h].eq(Mux(fed, self.beat.payload[0], reg[0]))
            with m.If(fed & self.shift):
                m.d.sync += reg.eq(self.beat.payload.as_value()[16:])
            with m.Elif(self.shift):
                m.d.sync += reg.eq(reg.as_value() >> 16)
        return m
