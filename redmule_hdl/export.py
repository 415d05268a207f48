"""Export mode: the accelerator with every distinct block emitted once.

Amaranth elaborates and exports every submodule instance as its own module, so the L x H computing
elements of the array became L x H identical Verilog modules: generation time and memory grew with
L x H (12x4x3 took 38 s; 64x32x8 did not finish). Here one ``ComputeElement(P)`` is elaborated into
module ``CE_MODULE`` and the engine instantiates it L x H times (``RedMulE(config,
ce_module=CE_MODULE)``, which makes ``Engine`` place ``amaranth.hdl.Instance`` cells). The time then
grows with the rest of the design (buffers, streamer), not with the CE count.

``verilog(config)`` is the Verilog ``redmule-hdl generate`` writes and the Verilator back end's
"export" flow simulates: the CE module, then the top ``TOP_NAME`` and its submodules. ``rtlil(config)``
is the same design as RTLIL (top module first), for Yosys flows (``synth``, the Verilator "sim" flow).

Amaranth's simulator cannot simulate an ``Instance``: simulation keeps the default ``RedMulE(config)``.
"""
import re
from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.engine.ce import ComputeElement
from redmule_hdl.system.top import TOP_NAME, RedMulE

__all__ = ["CE_MODULE", "RESET_STYLES", "Options", "AsyncReset", "check_prefix", "module_names", "parts", "verilog", "rtlil", "verilog_of"]

#: Module name of the computing element in exported designs.
CE_MODULE = "redmule_ce"

#: Reset styles of the generated top: name -> (clock port, reset port, what the reset is).
RESET_STYLES = {
    "sync": ("clk", "rst", "synchronous, active high"),
    "async_low": ("clk_i", "rst_ni", "asynchronous, active low"),
}

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_prefix(prefix):
    """``prefix`` if it is ``""`` or can start a Verilog and C identifier (letters, digits and ``_``,
    not a digit first); ``TypeError``/``ValueError`` naming ``prefix`` otherwise."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {prefix!r}")
    if prefix and not _PREFIX.fullmatch(prefix):
        raise ValueError(f"prefix must be letters, digits and _ (not a digit first), not {prefix!r}")
    return prefix


@dataclass(frozen=True)
class Options:
    """How a generated instance is named and wired, beside its ``Config``: the module ``prefix`` of
    every module name (two configurations in one design), which also starts the C header's macros
    (upper case), the FuseSoC core's and the Bender package's names; the ``reset`` style of the top
    (``RESET_STYLES``): ``"sync"`` (ports ``clk``, ``rst``) or ``"async_low"`` (``clk_i``,
    ``rst_ni``, the PULP cluster's convention; every register is then reset asynchronously, the
    CEs' too). Neither changes what the hardware computes or its cycle counts."""
    prefix: str = ""
    reset: str = "sync"

    def __post_init__(self):
        check_prefix(self.prefix)
        if not isinstance(self.reset, str):
            raise TypeError(f"reset must be a str, not {self.reset!r}")
        if self.reset not in RESET_STYLES:
            raise ValueError(f"reset must be one of {', '.join(map(repr, RESET_STYLES))}, not "
                             f"{self.reset!r}")

    @property
    def clock_port(self):
        return RESET_STYLES[self.reset][0]

    @property
    def reset_port(self):
        return RESET_STYLES[self.reset][1]

    @property
    def top(self):
        """Name of the top module."""
        return self.prefix + TOP_NAME

    @property
    def ce(self):
        """Name of the CE module."""
        return self.prefix + CE_MODULE

    @property
    def package(self):
        """Name of the FuseSoC core (VLNV name) and of the Bender package."""
        return self.prefix + "redmule"

    @property
    def c_prefix(self):
        """Start of every macro of the C header (``REDMULE`` without a prefix)."""
        return (self.prefix + "REDMULE").upper()


def module_names(prefix=""):
    """``(top, ce)``: the names of the top module and of the CE module with the module ``prefix``.
    Every other module is named after one of them (``<top>.engine``, ``<ce>.fma``, ...)."""
    prefix = check_prefix(prefix)
    return prefix + TOP_NAME, prefix + CE_MODULE


class AsyncReset(wiring.Component):
    """``inner`` (a component using the ``sync`` domain) with an asynchronous reset: the ports of
    ``inner`` and, first, the clock port ``clock`` and the reset port ``reset`` (active low if
    ``active_low``). ``inner`` is submodule ``core``; every port passes straight through."""

    def __init__(self, inner, clock, reset, *, active_low):
        self._inner = inner
        self._clock, self._reset, self._active_low = clock, reset, active_low
        self.ce_module = getattr(inner, "ce_module", None)
        super().__init__({clock: In(1), reset: In(1), **inner.signature.members})

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync", async_reset=True)
        reset = getattr(self, self._reset)
        m.d.comb += [cd.clk.eq(getattr(self, self._clock)),
                     cd.rst.eq(~reset if self._active_low else reset)]
        m.submodules.core = inner = self._inner
        outer = {path: value for path, _, value in self.signature.flatten(self)}
        for path, member, value in inner.signature.flatten(inner):
            m.d.comb += outer[path].eq(value) if member.flow == Out else value.eq(outer[path])
        return m


def parts(config, *, prefix="", reset="sync"):
    """``(top, ce)``: the top in export mode and the one CE it instantiates (both unelaborated), with
    the ``Options`` ``prefix`` and ``reset``."""
    config = check_config(config)
    options = Options(prefix=prefix, reset=reset)
    top, ce = RedMulE(config, ce_module=options.ce), ComputeElement.of(config)
    if reset == "sync":
        return top, ce
    # The CE module keeps the ports clk and rst (the top drives rst active high), now asynchronous.
    return (AsyncReset(top, options.clock_port, options.reset_port, active_low=True),
            AsyncReset(ce, "clk", "rst", active_low=False))


def verilog(config, name=TOP_NAME, *, prefix="", reset="sync"):
    """One Verilog text: the CE module (and its submodules), then the top ``prefix + name`` (and
    its); every module name starts with ``prefix``; ``reset``: the reset style (``Options``)."""
    return verilog_of(*parts(config, prefix=prefix, reset=reset), name=check_prefix(prefix) + name)


def verilog_of(top, ce, name=TOP_NAME):
    """``verilog`` of the ``parts`` ``(top, ce)``: both designs go through one Yosys run. The CE
    module gets the name the top instantiates (``top.ce_module``)."""
    from amaranth.back import rtlil as back
    from amaranth.back.verilog import _convert_rtlil_text
    return _convert_rtlil_text(back.convert(ce, name=top.ce_module, emit_src=False) + "\n" +
                               back.convert(top, name=name, emit_src=False))


def rtlil(config, name=TOP_NAME, *, prefix=""):
    """The design as RTLIL text: the top ``prefix + name`` and its submodules, then the CE's."""
    from amaranth.back import rtlil as back
    top, ce = parts(config, prefix=prefix)
    return (back.convert(top, name=check_prefix(prefix) + name, emit_src=False) + "\n"
            + back.convert(ce, name=top.ce_module, emit_src=False))
