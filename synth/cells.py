"""The project's own standard-cell library ``redmule_ge``: areas in gate equivalents, delays in FO4.

``liberty_text()`` renders it as a liberty file (``python -m redmule_hdl.synth.cells > redmule_ge.lib``
writes it); ``redmule-hdl synth`` uses it unless ``--liberty`` names a real library. It lets the
pip-only flow report the units hardware papers compare across technologies: kGE (1 GE = the area of a
2-input NAND) and FO4 (the delay of an inverter driving four copies of itself).

Where each number comes from:

* Delay model: the method of logical effort (I. Sutherland, R. Sproull, D. Harris, *Logical Effort:
  Designing Fast CMOS Circuits*, Morgan Kaufmann 1999, chapter 1). The delay of a stage is
  ``d = g*h + p`` in units of tau, with ``g`` the logical effort, ``h = C_out/C_in`` the electrical
  effort and ``p`` the parasitic delay; an inverter driving four copies of itself takes
  ``d = 1*4 + 1 = 5`` tau = 1 FO4. Every cell here is sized for the drive of the unit inverter (X1),
  so an input pin has capacitance ``g`` (in unit-inverter input capacitances, written as fF) and a
  stage driving ``C`` has ``d = p + C``; an Xk stage has k times the input capacitance and
  ``d = p + C/k``.
* ``g`` and ``p`` of the inverter, NAND2/3, NOR2/3, XOR2/XNOR2 and the (inverting, tristate) 2:1
  multiplexer: the book's tables of common gates, for a P/N mobility ratio gamma = 2 and p_inv = 1:
  NAND-n ``g = (n+2)/3, p = n``; NOR-n ``g = (2n+1)/3, p = n``; multiplexer ``g = 2, p = 2n``; XOR2
  ``g = 4, p = 4``; inverter ``g = 1, p = 1``.
* AOI21/OAI21/AOI22/OAI22: derived with the book's method (chapter 4: size every transistor so the
  worst pull-up and pull-down match the unit inverter's, nMOS width 1, pMOS width 2; ``g`` = input
  capacitance / 3, ``p`` = diffusion capacitance on the output node / 3, the series transistor next to
  the output taken as the one that makes it smallest). The results are in ``CELLS`` below, e.g.
  AOI21: A inputs ``g = 2``, B ``g = 5/3``, ``p = 7/3``.
* AND, OR, BUF and MUX2 are two stages, the gate above and an X1 (or Xk) output inverter:
  ``d = p1 + 1 + p_inv + C`` (the first stage drives the output inverter's unit capacitance). The MUX2
  select also passes a local inverter (``1 + 2``) before the multiplexer stage.
* Flip-flop: the static master-slave flip-flop of tristate inverters (master and slave input
  tristates, two feedback tristates, two storage inverters, the clock inverter pair: 4*4 + 4*2 = 24
  transistors, as counted in ``synth/yosys.py``). Clock to Q: the slave tristate (``p = 2``) drives the
  output inverter and its feedback tristate (3 units), then the output inverter: ``6 + C`` tau.
  Setup: the input inverter (``1 + 2``) and the master tristate (``2 + 3``): 8 tau. The enabled
  flip-flop puts a MUX2 (inverting multiplexer stage, ``p = 4``, driving 1 unit) before D; its E pin
  also passes the select inverter.
* Areas: transistor counts of the static CMOS gates as Yosys prices them (``kernel/cost.h``, the
  ``stat -tech cmos`` table: NOT 2, NAND2/NOR2 4, AND2/OR2 6, XOR/XNOR 12, MUX 12, AOI3/OAI3 6,
  AOI4/OAI4 8; 3-input NAND/NOR 6, AND3/OR3 8 by the same count), divided by the 4 transistors of a
  NAND2: GE = transistors / 4. An Xk stage is counted k times (its transistors are k times as wide).
* Output slew is taken equal to the stage delay; the tables do not depend on the input slew, so slew
  only matters for real libraries.

Time is written in the file with ``time_unit : "1ns"`` and 1 unit = 1 FO4, capacitance with
``capacitive_load_unit (1, ff)`` and 1 unit = the input capacitance of the unit inverter; ``area`` is in
GE. These are abstract units: the reports print FO4 and kGE, never ns or um^2, for this library.
"""
from dataclasses import dataclass
from fractions import Fraction as F

__all__ = ["LIBRARY_NAME", "TAU_PER_FO4", "CELLS", "CellSpec", "liberty_text"]

LIBRARY_NAME = "redmule_ge"
TAU_PER_FO4 = 5


@dataclass(frozen=True)
class CellSpec:
    """One cell: ``inputs`` maps a pin to (capacitance, parasitic delay from that pin, sense) in
    units of the unit inverter and tau; ``drive`` k divides the load term; ``transistors`` gives the
    area (GE = transistors / 4)."""
    name: str
    function: str            # liberty function of the output Y (flip-flops: next_state)
    inputs: dict
    transistors: float
    drive: int = 1
    ff: bool = False
    setup: dict = None       # flip-flops: pin -> setup time (tau)


