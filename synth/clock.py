"""The clock of the FMA and the computing element for each pipeline depth P, measured two ways.

* the project's own timing: ``synth.flow.synthesize`` in the project's library (FO4);
* OpenSTA on a real library: the design mapped with Yosys and ABC to a liberty file (``--liberty``,
  e.g. Debian ``qflow-tech-osu018``'s ``osu018_stdcells.lib``), written as Verilog and timed by
  ``sta`` (Debian ``opensta``) with one ideal clock, inputs arriving at the clock edge and outputs
  required at the next one.

The block is measured with a register on each of its ports (``Registered``; in the engine the
FMA's ports are registers of the CE, the CE's are registers of the engine), so every path is
reg->reg and the figure is the minimum clock period: clock-to-Q, logic and setup.

    python -m redmule_hdl.synth.clock --block fma -P 0-8 --liberty /usr/share/qflow/tech/osu018/osu018_stdcells.lib

prints one row per P and writes nothing; ``--json FILE`` keeps the rows.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from .flow import _constr, load_library, synthesize
from .yosys import rtlil_design, run_script

__all__ = ["Registered", "block_component", "fo4_period", "sta_period", "main"]

_STA_SCRIPT = """\
read_liberty {lib}
read_verilog netlist.v
link_design {top}
create_clock -name clk -period 1000 [get_ports clk]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]
set_output_delay 0 -clock clk [all_outputs]
report_checks -path_delay max -digits 4 -fields {{slew cap}}
"""


class Registered(wiring.Component):
    """``inner`` with a register on every input and output port: all its paths become reg->reg."""

    def __init__(self, inner):
        self.inner = inner
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        for path, member, outer in self.signature.flatten(self):
            inner_value = self.inner
            for part in path:
                inner_value = getattr(inner_value, part)
            name = "_".join(str(part) for part in path)
            r = Signal.like(outer, name=f"{name}_port_r")
            if member.flow == wiring.In:
                m.d.sync += r.eq(outer)
                m.d.comb += inner_value.eq(r)
            else:
                m.d.sync += r.eq(inner_value)
                m.d.comb += outer.eq(r)
        return m


def block_component(block, P):
    """The block (``fma`` or ``ce``) at pipeline depth ``P`` with registered ports."""
    if block == "fma":
        from redmule_hdl.arith.fma import FMA
        return Registered(FMA(pipeline=P))
    if block == "ce":
        from redmule_hdl.engine.ce import ComputeElement
        return Registered(ComputeElement(P))
    raise ValueError(f"block must be fma or ce, not {block!r}")


def fo4_period(block, P, liberty=None):
    """(minimum clock period in FO4, report) of ``block`` at ``P`` in the project's flow."""
    rep = synthesize(block_component(block, P), block, liberty=liberty)
    return rep.fo4s(rep.timing.critical.delay), rep


def sta_period(block, P, liberty, workdir=None):
    """Minimum clock period (ns for osu018) of ``block`` at ``P`` mapped to ``liberty`` with Yosys
    and ABC and timed by OpenSTA (``sta``)."""
    sta = shutil.which("sta")
    if sta is None:
        raise RuntimeError("OpenSTA (sta) is not installed (Debian: apt-get install opensta)")
    lib, text, _ = load_library(liberty)
    design = rtlil_design(block_component(block, P), block)
    constr = _constr(lib)
    abc = "abc -liberty cells.lib" + (" -constr abc.constr" if constr else "")
    with tempfile.TemporaryDirectory(prefix="redmule-sta-") as tmp:
        path = Path(workdir or tmp)
        path.mkdir(parents=True, exist_ok=True)
        run_script(design, block, [f"synth -flatten -top {block}", "dfflibmap -liberty cells.lib", abc,
                                   "setundef -zero", "splitnets -ports", "opt_clean -purge",
                                   "write_verilog -noattr -noexpr netlist.v"],
                   liberty_text_=text, workdir=path, files={"abc.constr": constr} if constr else None)
        (path / "sta.tcl").write_text(_STA_SCRIPT.format(lib=Path(liberty).resolve(), top=block))
        proc = subprocess.run([sta, "-no_init", "-no_splash", "-exit", "sta.tcl"], cwd=path,
                              capture_output=True, text=True)
        (path / "sta.log").write_text(proc.stdout + proc.stderr)
    m = re.search(r"^\s*(-?[\d.]+)\s+slack", proc.stdout, re.M)
    if proc.returncode != 0 or m is None:
        raise RuntimeError(f"sta failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return 1000.0 - float(m.group(1))


def _ps(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m redmule_hdl.synth.clock", description=__doc__.split("\n")[0])
    p.add_argument("--block", default="fma", choices=("fma", "ce"))
    p.add_argument("-P", default="0-8", type=_ps, help="pipeline depths, e.g. 0-8 or 3,4,6")
    p.add_argument("--liberty", type=Path, help="also time with OpenSTA on this liberty file")
    p.add_argument("--json", type=Path, help="write the rows to this file")
    args = p.parse_args(argv)
    rows = []
    print(f"{'P':>2}  {'FO4':>6}  {'x P=3':>6}" + (f"  {'sta ns':>7}  {'x P=3':>6}" if args.liberty else ""),
          flush=True)
    for P in args.P:
        fo4, rep = fo4_period(args.block, P)
        row = {"P": P, "block": args.block, "fo4": fo4, "kge": rep.kge(rep.total_area()),
               "path": f"{rep.timing.critical.start} -> {rep.timing.critical.end}"}
        if args.liberty:
            row["sta_ns"] = sta_period(args.block, P, args.liberty)
        rows.append(row)
        ref = next((r for r in rows if r["P"] == 3), None)
        line = f"{P:>2}  {row['fo4']:>6.1f}  {row['fo4'] / ref['fo4'] if ref else float('nan'):>6.2f}"
        if args.liberty:
            line += f"  {row['sta_ns']:>7.3f}  {row['sta_ns'] / ref['sta_ns'] if ref else float('nan'):>6.2f}"
        print(line + f"  {row['kge']:6.2f} kGE  {row['path']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
