"""Building the harness executable of a configuration: Verilog + ``harness.cpp`` + the register
header, verilated and compiled, cached.

``build(config, ...)`` returns a ``BuildInfo`` whose ``path`` is the executable. The build directory
receives the Verilog (``sim.verilator.flows``), ``harness.cpp`` and ``redmule.h``, the C header
``redmule-hdl generate`` writes (``redmule_hdl.spec.render.c_header``: register offsets, the port
width), which the harness includes. Builds are keyed by a hash of the Verilog, the harness source, the
header, the Verilator version, the build flags and the fast-edge choice; a second build of the same key
costs a hash, and in one process not even that.
"""
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from redmule_hdl.config import Config
from redmule_hdl.system.top import TOP_NAME

from .cache import BuildCache, digest
from .flows import check_flow, verilog
from .toolchain import find_verilator

__all__ = ["BuildInfo", "build", "HARNESS", "HEADER_NAME", "TRACE_KINDS"]

HARNESS = Path(__file__).parent / "harness.cpp"
HEADER_NAME = "redmule.h"
# Verilator options: optimized, X values resolved at build time, no tracing.
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--no-timing",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT")
# C++ optimization of the generated model and the run-time library (-O3 measured about 1.3x faster
# than -O2 on 12x4x3; -march=native, profile-guided optimization and --threads 2 gained nothing
# measurable on the 2-core machines and are left out).
OPT_FLAGS = ("OPT_FAST=-O3", "OPT_SLOW=-O1", "OPT_GLOBAL=-O3")
#: Trace kinds (a model writes one of them): kind -> (Verilator flag, REDMULE_TRACE value in the
#: harness). Signals up to 4096 bits wide are traced (Verilator's default stops at 256: the ports of
#: the larger configurations are wider).
TRACE_KINDS = {"fst": ("--trace-fst", 1), "vcd": ("--trace-vcd", 2), "saif": ("--trace-saif", 3)}
TRACE_FLAGS = ("--trace-max-width", "4096")


@dataclass(frozen=True)
class BuildInfo:
    """What ``build`` did: ``path`` of the executable, ``cached`` (no build needed), ``seconds``
    spent, and what was built: the Verilog ``flow`` and whether the fast clock edge is compiled in."""
    path: Path
    cached: bool
    seconds: float
    flow: str
    fast_edge: bool
    trace: str = None   # the trace kind the harness writes (see TRACE_KINDS), or None


_built = {}   # (config, flow, cache root, fast_edge, verilator) -> build key, per process


def build(config, *, flow=None, cache_dir=None, fast_edge=None, trace=None, jobs=None, verbose=False):
    """Build (or find in the cache) the harness executable of ``RedMulE(config)``; a ``BuildInfo``.

    flow:      how the Verilog is made, see ``sim.verilator.FLOWS`` (default "sim").
    cache_dir: the cache directory (default ``sim.verilator.default_cache_dir()``).
    fast_edge: compile in the harness's fast clock edge (see ``sim.verilator.toolchain``): None
               (default) where checked for the Verilator version, False never, True always (raises
               ``ValueError`` if the version was not checked).
    trace:     None (default), or "fst", "vcd" or "saif": the harness writes that trace file when
               given one (``Harness(trace=...)``); each kind is a build of its own.
    jobs:      parallel compile jobs (default: the CPU count); ``verbose``: show Verilator's output.
    """
    if not isinstance(config, Config):
        raise TypeError(f"config must be a Config, not {config!r}")
    flow = check_flow(flow)
    if trace is not None and trace not in TRACE_KINDS:
        raise ValueError(f"trace must be None or one of {', '.join(map(repr, TRACE_KINDS))}, not {trace!r}")
    cache = BuildCache(cache_dir)
    tools = find_verilator()
    if fast_edge is None:
        fast_edge = tools.fast_edge_checked
    elif fast_edge and not tools.fast_edge_checked:
        raise ValueError(f"the fast clock edge was not checked against {tools.version}; "
                         f"use fast_edge=None or False")
    fast_edge = bool(fast_edge)
    memo = (config, flow, str(cache.root), fast_edge, trace, tools.command, tools.version)
    key = _built.get(memo)
    if key is not None and cache.touch(key):   # (False: another process has evicted it since)
        return BuildInfo(cache.build_dir(key) / "Vharness", True, 0.0, flow, fast_edge, trace)
    t0 = time.monotonic()
    from redmule_hdl.spec.render import c_header
    text = verilog(config, flow, cache)
    header = c_header(config)
    harness = HARNESS.read_bytes()
    defines = ("-DREDMULE_FAST_EDGE",) if fast_edge else ()
    flags = VERILATOR_FLAGS
    if trace is not None:
        flag, value = TRACE_KINDS[trace]
        defines += (f"-DREDMULE_TRACE={value}",)
        flags += (flag, *TRACE_FLAGS)
    key = digest(text, harness, header, tools.version,
                 " ".join(flags + OPT_FLAGS + tools.makeflags + defines))
    exe = cache.build_dir(key) / "Vharness"
    cached = True
    if not exe.exists():
        with cache.building(key) as work:
            if work is not None:
                cached = False
                _verilate(config, text, header, work, tools, flags, defines, jobs, verbose)
    cache.touch(key)
    _built[memo] = key
    return BuildInfo(exe, cached, time.monotonic() - t0, flow, fast_edge, trace)


def _verilate(config, text, header, work, tools, flags, defines, jobs, verbose):
    """Verilate and compile in ``work``; the executable, Verilog and configuration go to
    ``work/final``."""
    (work / f"{TOP_NAME}.v").write_text(text)
    (work / HEADER_NAME).write_text(header)
    shutil.copy(HARNESS, work / "harness.cpp")
    jobs = jobs or os.cpu_count() or 1
    cmd = [
        *tools.command,
        "--cc", "--exe", "--build", "-j", str(jobs), *flags,
        "--top-module", TOP_NAME, "--Mdir", str(work / "obj"), "-o", "Vharness",
        "-CFLAGS", " ".join([f"-I{work}", *defines]),
        "-MAKEFLAGS", " ".join(tools.makeflags + OPT_FLAGS),
        str(work / f"{TOP_NAME}.v"), str(work / "harness.cpp"),
    ]
    proc = subprocess.run(cmd, cwd=work, env=tools.env, stdout=None if verbose else subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        if "lz4.h" in (proc.stdout or ""):
            raise RuntimeError("Verilator's FST writer needs the LZ4 library's C headers, which are not "
                               "installed (Debian: apt-get install liblz4-dev); or write a .vcd or "
                               ".saif trace instead")
        tail = "\n".join((proc.stdout or "").splitlines()[-40:])
        raise RuntimeError(f"Verilator build of RedMulE {config} failed (exit {proc.returncode}):\n"
                           f"{tail}")
    final = work / "final"
    final.mkdir()
    shutil.copy(work / "obj" / "Vharness", final / "Vharness")
    (final / f"{TOP_NAME}.v").write_text(text)
    (final / HEADER_NAME).write_text(header)
    (final / "config.txt").write_text(f"{config!r}\n")