def _inv(k):
    return CellSpec(f"INVX{k}", "!A", {"A": (k * F(1), F(1), "negative_unate")}, 2 * k, drive=k)


def _gate(name, function, caps, p, transistors, sense):
    return CellSpec(name, function, {pin: (F(c), F(p), sense) for pin, c in caps.items()}, transistors)


def _two_stage(name, function, caps, p1, transistors, sense):
    # first stage drives the X1 output inverter (1 unit), then p_inv = 1
    return CellSpec(name, function, {pin: (F(c), F(p1) + 1 + 1, sense) for pin, c in caps.items()},
                    transistors)


_MUX_SELECT = F(1) + 2          # local select inverter: p = 1, drives the multiplexer select (g = 2)

CELLS = (
    _inv(1), _inv(2), _inv(4), _inv(8),
    # BUFX1: X1 -> X1 inverter pair; BUFX4: X1 -> X4; BUFX8: X2 -> X8 (first stage drives 4 units
    # with twice the drive: 1 + 4/2... written out as p1 + C1/k1 + p2).
    CellSpec("BUFX1", "A", {"A": (F(1), F(1) + 1 + 1, "positive_unate")}, 4),
    CellSpec("BUFX4", "A", {"A": (F(1), F(1) + 4 + 1, "positive_unate")}, 2 + 8, drive=4),
    CellSpec("BUFX8", "A", {"A": (F(2), F(1) + F(8, 2) + 1, "positive_unate")}, 4 + 16, drive=8),
    _gate("NAND2X1", "!(A&B)", {"A": F(4, 3), "B": F(4, 3)}, 2, 4, "negative_unate"),
    _gate("NAND3X1", "!(A&B&C)", {"A": F(5, 3), "B": F(5, 3), "C": F(5, 3)}, 3, 6, "negative_unate"),
    _gate("NOR2X1", "!(A|B)", {"A": F(5, 3), "B": F(5, 3)}, 2, 4, "negative_unate"),
    _gate("NOR3X1", "!(A|B|C)", {"A": F(7, 3), "B": F(7, 3), "C": F(7, 3)}, 3, 6, "negative_unate"),
    _two_stage("AND2X1", "A&B", {"A": F(4, 3), "B": F(4, 3)}, 2, 6, "positive_unate"),
    _two_stage("AND3X1", "A&B&C", {"A": F(5, 3), "B": F(5, 3), "C": F(5, 3)}, 3, 8, "positive_unate"),
    _two_stage("OR2X1", "A|B", {"A": F(5, 3), "B": F(5, 3)}, 2, 6, "positive_unate"),
    _two_stage("OR3X1", "A|B|C", {"A": F(7, 3), "B": F(7, 3), "C": F(7, 3)}, 3, 8, "positive_unate"),
    _gate("XOR2X1", "A^B", {"A": 4, "B": 4}, 4, 12, "non_unate"),
    _gate("XNOR2X1", "!(A^B)", {"A": 4, "B": 4}, 4, 12, "non_unate"),
    CellSpec("AOI21X1", "!((A&B)|C)", {"A": (F(2), F(7, 3), "negative_unate"),
                                       "B": (F(2), F(7, 3), "negative_unate"),
                                       "C": (F(5, 3), F(7, 3), "negative_unate")}, 6),
    CellSpec("OAI21X1", "!((A|B)&C)", {"A": (F(2), F(8, 3), "negative_unate"),
                                       "B": (F(2), F(8, 3), "negative_unate"),
                                       "C": (F(4, 3), F(8, 3), "negative_unate")}, 6),
    _gate("AOI22X1", "!((A&B)|(C&D))", {"A": 2, "B": 2, "C": 2, "D": 2}, 4, 8, "negative_unate"),
    _gate("OAI22X1", "!((A|B)&(C|D))", {"A": 2, "B": 2, "C": 2, "D": 2}, 4, 8, "negative_unate"),
    # Y = S ? B : A: inverting multiplexer stage (g = 2, p = 4) and the output inverter.
    CellSpec("MUX2X1", "(A&!S)|(B&S)", {"A": (F(2), F(4) + 1 + 1, "positive_unate"),
                                        "B": (F(2), F(4) + 1 + 1, "positive_unate"),
                                        "S": (F(2) + 1, _MUX_SELECT + 4 + 1 + 1, "non_unate")}, 12),
    # Flip-flops: inputs maps CLK -> clock-to-Q; setup per data pin.
    CellSpec("DFFX1", "D", {"CLK": (F(2), F(6), "non_unate")}, 24, ff=True,
             setup={"D": F(1) + 2 + 2 + 3}),
    CellSpec("DFFEX1", "(D&E)|(IQ&!E)", {"CLK": (F(2), F(6), "non_unate")}, 24 + 12, ff=True,
             setup={"D": F(4) + 1 + 8, "E": _MUX_SELECT + 4 + 1 + 8}),
)

