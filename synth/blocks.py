"""The blocks of RedMulE that ``redmule-hdl synth --block NAME`` synthesizes alone, and the report
blocks of the whole top.

``design(config, block)`` returns ``(top name, RTLIL text, group)`` for ``synth.flow.synthesize``:
the top and the engine in export mode (one CE module, ``redmule_hdl.export``), every other block as
Amaranth elaborates it. ``synth_groups(config)`` maps module and net-name prefixes of the top to the
report's blocks; ``block_prefixes(elaboratable, top)`` computes such a mapping from the classes of the
elaborated hierarchy, so that moving a block inside the design needs no edit here.
"""
__all__ = ["BLOCKS", "REPORT_BLOCKS", "block_prefixes", "design", "synth_groups"]

#: Blocks that can be synthesized alone.
BLOCKS = ("top", "engine", "ce", "fma", "xbuf", "wbuf", "zbuf", "streamer", "regfile", "controller")

#: The report's blocks, in the order the report lists them.
REPORT_BLOCKS = ("array (CEs)", "X-buffer", "W-buffer", "Z-buffer", "streamer", "register file",
                 "control")


def _block_classes():
    """``(class, report block)`` of the blocks reported alone; anything else is "control"."""
    from redmule_hdl.engine.ce import ComputeElement
    from redmule_hdl.engine.w_buffer import WBuffer
    from redmule_hdl.engine.x_buffer import XBuffer
    from redmule_hdl.engine.z_buffer import ZBuffer
    from redmule_hdl.system.controller import Controller
    from redmule_hdl.system.regfile import RegFile
    from redmule_hdl.system.streamer import Streamer
    return ((ComputeElement, "array (CEs)"), (XBuffer, "X-buffer"), (WBuffer, "W-buffer"),
            (ZBuffer, "Z-buffer"), (Streamer, "streamer"), (RegFile, "register file"),
            (Controller, "control"))


def block_prefixes(elaboratable, top):
    """Hierarchy prefixes of ``elaboratable`` (exported as module ``top``) mapped to report blocks.

    Elaborates the design and walks its submodules: a submodule whose elaboratable is an instance of
    a reported class (``ComputeElement``, ``XBuffer``, ``WBuffer``, ``ZBuffer``, ``Streamer``,
    ``RegFile``, ``Controller``), or an ``Instance`` of ``redmule_hdl.export.CE_MODULE``, maps its
    path (``engine.xbuf``) to its block, with everything below it; ``top`` itself, and so every
    other part, is "control". ``CE_MODULE`` maps to "array (CEs)" too (the CE module of export
    mode). Keys are ordered by ``REPORT_BLOCKS``. Submodules without a name get Amaranth's
    ``U$<index>`` names.
    """
    from amaranth.hdl import Fragment, Instance

    from redmule_hdl.export import CE_MODULE
    classes = _block_classes()
    found = {CE_MODULE: "array (CEs)"}

    def walk(fragment, path):
        for index, (sub, name, _src) in enumerate(fragment.subfragments):
            name = f"U${index}" if name is None else name
            sub_path = f"{path}.{name}" if path else name
            if isinstance(sub, Instance):
                block = "array (CEs)" if sub.type == CE_MODULE else None
            else:
                block = next((b for cls, b in classes
                              if any(isinstance(o, cls) for o in (sub.origins or ()))), None)
            if block is not None:
                found[sub_path] = block
            else:
                walk(sub, sub_path)

    walk(Fragment.get(elaboratable, None), "")
    found[top] = "control"
    order = {b: i for i, b in enumerate(REPORT_BLOCKS)}
    return dict(sorted(found.items(), key=lambda item: order[item[1]]))


def synth_groups(config):
    """Module-name prefixes of ``RedMulE`` (exported as ``top``, in export mode) mapped to report
    blocks (the longest prefix wins); see ``block_prefixes``.

    Blocks: "array (CEs)" (the L*H computing elements: FMA and min/max), "X-buffer", "W-buffer",
    "Z-buffer" (the operand buffers, flip-flops: each reported alone), "streamer", "register file",
    "control" (controller, engine scheduler, top-level glue).
    """
    from redmule_hdl.config import check_config
    from redmule_hdl.export import CE_MODULE
    from redmule_hdl.system.top import RedMulE
    return block_prefixes(RedMulE(check_config(config), ce_module=CE_MODULE), "top")


def _component(config, block):
    c = config
    if block == "fma":
        from redmule_hdl.arith.fma import FMA
        return FMA(pipeline=c.P, fast=c.fast_datapath, fpga_arith=c.fpga_arith)
    if block == "ce":
        from redmule_hdl.engine.ce import ComputeElement
        return ComputeElement.of(c)
    if block == "xbuf":
        from redmule_hdl.engine.x_buffer import XBuffer
        return XBuffer(c.L, c.D, memories=c.storage("xbuf"))
    if block == "wbuf":
        from redmule_hdl.engine.w_buffer import WBuffer
        return WBuffer(c.H, c.D)
    if block == "zbuf":
        from redmule_hdl.engine.z_buffer import ZBuffer
        return ZBuffer(c.L, c.D)
    if block == "streamer":
        from redmule_hdl.system.streamer import Streamer
        return Streamer(c)
    if block == "regfile":
        from redmule_hdl.system.regfile import RegFile
        return RegFile(c.contexts)
    if block == "controller":
        from redmule_hdl.system.controller import Controller
        return Controller(misaligned=c.misaligned, D=c.D, L=c.L, fpga_arith=c.fpga_arith)
    raise ValueError(f"unknown block {block!r}; blocks: {', '.join(BLOCKS)}")


def design(config, block="top"):
    """``(top, rtlil, group)`` of ``block`` (one of ``BLOCKS``) for ``config``."""
    from amaranth.back import rtlil

    from redmule_hdl import export
    if block == "top":
        return "top", export.rtlil(config, name="top"), synth_groups(config)
    if block == "ce":
        # Named as in the top: mapped alone (synth.flow.SEPARATE), it is the netlist the array uses.
        from redmule_hdl.engine.ce import ComputeElement
        return (export.CE_MODULE, rtlil.convert(ComputeElement.of(config),
                                                name=export.CE_MODULE, emit_src=False), None)
    if block == "engine":
        from redmule_hdl.engine.ce import ComputeElement
        from redmule_hdl.engine.engine import Engine
        text = (rtlil.convert(Engine(config, ce_module=export.CE_MODULE), name="engine", emit_src=False)
                + "\n" + rtlil.convert(ComputeElement.of(config), name=export.CE_MODULE, emit_src=False))
        group = block_prefixes(Engine(config, ce_module=export.CE_MODULE), "engine")
        return "engine", text, group
    return block, rtlil.convert(_component(config, block), name=block, emit_src=False), None
