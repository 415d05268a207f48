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
from redmule_hdl.config import check_config
from redmule_hdl.engine.ce import ComputeElement
from redmule_hdl.system.top import TOP_NAME, RedMulE

__all__ = ["CE_MODULE", "parts", "verilog", "rtlil", "verilog_of"]

#: Module name of the computing element in exported designs.
CE_MODULE = "redmule_ce"


def parts(config):
    """``(top, ce)``: the top in export mode and the one CE it instantiates (both unelaborated)."""
    config = check_config(config)
    return RedMulE(config, ce_module=CE_MODULE), ComputeElement(config.P)


def verilog(config, name=TOP_NAME):
    """One Verilog text: module ``CE_MODULE`` (and its submodules), then the top ``name`` (and its)."""
    return verilog_of(*parts(config), name=name)


def verilog_of(top, ce, name=TOP_NAME):
    """``verilog`` of the ``parts`` ``(top, ce)``: both designs go through one Yosys run."""
    from amaranth.back import rtlil as back
    from amaranth.back.verilog import _convert_rtlil_text
    return _convert_rtlil_text(back.convert(ce, name=CE_MODULE, emit_src=False) + "\n" +
                               back.convert(top, name=name, emit_src=False))


def rtlil(config, name=TOP_NAME, platform=None):
    """The design as RTLIL text: the top ``name`` and its submodules, then ``CE_MODULE``'s;
    elaborated for ``platform`` (e.g. ``technology.STANDARD_CELLS``)."""
    from amaranth.back import rtlil as back
    top, ce = parts(config)
    return (back.convert(top, name=name, platform=platform, emit_src=False) + "\n"
            + back.convert(ce, name=CE_MODULE, platform=platform, emit_src=False))
