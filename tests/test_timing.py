"""The standard-cell flow: the project's liberty library, the liberty reader, static timing of a mapped
netlist (by hand on small netlists, and against OpenSTA when it is installed), fanout buffering,
combinational input -> output paths, and ``synth.flow.synthesize`` on small designs."""
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import Config
from redmule_hdl.synth import cells, flow
from redmule_hdl.synth.liberty import Library
from redmule_hdl.synth.timing import MAX_FANOUT, Netlist, analyze, io_paths

OSU018 = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")   # Debian: qflow-tech-osu018


@pytest.fixture(scope="module")
def lib():
    return Library.load(cells.liberty_text())


def test_reference_library_units(lib):
    assert lib.name == cells.LIBRARY_NAME
    assert lib.nand2_area() == 1.0                      # 1 GE
    assert lib.fo4_delay() == pytest.approx(1.0)        # 1 FO4
    inv = lib.cells["INVX1"]
    assert inv.area == 0.5 and inv.pins["A"].cap == pytest.approx(1e-3)
    nand = lib.cells["NAND2X1"]
    assert nand.pins["A"].cap == pytest.approx(float(Fraction(4, 3)) * 1e-3, rel=1e-5)
    arc = nand.pins["Y"].arcs[0]
    # d = p + C = 2 + 4 tau at a load of four inverters, in FO4 (5 tau)
    assert arc.rise(4e-3, 0.0) == pytest.approx(6 / 5)
    assert lib.cells["DFFX1"].is_ff and lib.cells["DFFEX1"].is_ff
    assert lib.cells["DFFX1"].area == 6 and lib.cells["XOR2X1"].area == 3
    setup = [a for a in lib.cells["DFFX1"].pins["D"].arcs if a.kind == "setup_rising"][0]
    assert setup.rise(0.0, 0.0) == pytest.approx(8 / 5)


def test_liberty_reader_tables_and_units():
    text = """library (t) { time_unit : "1ps"; capacitive_load_unit (1, ff);
      lu_table_template (tt) { variable_1 : input_net_transition; variable_2 : total_output_net_capacitance;
        index_1 ("10, 20"); index_2 ("1, 3"); }
      cell (INV) { area : 3; pin (A) { direction : input; capacitance : 2; }
        pin (Y) { direction : output; function : "!A";
          timing () { related_pin : "A"; timing_sense : negative_unate;
            cell_rise (tt) { values ("100, 300", "200, 400"); }
            cell_fall (tt) { values ("100, 300", "200, 400"); } } } } }"""
    lib = Library.load(text)
    inv = lib.cells["INV"]
    assert inv.pins["A"].cap == pytest.approx(0.002)            # 2 fF in pF
    arc = inv.pins["Y"].arcs[0]
    # index_1 is the slew here, index_2 the load: 10 ps slew, 2 fF -> halfway between 100 and 300 ps
    assert arc.rise(0.002, 0.010) == pytest.approx(0.2)
    assert arc.rise(0.003, 0.020) == pytest.approx(0.4)
    assert arc.rise(0.005, 0.020) == pytest.approx(0.6)          # linear extrapolation


def _netlist(cells_, ports, names=None):
    """A Yosys-JSON-like module: cells as (type, {pin: bit}), ports as {name: (dir, [bits])}."""
    mod = {"cells": {}, "ports": {}, "netnames": {}}
    for i, (ctype, conns) in enumerate(cells_):
        mod["cells"][f"c{i}"] = {"type": ctype, "connections": {p: [b] for p, b in conns.items()}}
    for name, (d, bits) in ports.items():
        mod["ports"][name] = {"direction": d, "bits": bits}
        mod["netnames"][name] = {"hide_name": 0, "bits": bits}
    for name, bits in (names or {}).items():
        mod["netnames"][name] = {"hide_name": 0, "bits": bits}
    return Netlist.from_json({"modules": {"m": mod}}, "m")


def test_register_to_register_path_by_hand(lib):
    # q0 -> INV -> INV -> NAND2(.., in) -> D of r1; clock bit 1.
    nl = _netlist([("DFFX1", {"CLK": 1, "D": 9, "Q": 2}),
                   ("INVX1", {"A": 2, "Y": 3}), ("INVX1", {"A": 3, "Y": 4}),
                   ("NAND2X1", {"A": 4, "B": 5, "Y": 6}),
                   ("DFFX1", {"CLK": 1, "D": 6, "Q": 7})],
                  {"clk": ("input", [1]), "i": ("input", [5]), "o": ("output", [7])},
                  {"r0": [2], "r1": [7]})
    rep = analyze(nl, lib)
    p = rep.critical
    # tau: clock to Q driving one inverter (6 + 1), INV driving an inverter (1 + 1), INV driving a
    # NAND2 input (1 + 4/3), NAND2 driving the D pin (2 + 1), setup 8.
    want = (7 + 2 + Fraction(7, 3) + 3 + 8) / 5
    assert p.delay == pytest.approx(float(want))
    # an end register is named by its Q net; a port name wins over a wire name
    assert p.depth == 3 and p.start == "r0 (DFFX1)" and p.end == "o (DFFX1.D)"
    assert [s.cell for s in p.steps] == ["DFFX1", "INVX1", "INVX1", "NAND2X1"]
    # input -> register through the NAND2; register -> output: clock to Q into the port load (4).
    assert rep.paths["in->reg"].delay == pytest.approx((3 + 8) / 5)
    assert rep.paths["reg->out"].delay == pytest.approx((6 + 4) / 5)
    assert "in->out" not in rep.paths


