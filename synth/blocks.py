"""The blocks of RedMulE that ``redmule-hdl synth --block NAME`` synthesizes alone, and the report
blocks of the whole top.

``design(config, block)`` returns ``(top name, RTLIL text, group)`` for ``synth.flow.synthesize``:
the top and the engine in export mode (one CE module, ``redmule_hdl.export``), every other block as
Amaranth elaborates it. ``synth_groups(config)`` maps module and net-name prefixes of the top to the
report's blocks.
"""
__all__ = ["BLOCKS", "design", "synth_groups"]

#: Blocks that can be synthesized alone.
BLOCKS = ("top", "engine", "ce", "fma", "xbuf", "wbuf", "zbuf", "streamer", "regfile", "controller")


def synth_groups(config):
    """Module-name prefixes of ``RedMulE`` mapped to report blocks (the longest prefix wins).

    Blocks: "array (CEs)" (the L*H computing elements: FMA and min/max), "X-buffer", "W-buffer",
    "Z-buffer" (the operand buffers, flip-flops: each reported alone), "streamer", "register file",
    "control" (controller, engine scheduler and the CEs' X registers, top-level glue).
    """
    from redmule_hdl.export import CE_MODULE
    group = {f"engine.array.ce_{r}_{h}": "array (CEs)" for r in range(config.L) for h in range(config.H)}
    group.update({CE_MODULE: "array (CEs)",
                  "engine.xbuf": "X-buffer", "engine.wbuf": "W-buffer", "engine.zbuf": "Z-buffer",
                  "streamer": "streamer", "regfile": "register file",
                  "controller": "control", "engine": "control", "top": "control"})
    return group


def _component(config, block):
    c = config
    if block == "fma":
        from redmule_hdl.arith.fma import FMA
        return FMA(pipeline=c.P)
    if block == "ce":
        from redmule_hdl.engine.ce import ComputeElement
        return ComputeElement(c.P)
    if block == "xbuf":
        from redmule_hdl.engine.x_buffer import XBuffer
        return XBuffer(c.L, c.D)
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
        return Controller(misaligned=c.misaligned, D=c.D)
    raise ValueError(f"unknown block {block!r}; blocks: {', '.join(BLOCKS)}")


def design(config, block="top"):
    """``(top, rtlil, group)`` of ``block`` (one of ``BLOCKS``) for ``config``."""
    from amaranth.back import rtlil

    from redmule_hdl import export
    if block == "top":
        return "top", export.rtlil(config, name="top"), synth_groups(config)
    if block == "engine":
        from redmule_hdl.engine.ce import ComputeElement
        from redmule_hdl.engine.engine import Engine
        text = (rtlil.convert(Engine(config, ce_module=export.CE_MODULE), name="engine", emit_src=False)
                + "\n" + rtlil.convert(ComputeElement(config.P), name=export.CE_MODULE, emit_src=False))
        # The top's blocks below ``engine.``, seen from the engine.
        group = {name[len("engine."):]: block for name, block in synth_groups(config).items()
                 if name.startswith("engine.")}
        group.update({export.CE_MODULE: "array (CEs)", "engine": "control"})
        return "engine", text, group
    return block, rtlil.convert(_component(config, block), name=block, emit_src=False), None
