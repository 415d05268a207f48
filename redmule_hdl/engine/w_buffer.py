"""The W-buffer: one D-element shift register per CE column; W is broadcast to all L rows."""
from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int
from redmule_hdl.interfaces import beat_layout

__all__ = ["WBuffer"]


class WBuffer(wiring.Component):
    """W operands: one D-element shift register per CE column; W is broadcast to all L rows.

    Column ``h`` loads W row ``n`` (one beat) when step ``n`` is fed to it, then presents element ``j``
    of it ``j`` cycles later, the cycle CE ``h`` of every row processes output column ``j``.

    Ports:
        beat (stream in): W beats, taken when ``load`` is asserted (ready = load).
        load, column: load the stream's beat into shift register ``column``.
        shift: advance every column by one element (the array's enable).
        w: element 0 of every column, one per CE column.
    Parameters: ``H`` CE columns, ``D`` elements per beat.
    Storage: ``H * D`` FP16 elements.
    """

    def __init__(self, H, D):
        self.H, self.D = H, D = check_int("H", H, 1), check_int("D", D, 2)
        super().__init__({
            "beat": In(stream.Signature(beat_layout(D))),
            "load": In(1),
            "column": In(range(H)),
            "shift": In(1),
            "w": Out(data.ArrayLayout(16, H)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.beat.ready.eq(self.load)
        for h in range(self.H):
            reg = Signal(beat_layout(self.D), name=f"wcol{h}")
            m.d.comb += self.w[h].eq(reg[0])
            with m.If(self.load & (self.column == h)):
                m.d.sync += reg.eq(self.beat.payload)
            with m.Elif(self.shift):
                m.d.sync += reg.eq(reg.as_value() >> 16)
        return m