def test_high_fanout_nets_are_buffered(lib):
    n = 5 * MAX_FANOUT
    cells_ = [("DFFX1", {"CLK": 1, "D": 3, "Q": 2})]
    cells_ += [("DFFX1", {"CLK": 1, "D": 2, "Q": 100 + i}) for i in range(n)]
    nl = _netlist(cells_, {"clk": ("input", [1])})
    unbuffered = analyze(nl, lib, buffer=False)
    rep = analyze(_netlist(cells_, {"clk": ("input", [1])}), lib)
    assert rep.buffers_added >= n // 8 and rep.buffer_area > 0
    assert rep.critical.delay < unbuffered.critical.delay
    assert unbuffered.critical.delay == pytest.approx((6 + n + 8) / 5)


class Mixed(wiring.Component):
    """``o = a & b`` combinationally, ``q`` registered: one input -> output path per input of o."""
    a: In(1)
    b: In(2)
    o: Out(1)
    q: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.eq(self.a & self.b[1])
        m.d.sync += self.q.eq(self.a | self.b[0])
        return m


def test_io_paths_finds_combinational_paths():
    paths = io_paths(Mixed(), "mixed")
    assert [(p.input, p.output) for p in paths] == [("a", "o"), ("b", "o")]
    assert all(p.depth >= 1 for p in paths)
    assert paths[1].example == "b[1] -> o"


class Registered(wiring.Component):
    a: In(4)
    q: Out(4)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.q.eq(self.q + self.a)      # reg -> reg through the adder
        return m


def test_io_paths_of_a_registered_design_is_empty():
    assert io_paths(Registered(), "reg") == []


def test_synthesize_small_design(lib):
    rep = flow.synthesize(Registered(), "reg")
    d = rep.as_dict()
    assert rep.reference and d["library"]["name"] == cells.LIBRARY_NAME
    assert rep.area.ffs == 4 and rep.area.cells > 4 and d["total"]["kge"] > 0.024
    assert d["critical_path"]["unit"] == "FO4" and d["critical_path"]["depth"] >= 1
    assert d["min_period_fo4"] == pytest.approx(d["critical_path"]["delay"])
    json.dumps(d)
    text = rep.format()
    assert "reg->reg" in text and "kGE" in text and "GE" in text.splitlines()[0]


def _opensta_period(workdir, top, liberty):
    """reg->reg arrival + setup of the worst path, by OpenSTA on the same mapped netlist."""
    from redmule_hdl.synth.yosys import run_yosys
    run_yosys(["-q", "-p", "read_json netlist.json; read_liberty -lib cells.lib; "
                           "write_verilog -noattr -noexpr net.v"], cwd=workdir)
    (Path(workdir) / "t.tcl").write_text(f"""read_liberty {liberty}
read_verilog net.v
link_design {top}
create_clock -name clk -period 100 [get_ports clk]
report_checks -path_delay max -from [all_registers -clock_pins] -to [all_registers -data_pins] -digits 4
exit
""")
    out = subprocess.run(["sta", "t.tcl"], cwd=workdir, capture_output=True, text=True, timeout=300).stdout
    arrival = float(next(ln.split()[0] for ln in out.splitlines() if ln.strip().endswith("data arrival time")))
    setup = float(next(ln.split()[0] for ln in out.splitlines() if "library setup time" in ln))
    return arrival - setup


@pytest.mark.skipif(shutil.which("sta") is None or not OSU018.is_file(),
                    reason="needs OpenSTA (Debian: opensta) and the OSU 0.18 um library (qflow-tech-osu018)")
def test_timing_agrees_with_opensta(tmp_path):
    from redmule_hdl.arith.fma import FMA
    rep = flow.synthesize(FMA(pipeline=3), "fma", liberty=OSU018, workdir=tmp_path)
    assert not rep.reference and 20 < rep.ge_area < 30 and 0.08 < rep.fo4 < 0.12
    theirs = _opensta_period(tmp_path, "fma", OSU018)
    assert rep.timing.critical.delay == pytest.approx(theirs, rel=0.05)


# One row of CEs: a second row adds CEs and buffer rows, not paths between ports (each configuration
# is flattened and mapped whole, so a smaller one is quicker). The second configuration takes every
# port option at once: the narrow port, write responses and FP8 transfers (D = 4).
@pytest.mark.parametrize("config", [Config(L=1, H=2, P=1),
                                    Config(L=1, H=2, P=1, misaligned=False, write_responses=True,
                                           beat_format="fp8")],
                         ids=["1x2x1", "1x2x1-narrow-fp8-port-wr"])
def test_top_has_no_input_to_output_path(config):
    """No combinational path from an input port to an output port of the exported top: a memory's
    grant or response must not reach its request, nor evt, in the same cycle."""
    from redmule_hdl.system.top import RedMulE
    assert io_paths(RedMulE(config), "top") == []
