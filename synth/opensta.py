"""An independent power estimate by OpenSTA (``sta``, Debian package ``opensta``), for cross-checks.

``opensta_power(netlist, top, liberty, activity, cycles, period_ns, group)`` hands OpenSTA the same
mapped netlist and the same measured activity that ``synth.power.analyze_power`` starts from (the
flip-flop outputs and the input ports) and returns its power per block (``report_power``'s
instance powers summed by ``synth.power.block_of_cell``), in mW, split into internal, switching and
leakage. Facts about Debian's OpenSTA 2.0.17 this relies on (measured here, see the project notes):

* activity is handed over pin by pin with ``sta::set_power_pin_activity`` (the ``set_power_activity
  -pins`` wrapper is broken), in transitions per clock period, with the duty (fraction at 1);
* activity set on a flip-flop's Q pin is overwritten by propagation from D: OpenSTA reads a copy of the
  liberty whose flip-flops lost their ``ff`` group, their Q function and Q timing arcs
  (``liberty_without_flops``), so the annotated Q pins seed the propagation; the Q pins get an input
  delay on the clock so downstream gates still see a clocked signal; the flip-flops keep their clock
  pin's internal power and their leakage;
* the internal energy of an output or clock pin is the sum of the rise and fall tables, not their
  mean: this module halves the internal power it reports (``INTERNAL_SCALE``) to compare per
  transition;
* the clock net (the flip-flops' clock pin capacitance) is not in ``report_power`` without a clock
  tree: ``analyze_power``'s figure for it is left out of the comparison.
"""
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .power import block_of_cell

__all__ = ["sta_available", "liberty_without_flops", "netlist_verilog", "opensta_power", "INTERNAL_SCALE"]

#: OpenSTA 2.0.17 sums rise and fall internal energy per transition: scale to their mean.
INTERNAL_SCALE = 0.5


def sta_available():
    """The ``sta`` executable, or None."""
    return shutil.which("sta")


def _block_end(text, start):
    """Index after the ``}`` closing the group whose ``{`` is the first at or after ``start``."""
    i = text.index("{", start)
    depth = 0
    while True:
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


def _strip_groups(body, kind):
    """``body`` without every ``kind (...) { ... }`` group."""
    out, pos = [], 0
    pat = re.compile(r"\b" + kind + r"\s*\([^)]*\)\s*\{")
    while True:
        m = pat.search(body, pos)
        if not m:
            out.append(body[pos:])
            return "".join(out)
        out.append(body[pos:m.start()])
        pos = _block_end(body, m.start())


def liberty_without_flops(text, flop_cells):
    """The liberty ``text`` with the cells ``flop_cells`` turned into plain sinks of their inputs: no
    ``ff`` group, no function and no timing arcs on their outputs (see the module docstring)."""
    out, pos = [], 0
    for m in re.finditer(r"\bcell\s*\(\s*\"?([A-Za-z0-9_]+)\"?\s*\)\s*\{", text):
        if m.group(1) not in flop_cells or m.start() < pos:
            continue
        end = _block_end(text, m.start())
        body = _strip_groups(text[m.start():end], "ff")
        # output pins: drop function and timing groups
        pins = []
        p = 0
        for pm in re.finditer(r"\bpin\s*\(\s*\"?([A-Za-z0-9_]+)\"?\s*\)\s*\{", body):
            if pm.start() < p:
                continue
            pend = _block_end(body, pm.start())
            pin = body[pm.start():pend]
            if re.search(r"direction\s*:\s*output", pin):
                pin = _strip_groups(pin, "timing")
                pin = re.sub(r"\bfunction\s*:\s*\"[^\"]*\"\s*;", "", pin)
            pins.append(body[p:pm.start()] + pin)
            p = pend
        body = "".join(pins) + body[p:]
        out.append(text[pos:m.start()] + body)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _vname(name):
    return "\\" + name + " "


