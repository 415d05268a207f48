"""The streamer's request on the TCDM port, held unchanged until granted, also across an abort."""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.interfaces import TcdmSignature
from redmule_hdl.spec.regmap import ADDR_BITS

__all__ = ["PortRequest"]


class PortRequest(wiring.Component):
    """Drives the TCDM request of the transfer the arbiter selects.

    The arbiter holds its choice until the grant, so the stream and direction stay unchanged. At an
    abort, the engine drops its Z beat and the address generators leave their job, so the address,
    data and byte enables of a request waiting for its grant then are kept in registers here until it
    is granted, and that request is an ``orphan``: its grant belongs to no job (the bus protocols
    forbid withdrawing it).

    Ports:
        raised (in): a request is raised (the arbiter's ``req``).
        store (in): it is a write (Z), else a read of the whole port width.
        addr (in): the transfer's byte address; the port is word addressed, bits [1:0] are dropped.
        data, be (in): the store's write data and byte enables.
        abort (in): soft clear.
        tcdm (out, ``TcdmSignature``): ``req``, ``add``, ``wen``, ``be``, ``data`` are driven here;
            ``gnt`` is read; the responses pass by.
        orphan (out): the request raised now was raised before an abort.
        keep (out): the request's parts are kept now (at an abort that finds no orphan); the
            streamer keeps its own parts of an orphan at the same cycles.
    Parameters: ``port_width``; ``keeps``, the request's parts kept here (default ``add``, ``be`` and
    ``data``; the streamer keeps only ``add`` and gives the data and byte enables of an orphan
    itself, from the store's sources, which keeps its cast-out off the path to a register).
    Latency: combinational from the inputs to the port; ``orphan`` and the kept request are
    registers.
    """

    def __init__(self, port_width, *, keeps=("add", "be", "data")):
        unknown = set(keeps) - {"add", "be", "data"}
        if unknown:
            raise ValueError(f"keeps must name 'add', 'be' or 'data', not {sorted(unknown)}")
        self.keeps = tuple(keeps)
        super().__init__({
            "raised": In(1),
            "store": In(1),
            "addr": In(ADDR_BITS),
            "data": In(port_width),
            "be": In(port_width // 8),
            "abort": In(1),
            "tcdm": Out(TcdmSignature(port_width)),
            "orphan": Out(1),
            "keep": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.tcdm
        granted = bus.req & bus.gnt
        waits_at_abort = self.abort & bus.req & ~bus.gnt
        all_bytes = Const((1 << len(bus.be)) - 1, len(bus.be))
        live = {"add": Cat(Const(0, 2), self.addr[2:]), "be": Mux(self.store, self.be, all_bytes),
                "data": self.data}
        kept = {name: Signal.like(getattr(bus, name), name=f"kept_{name}") for name in self.keeps}
        with m.If(waits_at_abort):
            m.d.sync += self.orphan.eq(1)
        with m.Elif(granted):
            m.d.sync += self.orphan.eq(0)
        # The request is kept at every abort that finds no orphan (a second abort finds the request
        # kept at the first), waiting or not: the kept one is read only as an orphan's, and an
        # orphan is born at such an abort. So the request and the grant stay off the keep's enable.
        with m.If(self.keep):
            m.d.sync += [kept[name].eq(live[name]) for name in kept]
        m.d.comb += [
            self.keep.eq(self.abort & ~self.orphan),
            bus.req.eq(self.raised),
            bus.wen.eq(~self.store),
            *(getattr(bus, name).eq(Mux(self.orphan, kept[name], value) if name in kept else value)
              for name, value in live.items()),
        ]
        return m
