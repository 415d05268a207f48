"""The array: L rings of H computing elements and their operand registers."""
from amaranth.hdl import ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.engine.ce import CE_SIGNATURE, ComputeElement
from redmule_hdl.interfaces import REPLICA, CeControl

__all__ = ["CeArray"]


class CeArray(wiring.Component):
    """L rows of H CEs (``ce_<r>_<h>``); row ``r`` is a ring: CE ``h`` adds its step to the result
    of CE ``h-1``, CE 0 to CE H-1's (or, in a tile's first pass, to Y from the Z-buffer or +0).

    Every CE gets X from a register of the array (``x_<r>_<h>``), loaded with the X-buffer's head
    when the sequencer feeds a step to its column, and W from the W-buffer's column. The CEs register
    their operands one cycle ahead, so each also gets X and W as they will be after this cycle.

    Ports:
        en: the global enable.   ctrl: the CE control.
        step, real, column, first, uses_y: the step the sequencer feeds (see ``Sequencer``).
        x: the X-buffer's head, one element per row.   w_next: the W-buffer's, one per column.
        y: the Z-buffer's head, one element per row (Y of the tile).
        z: the result of each row's last CE (into the Z-buffer).
    Parameters: ``config`` (L, H, P); ``ce_module``: None elaborates every CE; else the CEs are
    ``Instance(ce_module)`` of one separately elaborated ``ComputeElement(P)`` (``redmule_hdl.export``).
    """

    def __init__(self, config, *, ce_module=None):
        self.config = c = check_config(config)
        self.ce_module = ce_module
        super().__init__({
            "en": In(1), "ctrl": In(CeControl),
            "step": In(1), "real": In(1), "column": In(range(c.H)), "first": In(1), "uses_y": In(1),
            "x": In(data.ArrayLayout(16, c.L)), "w_next": In(data.ArrayLayout(16, c.H)),
            "y": In(data.ArrayLayout(16, c.L)),
            "z": Out(data.ArrayLayout(16, c.L)),
        })

    def elaborate(self, platform):
        L, H = self.config.L, self.config.H
        m = Module()
        ces = [[self._ce(m, f"ce_{r}_{h}") for h in range(H)] for r in range(L)]
        x_regs = [[Signal(16, name=f"x_{r}_{h}") for h in range(H)] for r in range(L)]
        pad = [Signal(name=f"pad_{h}") for h in range(H)]
        # Column 0 is in the first pass of a tile (its addend is Y or +0), and that tile's job reads Y:
        # one copy per row (replicas), as they select the addend of the row's CE 0.
        first_pass = [Signal(name=f"first_pass_{r}", attrs=REPLICA) for r in range(L)]
        first_uses_y = [Signal(name=f"first_uses_y_{r}", attrs=REPLICA) for r in range(L)]

        # Per-column operand registers, loaded when the column is fed.
        with m.If(self.en & self.step):
            for h in range(H):
                with m.If(self.column == h):
                    m.d.sync += pad[h].eq(~self.real)
                    with m.If(self.real):
                        m.d.sync += [x_regs[r][h].eq(self.x[r]) for r in range(L)]
            with m.If(self.column == 0):
                m.d.sync += [*(copy.eq(self.first) for copy in first_pass),
                             *(copy.eq(self.uses_y) for copy in first_uses_y)]

        fed = Signal()     # a step of the job is fed (the W-buffer's column takes its beat)
        m.d.comb += fed.eq(self.step & self.real)
        for r in range(L):
            for h in range(H):
                ce = ces[r][h]
                # x_regs[r][h] takes x[r] when column h is fed.
                x_next = Mux(fed & (self.column == h), self.x[r], x_regs[r][h])
                if h == 0:
                    start = Mux(first_uses_y[r], self.y[r], 0)
                    acc = Mux(first_pass[r], start, ces[r][H - 1].z)
                else:
                    acc = ces[r][h - 1].z
                m.d.comb += [
                    ce.x.eq(x_regs[r][h]), ce.x_next.eq(x_next), ce.w_next.eq(self.w_next[h]),
                    ce.acc.eq(acc),
                    ce.ctrl.eq(self.ctrl), ce.pad.eq(pad[h]), ce.en.eq(self.en),
                ]
            m.d.comb += self.z[r].eq(ces[r][H - 1].z)
        return m

    def _ce(self, m, name):
        """CE ``name``: a ``ComputeElement`` submodule, or in export mode an ``Instance`` of
        ``ce_module`` with the same ports (returned as an interface of the CE's signature)."""
        if self.ce_module is None:
            m.submodules[name] = ce = ComputeElement.of(self.config)
            return ce
        port = CE_SIGNATURE.create(path=(name,))
        m.submodules[name] = Instance(
            self.ce_module, i_clk=ClockSignal(), i_rst=ResetSignal(),
            **{("i_" if member.flow == In else "o_") + key: getattr(port, key)
               for key, member in CE_SIGNATURE.members.items()})
        return port
