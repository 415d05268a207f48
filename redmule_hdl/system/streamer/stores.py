"""The streamer's store path: cast-out, shift into the port's word lanes, byte enables."""
from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.cast import Fp16ToFp8
from redmule_hdl.config import check_config
from redmule_hdl.interfaces import ElementFormat, z_beat_layout

__all__ = ["StorePath"]


class StorePath(wiring.Component):
    """Turns a Z beat into the port's write data and byte enables (combinational).

    Ports: ``beat`` (in, ``z_beat_layout``: D FP16 elements and their mask), ``fmt`` (in, the output
    ``ElementFormat``), ``offset`` (in, 2 bits: byte offset of the transfer's address in its word;
    ignored without ``misaligned``), ``high`` (in, only with ``config.splits_fp16``: an FP16 beat
    moves as two transfers, and this one is its high half, bytes [D, 2D); else the low half, bytes
    [0, D)); ``data``, ``be`` (out, ``port_width`` bits and bytes).
    FP8 output is rounded by ``Fp16ToFp8``; only the bytes of masked-in elements are enabled.
    """

    def __init__(self, config):
        self.config = check_config(config)
        super().__init__({
            "beat": In(z_beat_layout(config.D)),
            "fmt": In(ElementFormat),
            "offset": In(2),
            **({"high": In(1)} if self.config.splits_fp16 else {}),
            "data": Out(config.port_width),
            "be": Out(config.port_width // 8),
        })

    def elaborate(self, platform):
        c = self.config
        D = c.D
        m = Module()
        m.submodules.cast_out = cast_out = Fp16ToFp8(D)
        data = self.beat.data.as_value()
        mask = self.beat.mask
        m.d.comb += [cast_out.fmt.eq(self.fmt.fp8), cast_out.a.eq(data)]
        wide_be = Cat(*(mask[j].replicate(2) for j in range(D)))   # 2 bytes per FP16 element
        if c.splits_fp16:
            # One transfer carries D bytes: the low or the high half of the FP16 row.
            data = Mux(self.high, data[8 * D:], data[:8 * D])
            wide_be = Mux(self.high, wide_be[D:], wide_be[:D])
        raw = Mux(self.fmt.wide, data, cast_out.z)
        be_raw = Mux(self.fmt.wide, wide_be, mask)
        if c.misaligned:
            m.d.comb += [
                self.data.eq((raw << (self.offset * 8))[:c.port_width]),
                self.be.eq((be_raw << self.offset)[:c.port_width // 8]),
            ]
        else:
            m.d.comb += [self.data.eq(raw), self.be.eq(be_raw)]
        return m