def netlist_verilog(netlist, top, cells, cut=()):
    """Structural Verilog of the flattened Yosys JSON ``netlist`` module ``top`` (instances of the
    liberty ``cells`` only, named ``c<k>`` for the k-th cell of the JSON), one wire per net bit
    (``n<bit>``), ports as Yosys names them. ``cut``: net bits driven by flip-flops to cut: such a
    net is driven by a new input port ``q<bit>`` instead, and the flip-flop drives a new net
    ``qd<bit>`` that nothing loads (the caller gives it the cut net's load)."""
    mods = netlist["modules"]
    mod = mods[top] if top in mods else mods["\\" + top]
    lines, assigns, wires = [], [], set()
    ports = mod["ports"]
    cut = set(cut)
    decl = []
    for name, p in ports.items():
        w = len(p["bits"])
        rng = f"[{w - 1}:0] " if w > 1 else ""
        decl.append(f"  {p['direction']} {rng}{_vname(name)};")
    decl += [f"  input q{b};" for b in sorted(cut)]

    def bit(b):
        if isinstance(b, str):
            return "1'b1" if b == "1" else "1'b0"
        wires.add(b)
        return f"n{b}"
    for name, p in ports.items():
        w = len(p["bits"])
        for i, b in enumerate(p["bits"]):
            ref = _vname(name) + (f"[{i}]" if w > 1 else "")
            if p["direction"] == "input":
                if isinstance(b, int):
                    assigns.append(f"  assign n{b} = {ref};")
                    wires.add(b)
            else:
                assigns.append(f"  assign {ref} = {bit(b)};")
    assigns += [f"  assign n{b} = q{b};" for b in sorted(cut)]
    wires |= cut
    insts = []
    for k, (cname, c) in enumerate(mod["cells"].items()):
        ctype = c["type"].lstrip("\\")
        if ctype not in cells:
            continue
        out = {p.name for p in cells[ctype].outputs()}
        conns = ", ".join(
            f".{pin}(qd{bits[0]})" if pin in out and bits[0] in cut else f".{pin}({bit(bits[0])})"
            for pin, bits in c["connections"].items() if bits)
        insts.append(f"  {ctype} c{k}({conns});")
    all_ports = [_vname(n) for n in ports] + [f"q{b}" for b in sorted(cut)]
    lines.append(f"module {_vname(top)}({', '.join(all_ports)});")
    lines += decl
    lines += [f"  wire n{b};" for b in sorted(wires)]
    lines += [f"  wire qd{b};" for b in sorted(cut)]
    lines += assigns + insts
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def opensta_power(netlist, top, liberty, activity, cycles, period_ns, group=None, *, clock="clk",
                  workdir=None):
    """OpenSTA's power per block: ``{block: {"internal", "switching", "leakage"}}`` in mW (internal
    already scaled by ``INTERNAL_SCALE``), with ``activity`` ``{bit: (toggles, cycles at 1)}`` of the
    flip-flop outputs and input ports over ``cycles`` cycles at ``period_ns`` (see the module
    docstring for how it is handed over)."""
    from .liberty import Library
    exe = sta_available()
    if exe is None:
        raise FileNotFoundError("OpenSTA (sta) is not installed: apt-get install opensta")
    lib_text = Path(liberty).read_text(errors="replace")
    lib = Library.load(Path(liberty))
    flops = {n for n, c in lib.cells.items() if c.is_ff}
    mods = netlist["modules"]
    mod = mods[top] if top in mods else mods["\\" + top]
    names = list(mod["cells"])
    ports = mod["ports"]
    # every flip-flop output net, and the load it drives
    cut, loads = set(), {}
    for c in mod["cells"].values():
        ctype = c["type"].lstrip("\\")
        if ctype in flops:
            for p in lib.cells[ctype].outputs():
                for b in c["connections"].get(p.name, ()):
                    if isinstance(b, int):
                        cut.add(b)
    for c in mod["cells"].values():
        ctype = c["type"].lstrip("\\")
        if ctype not in lib.cells:
            continue
        for p in lib.cells[ctype].inputs():
            for b in c["connections"].get(p.name, ()):
                if b in cut:
                    loads[b] = loads.get(b, 0.0) + p.cap
    out_bits = [b for p in ports.values() if p["direction"] == "output" for b in p["bits"]]
    from .timing import _smallest_inverter
    from .power import OUTPUT_LOAD_INVERTERS
    inv = _smallest_inverter(lib)
    for b in out_bits:
        if b in cut:
            loads[b] = loads.get(b, 0.0) + OUTPUT_LOAD_INVERTERS * inv.inputs()[0].cap
    with tempfile.TemporaryDirectory(prefix="redmule-sta.") as work:
        work = Path(workdir or work)
        work.mkdir(parents=True, exist_ok=True)
        (work / "cells.lib").write_text(liberty_without_flops(lib_text, flops))
        (work / "design.v").write_text(netlist_verilog(netlist, top, lib.cells, cut))
        tcl = [f"read_liberty {work / 'cells.lib'}", f"read_verilog {work / 'design.v'}",
               f"link_design {{{top}}}",
               f"create_clock -name clk -period {period_ns:.6g} [get_ports {{{clock}}}]",
               "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {clk}]]",
               f"set_load {OUTPUT_LOAD_INVERTERS * inv.inputs()[0].cap / lib.cap_scale:.6g} [all_outputs]"]

        def port_activity(ref, b):
            if b in activity:
                tc, high = activity[b]
                tcl.append(f"sta::set_power_input_port_activity [get_ports {{{ref}}}] "
                           f"{tc / cycles:.6g} {high / cycles:.6g}")
        for pname, p in ports.items():
            if p["direction"] != "input" or pname == clock:
                continue
            for i, b in enumerate(p["bits"]):
                if isinstance(b, int):
                    port_activity(pname + (f"[{i}]" if len(p["bits"]) > 1 else ""), b)
        for k, c in enumerate(mod["cells"].values()):
            ctype = c["type"].lstrip("\\")
            if ctype not in flops:
                continue
            for p in lib.cells[ctype].outputs():
                bits = c["connections"].get(p.name, ())
                if bits and bits[0] in cut:
                    b = bits[0]
                    port_activity(f"q{b}", b)
                    if b in activity:
                        tc, high = activity[b]
                        tcl.append(f"sta::set_power_pin_activity [get_pins {{c{k}/{p.name}}}] "
                                   f"{tc / cycles:.6g} {high / cycles:.6g}")
                    tcl.append(f"set_load {loads.get(b, 0.0) / lib.cap_scale:.6g} [get_nets {{qd{b}}}]")
        tcl += ["set out [open power.txt w]",
                "foreach inst [get_cells *] {",
                "  puts $out \"[get_full_name $inst]\\t[sta::instance_power $inst [sta::cmd_corner]]\"",
                "}", "close $out", "report_power", "exit"]
        (work / "power.tcl").write_text("\n".join(tcl) + "\n")
        proc = subprocess.run([exe, "-no_init", "-no_splash", "-exit", "power.tcl"], cwd=work,
                              capture_output=True, text=True)
        if proc.returncode != 0 or not (work / "power.txt").exists():
            raise RuntimeError(f"OpenSTA failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
                               f"{proc.stderr[-2000:]}")
        blocks = {}
        for line in (work / "power.txt").read_text().splitlines():
            inst, _, nums = line.partition("\t")
            name = names[int(inst[1:])]
            internal, switching, leakage = (float(v) for v in nums.split()[:3])
            row = blocks.setdefault(block_of_cell(name, group, top),
                                    {"internal": 0.0, "switching": 0.0, "leakage": 0.0})
            row["internal"] += internal * INTERNAL_SCALE * 1e3
            row["switching"] += switching * 1e3
            row["leakage"] += leakage * 1e3
        return blocks