_DATA_CAPS = {"DFFX1": {"D": F(1)}, "DFFEX1": {"D": F(2), "E": F(3)}}
# Load points of the linear tables (unit capacitances); the delay is exactly linear in the load.
_LOADS = (0, 4, 16, 64)
_SLEWS = (0, 1)


def _fo4(tau):
    return float(tau) / TAU_PER_FO4


def _num(x):
    return f"{float(x):.6g}"


def _table(kind, template, values):
    rows = ", ".join(f'"{", ".join(_num(v) for v in row)}"' for row in values)
    return f"        {kind}({template}) {{ values ({rows}); }}\n"


def _arc_tables(p, drive):
    delay = [[_fo4(p + F(c) / drive)] * len(_SLEWS) for c in _LOADS]
    out = ""
    for kind in ("cell_rise", "cell_fall", "rise_transition", "fall_transition"):
        out += _table(kind, "delay", delay)
    return out


def liberty_text():
    """The library as liberty text (see the module docstring for every number's source)."""
    head = f'''/* {LIBRARY_NAME}: the redmule-hdl reference cell library (redmule_hdl/synth/cells.py).
   area: gate equivalents (1 GE = NAND2X1); time: 1 unit = 1 FO4 = {TAU_PER_FO4} tau (logical effort);
   capacitance: 1 unit = input capacitance of the unit inverter. Abstract units, see cells.py. */
library ({LIBRARY_NAME}) {{
  delay_model : table_lookup;
  time_unit : "1ns";
  voltage_unit : "1V";
  current_unit : "1mA";
  pulling_resistance_unit : "1kohm";
  leakage_power_unit : "1nW";
  capacitive_load_unit (1, ff);
  input_threshold_pct_rise : 50;
  input_threshold_pct_fall : 50;
  output_threshold_pct_rise : 50;
  output_threshold_pct_fall : 50;
  slew_lower_threshold_pct_rise : 20;
  slew_upper_threshold_pct_rise : 80;
  slew_lower_threshold_pct_fall : 20;
  slew_upper_threshold_pct_fall : 80;
  default_input_transition : 0;
  nom_process : 1;
  nom_voltage : 1;
  nom_temperature : 25;
  lu_table_template (delay) {{
    variable_1 : total_output_net_capacitance;
    variable_2 : input_net_transition;
    index_1 ("{", ".join(_num(c) for c in _LOADS)}");
    index_2 ("{", ".join(_num(s) for s in _SLEWS)}");
  }}
  lu_table_template (constraint) {{
    variable_1 : constrained_pin_transition;
    index_1 ("{", ".join(_num(s) for s in _SLEWS)}");
  }}
'''
    body = ""
    for c in CELLS:
        body += f"  cell ({c.name}) {{\n    area : {_num(F(c.transistors) / 4)};\n"
        if c.ff:
            body += ('    ff (IQ, IQN) {\n'
                     f'      next_state : "{c.function}";\n      clocked_on : "CLK";\n    }}\n')
            body += f"    pin (CLK) {{ direction : input; clock : true; capacitance : {_num(c.inputs['CLK'][0])}; }}\n"
            for pin, cap in _DATA_CAPS[c.name].items():
                s = [_fo4(c.setup[pin])] * len(_SLEWS)
                body += (f"    pin ({pin}) {{\n      direction : input;\n      capacitance : {_num(cap)};\n"
                         f'      timing () {{\n        related_pin : "CLK";\n        timing_type : setup_rising;\n'
                         f'        rise_constraint(constraint) {{ values ("{", ".join(_num(v) for v in s)}"); }}\n'
                         f'        fall_constraint(constraint) {{ values ("{", ".join(_num(v) for v in s)}"); }}\n'
                         f"      }}\n    }}\n")
            _, p, _ = c.inputs["CLK"]
            body += ('    pin (Q) {\n      direction : output;\n      function : "IQ";\n'
                     '      timing () {\n        related_pin : "CLK";\n        timing_type : rising_edge;\n'
                     '        timing_sense : non_unate;\n')
            body += _arc_tables(p, c.drive).replace("        ", "          ")
            body += "      }\n    }\n  }\n"
            continue
        for pin, (cap, _, _) in c.inputs.items():
            body += f"    pin ({pin}) {{ direction : input; capacitance : {_num(cap)}; }}\n"
        body += f'    pin (Y) {{\n      direction : output;\n      function : "{c.function}";\n'
        for pin, (_, p, sense) in c.inputs.items():
            body += (f'      timing () {{\n        related_pin : "{pin}";\n        timing_sense : {sense};\n')
            body += _arc_tables(p, c.drive).replace("        ", "          ")
            body += "      }\n"
        body += "    }\n  }\n"
    return head + body + "}\n"


if __name__ == "__main__":
    print(liberty_text(), end="")
