"""FP16 beats on a port of D FP8 elements: two transfers per beat."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.spec.regmap import ADDR_BITS
from redmule_hdl.system.streamer.arbiter import Source

__all__ = ["TwoTransfers"]


class TwoTransfers(wiring.Component):
    """Splits an FP16 beat into its low D bytes at the beat's address a, then its high D bytes at a + D.

    Only for ``config.splits_fp16`` (a port of D FP8 elements); elsewhere every beat is one transfer
    and the streamer needs no such block. When a low half is granted, its high half becomes the
    request with the highest priority in the next cycle, so the two halves are granted back to back
    and, responses being in order, answered back to back.

    Ports:
        src (in, ``Source``), beat_addr (in), wide (in): the stream, element address and width (FP16)
            of the beat the arbiter selects now.
        granted (in): the request is granted in this cycle.
        orphan (in): the request granted now was raised before an abort: it has no high half.
        abort (in): drops a pending high half, unless its request is raised and waiting now.
        high (out): the request now is the high half of a beat of ``high_src`` (out).
        addr (out): byte address of the transfer (``beat_addr``, or a + D for a high half).
        opens, closes (out): a transfer granted now is its beat's first (credits and groups count
            from it) / its last (the address generator moves on).
    Latency: ``high`` and a + D are registered at the low half's grant, which keeps the adder off
    the path to the port.
    """

    def __init__(self, config):
        self.config = check_config(config)
        if not self.config.splits_fp16:
            raise ValueError("TwoTransfers is only for a config whose FP16 beats take two transfers "
                             "(beat_format='fp8')")
        super().__init__({
            "src": In(Source),
            "beat_addr": In(ADDR_BITS),
            "wide": In(1),
            "granted": In(1),
            "orphan": In(1),
            "abort": In(1),
            "high": Out(1),
            "high_src": Out(Source),
            "addr": Out(ADDR_BITS),
            "opens": Out(1),
            "closes": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        high_addr = Signal(ADDR_BITS)
        # Priority: an abort over a grant. A low half granted in the abort cycle, or waiting then and
        # granted later (``orphan``), has no sequel; a high half waiting at the abort stays raised,
        # unchanged, until granted.
        with m.If(self.abort):
            m.d.sync += self.high.eq(self.high & ~self.granted)
        with m.Elif(self.granted):
            m.d.sync += [self.high.eq(~self.high & self.wide & ~self.orphan),
                         self.high_src.eq(self.src)]
        with m.If(self.granted & ~self.high):
            m.d.sync += high_addr.eq(self.beat_addr + self.config.D)
        m.d.comb += [
            self.addr.eq(Mux(self.high, high_addr, self.beat_addr)),
            self.opens.eq(~self.high),
            self.closes.eq(self.high | ~self.wide),
        ]
        return m
