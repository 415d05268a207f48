"""Design-space sweep: area, Fmax and workload throughput over a grid of configurations.

``redmule-hdl sweep`` (``main``) evaluates every point of a grid of generator parameters
(``--grid L=4,8,12 H=2,4 P=1,3 contexts=2 misaligned=true beat_format=fp16,fp8``; default: the 12
points of L = 4, 8, 12 x H = 2, 4 x P = 1, 3). For each point (``evaluate``):

* area and timing: ``synth.flow.synthesize`` of the export-mode top (one CE module) in the project's
  library (kGE, FO4) or ``--liberty FILE`` (um^2, ns); the reg->reg critical path gives the minimum
  clock period and Fmax. With the project's library Fmax needs an FO4 delay in ps, ``--fo4-ps``
  (default 99.5 ps, the FO4 delay this project measures on the OSU 0.18 um library);
* cycles: FP16 GEMM jobs of the workload on the Verilator back end (default: the original's 24
  regression shapes, ``sim.bench.load_original``; ``--workload FILE``: lines ``M,N,K``), one job
  per shape, 1-cycle memory, no refused grants, every Z checked bit for bit against ``golden``;
* derived: GFLOPS at Fmax (``2*sum(M*N*K)`` FLOP in ``sum(cycles)`` cycles), GFLOPS per kGE, CE
  utilization ``sum(M*N*K) / (L*H*sum(cycles))``.
* with ``--fpga DEVICE``: the top on an ECP5 (``synth.fpga.implement``, placed and routed out of
  context when it fits): fits, LUT %, Fmax, GFLOPS of the workload at that Fmax, and an FPGA Pareto
  front (LUT4s against those GFLOPS), cached apart like ``--energy``.

Each point is cached in two parts in ``DIR/cache``: its synthesis (``synth-<key>.json``, keyed by
the point, the library's text and the sources of ``redmule_hdl``) and its workload run
(``cycles-<key>.json``, keyed by the point, the workload and the sources), so a re-run computes only
what changed: a new workload runs no synthesis, a new library or ``--fo4-ps`` no workload. Points run
in parallel on local processes (``--jobs``, default the number of cores) or, with ``--scheduler
ADDRESS``, as one task each on a Dask distributed cluster (results gathered back to this process). Outputs: ``DIR/sweep.md`` (table), ``DIR/sweep.json`` and
``DIR/sweep.png`` (throughput against area, Pareto front marked).
"""
import argparse
import dataclasses
import hashlib
import itertools
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from redmule_hdl.config import Config
from redmule_hdl.config_args import file_path, output_dir
# FO4 delay (ps) that turns FO4 periods of the project's library into a clock: the OSU 0.18 um
# library's FO4 as ``synth.liberty.Library.fo4_delay`` measures it (kept with the node's other figures).
from redmule_hdl.synth.power import DEFAULT_FO4_PS

__all__ = ["DEFAULT_GRID", "DEFAULT_FO4_PS", "parse_grid", "points", "load_workload", "evaluate",
           "evaluate_parts", "synthesize_point", "run_workload", "combine", "run_sweep", "pareto_front",
           "markdown", "chart", "main", "fpga_point", "fpga_columns", "fpga_pareto_front"]

#: Default grid: 12 configurations.
DEFAULT_GRID = {"L": [4, 8, 12], "H": [2, 4], "P": [1, 3]}
_PARAMS = tuple(field.name for field in dataclasses.fields(Config))


def _value(name, text):
    default = getattr(Config, name)
    kind = type(default)
    if kind is str:
        return text          # Config checks it
    if kind is bool or default is None:     # None: a bool left to the generator (fast_fma)
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        if default is None and text.lower() in ("auto", "none"):
            return None
        raise ValueError(f"--grid: {name} takes true or false{' or auto' if default is None else ''}, "
                         f"not {text!r}")
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--grid: {name} takes integers, not {text!r}") from None


def parse_grid(items):
    """``["L=4,8", "H=2"]`` -> ``{"L": [4, 8], "H": [2]}`` (defaults for names not given)."""
    grid = {k: list(v) for k, v in DEFAULT_GRID.items()}
    for item in items or ():
        name, sep, values = item.partition("=")
        if not sep or name not in _PARAMS or not values:
            raise ValueError(f"--grid: entries are NAME=V1,V2,... with NAME one of {', '.join(_PARAMS)}; "
                             f"not {item!r}")
        grid[name] = [_value(name, v) for v in values.split(",")]
    return grid


def points(grid):
    """Every combination of the grid as a dict of ``Config`` arguments (invalid ones raise)."""
    names = list(grid)
    out = []
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values))
        Config(**params)          # refuses an invalid point with a ValueError naming the parameter
        out.append(params)
    return out


def load_workload(path=None):
    """``[(M, N, K), ...]``: the original's 24 regression shapes, or the lines ``M,N,K`` of ``path``
    (``#`` comments and blank lines ignored)."""
    if path is None:
        from redmule_hdl.sim.bench import load_original
        return [(M, N, K) for M, N, K, _ in load_original()]
    shapes = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        try:
            M, N, K = (int(v) for v in line.replace("x", ",").split(","))
        except ValueError:
            raise ValueError(f"{path}:{n}: expected M,N,K, not {line!r}") from None
        if min(M, N, K) < 1:
            raise ValueError(f"{path}:{n}: M, N and K must be >= 1")
        shapes.append((M, N, K))
    if not shapes:
        raise ValueError(f"{path}: no M,N,K lines")
    return shapes


def _sources_digest():
    import redmule_hdl
    h = hashlib.sha256()
    root = Path(redmule_hdl.__file__).resolve().parent
    for base in (root, root.parent / "sim", root.parent / "synth"):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            h.update(str(path.relative_to(base.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(part, params, inputs, sources):
    """Name of a cached ``part`` ("synth" or "cycles") of a point: a hash of the point, the part's
    own inputs (the library's text, or the workload) and the sources."""
    h = hashlib.sha256(json.dumps([part, sorted(params.items()), inputs, sources], sort_keys=True).encode())
    return f"{part}-{h.hexdigest()[:24]}"


def synthesize_point(params, liberty=None):
    """Area and reg->reg clock of one point's top (the ``synth`` flow); a dict."""
    from redmule_hdl.synth import blocks
    from redmule_hdl.synth.flow import synthesize

    t0 = time.monotonic()
    top, design, group = blocks.design(Config(**params), "top")
    rep = synthesize(None, top, liberty=liberty, group=group, design=design)
    crit = rep.timing.critical
    return {"kge": rep.kge(rep.total_area()), "cells": rep.area.cells, "ffs": rep.area.ffs,
            "area": rep.total_area(), "area_unit": "GE" if rep.reference else "library",
            "period_fo4": rep.fo4s(crit.delay),
            "period_ns": None if rep.reference else crit.delay,     # the library's own ns
            "critical_path": {"start": crit.start, "end": crit.end, "depth": crit.depth},
            "library": rep.library, "seconds": time.monotonic() - t0}


def run_workload(params, workload):
    """Cycles of the workload's FP16 GEMM jobs on the Verilator back end, each Z checked; a dict."""
    import numpy as np

    from redmule_hdl.sim.run import run_job
    from redmule_hdl.spec import golden

    t0 = time.monotonic()
    config = Config(**params)
    rng = np.random.default_rng(0)
    cycles = macs = 0
    exact = True
    for M, N, K in workload:
        x = golden.from_float(rng.normal(0.0, 1.0, (M, N)))
        w = golden.from_float(rng.normal(0.0, 1.0, (N, K)))
        y = golden.from_float(rng.normal(0.0, 1.0, (M, K)))
        res = run_job(config, "gemm", x, w, y, backend="verilator")
        exact &= bool(res.error == 0 and res.guard_ok and np.array_equal(res.z, golden.gemm_op("gemm", x, w, y)))
        cycles += res.cycles
        macs += M * N * K
    return {"cycles": cycles, "macs": macs, "shapes": len(workload), "bit_exact": exact,
            "seconds": time.monotonic() - t0}


def energy_point(params, shape, liberty=None):
    """Energy of one FP16 GEMM job of ``shape`` on one point (``redmule_hdl.power``): dynamic energy per
    cycle (pJ), leakage (mW), the job's cycles and FLOP; a dict. Priced on the netlist that
    ``power.mapped_netlist`` maps and caches (a synthesis of its own, besides the synth part's)."""
    from redmule_hdl import power
    t0 = time.monotonic()
    r = power.estimate(Config(**params), "gemm", tuple(shape), liberty=liberty, clock_ns=1.0,
                       idle_cycles=0)
    return {"dynamic_pj_per_cycle": r.job.dynamic_pj_per_cycle(), "leakage_mw": r.job.leakage_mw(),
            "job_cycles": r.job_cycles, "job_flop": r.flop, "shape": list(shape),
            "seconds": time.monotonic() - t0}


def energy_columns(energy, fmax_mhz):
    """mW, pJ/FLOP and GFLOPS/W of an ``energy_point`` part at ``fmax_mhz``."""
    dyn_mw = energy["dynamic_pj_per_cycle"] * fmax_mhz * 1e-3
    e_pj = (energy["dynamic_pj_per_cycle"] * energy["job_cycles"]
            + energy["leakage_mw"] * energy["job_cycles"] / fmax_mhz * 1e3)
    return {"mw": dyn_mw + energy["leakage_mw"], "pj_per_flop": e_pj / energy["job_flop"],
            "gflops_per_w": energy["job_flop"] / e_pj * 1e3}


def fpga_point(params, device="85k"):
    """ECP5 figures of one point's top (``synth.fpga.implement``, placed and routed out of context
    when its synthesized counts fit ``device``): whether it fits, LUT4s used and the device's, Fmax
    (None when it does not fit); a dict."""
    from redmule_hdl.synth import blocks
    from redmule_hdl.synth.fpga import implement

    t0 = time.monotonic()
    top, design, group = blocks.design(Config(**params), "top")
    rep = implement(design, top, group, device=device, pnr=True)
    return {"device": device, "fits": bool(rep.fits), "used": rep.used, "available": rep.available,
            "fmax_mhz": rep.fmax_mhz, "seconds": time.monotonic() - t0}


def fpga_columns(fpga, cycles):
    """Fits, LUT % and Fmax of an ``fpga_point`` part, and GFLOPS of the workload's cycles
    (``run_workload``) at that Fmax (None when the point does not fit)."""
    lut_pct = 100.0 * fpga["used"]["LUT4"] / fpga["available"]["LUT4"]
    fmax = fpga["fmax_mhz"] if fpga["fits"] else None
    gflops = None if fmax is None else 2 * cycles["macs"] * fmax / (1000.0 * cycles["cycles"])
    return {"device": fpga["device"], "fits": fpga["fits"], "lut_pct": lut_pct, "luts": fpga["used"]["LUT4"],
            "fmax_mhz": fmax, "gflops": gflops}


def evaluate_parts(params, workload, liberty=None, *, synth=True, cycles=True):
    """``(synth part or None, cycles part or None)`` of one point: the unit of work of a process or
    a Dask task."""
    return (synthesize_point(params, liberty) if synth else None,
            run_workload(params, workload) if cycles else None)


def combine(params, synth, cycles, fo4_ps=DEFAULT_FO4_PS, energy=None, fpga=None):
    """One point's result from its two parts: the derived figures (GFLOPS at Fmax, GFLOPS per kGE,
    utilization); with an ``energy`` part (``energy_point``) also mW, pJ/FLOP and GFLOPS/W at Fmax;
    with an ``fpga`` part (``fpga_point``) the ECP5 columns (``fpga_columns``)."""
    config = Config(**params)
    period_ns = synth["period_ns"] or synth["period_fo4"] * fo4_ps / 1000.0
    fmax_mhz = 1000.0 / period_ns
    flops = 2 * cycles["macs"]
    gflops = flops / (cycles["cycles"] * period_ns)          # FLOP per ns = GFLOPS
    return {
        "params": params, "D": config.D, "kge": synth["kge"], "cells": synth["cells"], "ffs": synth["ffs"],
        "area": synth["area"], "area_unit": synth["area_unit"], "period_fo4": synth["period_fo4"],
        "period_ns": period_ns, "fmax_mhz": fmax_mhz, "critical_path": synth["critical_path"],
        "cycles": cycles["cycles"], "shapes": cycles["shapes"], "flops": flops, "gflops": gflops,
        "gflops_per_kge": gflops / synth["kge"],
        "utilization": cycles["macs"] / (config.L * config.H * cycles["cycles"]),
        "peak_gflops": 2 * config.L * config.H * fmax_mhz / 1000.0, "bit_exact": cycles["bit_exact"],
        "library": synth["library"],
        "seconds": {"synth": synth["seconds"], "cycles": cycles["seconds"]},
        **({"energy": {**energy_columns(energy, fmax_mhz), "shape": energy["shape"]}} if energy else {}),
        **({"fpga": fpga_columns(fpga, cycles)} if fpga else {}),
    }


def evaluate(params, workload, liberty=None, fo4_ps=DEFAULT_FO4_PS):
    """One point, nothing cached: synthesize and time the top, run the workload; returns a dict."""
    return combine(params, *evaluate_parts(params, workload, liberty), fo4_ps)


def _label(params):
    s = f"{params['L']}x{params['H']}x{params['P']}"
    extra = [f"{k}={params[k]}" for k in params if k not in ("L", "H", "P")]
    return s + (f" ({', '.join(extra)})" if extra else "")


def run_sweep(grid_points, workload, out, *, liberty=None, fo4_ps=DEFAULT_FO4_PS, jobs=None,
              scheduler=None, log=print, energy_shape=None, fpga_device=None):
    """Evaluate ``grid_points`` locally or on a Dask cluster; returns the results in grid order. Each
    point's two parts are cached in ``out/cache`` apart: a new workload re-runs no synthesis, a new
    library no workload."""
    out = Path(out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    lib_text = Path(liberty).read_text(errors="replace") if liberty else None
    sources = _sources_digest()
    workload = [tuple(shape) for shape in workload]
    paths, parts = [], []    # per point: {"synth": path, "cycles": path}, the same with the cached dicts
    for params in grid_points:
        paths.append({"synth": cache / f"{cache_key('synth', params, lib_text, sources)}.json",
                      "cycles": cache / f"{cache_key('cycles', params, workload, sources)}.json"})
        parts.append({name: json.loads(path.read_text()) if path.is_file() else None
                      for name, path in paths[-1].items()})
    need = {i: {name: part is None for name, part in p.items()} for i, p in enumerate(parts)
            if None in p.values()}
    log(f"sweep: {len(grid_points)} points, {len(grid_points) - len(need)} cached, {len(need)} to run "
        f"({sum(n['synth'] for n in need.values())} syntheses, "
        f"{sum(n['cycles'] for n in need.values())} workload runs; "
        f"{'Dask scheduler ' + scheduler if scheduler else f'{jobs or os.cpu_count()} local processes'}); "
        f"workload {len(workload)} shapes")
    results = [None if i in need else {**combine(params, parts[i]["synth"], parts[i]["cycles"], fo4_ps),
                                       "cached": True}
               for i, params in enumerate(grid_points)]
    t0 = time.monotonic()
    done = 0

    def finish(i, computed):
        nonlocal done
        done += 1
        for name, value in zip(("synth", "cycles"), computed):
            if value is not None:
                parts[i][name] = value
                paths[i][name].write_text(json.dumps(value, indent=1) + "\n")
        res = results[i] = {**combine(grid_points[i], parts[i]["synth"], parts[i]["cycles"], fo4_ps),
                            "cached": False}
        seconds = sum(value["seconds"] for value in computed if value is not None)
        log(f"  [{done}/{len(need)}] {_label(grid_points[i])}: {res['kge']:.1f} kGE, "
            f"{res['period_fo4']:.1f} FO4 ({res['fmax_mhz']:.0f} MHz), {res['cycles']} cycles, "
            f"{res['gflops']:.2f} GFLOPS, util {100 * res['utilization']:.1f}% ({seconds:.0f} s; "
            f"{time.monotonic() - t0:.0f} s elapsed)")

    if need and scheduler:
        from distributed import Client
        from distributed import as_completed as dask_completed
        with Client(scheduler) as client:
            futures = {client.submit(evaluate_parts, grid_points[i], workload, liberty, **n, pure=False): i
                       for i, n in need.items()}
            for fut in dask_completed(futures):
                finish(futures[fut], fut.result())
    elif need:
        with ProcessPoolExecutor(max_workers=jobs or os.cpu_count()) as pool:
            futures = {pool.submit(evaluate_parts, grid_points[i], workload, liberty, **n): i
                       for i, n in need.items()}
            for fut in as_completed(futures):
                finish(futures[fut], fut.result())
    if energy_shape is not None:
        # The energy part (``energy_point``), cached apart; run here, one point at a time (each one
        # builds a SAIF-tracing harness and maps the netlist once).
        shape = list(energy_shape)
        for i, params in enumerate(grid_points):
            path = cache / f"{cache_key('energy', params, [lib_text, shape], sources)}.json"
            if path.is_file():
                part = json.loads(path.read_text())
            else:
                part = energy_point(params, shape, liberty)
                path.write_text(json.dumps(part, indent=1) + "\n")
                log(f"  energy {_label(params)}: {part['dynamic_pj_per_cycle']:.1f} pJ/cycle "
                    f"({part['seconds']:.0f} s)")
            results[i] = {**combine(params, parts[i]["synth"], parts[i]["cycles"], fo4_ps, part),
                          "cached": results[i]["cached"]}
    if fpga_device is not None:
        # The ECP5 part (``fpga_point``), cached apart; run here, one point at a time (nextpnr is long).
        for i, params in enumerate(grid_points):
            path = cache / f"{cache_key('fpga', params, fpga_device, sources)}.json"
            if path.is_file():
                part = json.loads(path.read_text())
            else:
                part = fpga_point(params, fpga_device)
                path.write_text(json.dumps(part, indent=1) + "\n")
                fmax = f"{part['fmax_mhz']:.1f} MHz" if part["fits"] else "does not fit"
                log(f"  ECP5-{fpga_device} {_label(params)}: {part['used']['LUT4']} LUT4, {fmax} "
                    f"({part['seconds']:.0f} s)")
            results[i] = {**results[i], "fpga": fpga_columns(part, parts[i]["cycles"])}
    return results


def energy_pareto_front(results):
    """Indices of the points no other point beats in pJ/FLOP (lower) and in both area (lower) and
    GFLOPS (higher); points without energy figures are left out."""
    pts = [(i, r) for i, r in enumerate(results) if r.get("energy")]

    def beats(o, r):
        a = (o["energy"]["pj_per_flop"], o["kge"], -o["gflops"])
        b = (r["energy"]["pj_per_flop"], r["kge"], -r["gflops"])
        return all(x <= y for x, y in zip(a, b)) and a != b
    return [i for i, r in pts if not any(beats(o, r) for _, o in pts)]


def fpga_pareto_front(results):
    """Indices of the points that fit the FPGA and that no other fitting point beats in both LUT4s
    (lower) and GFLOPS at the FPGA's Fmax (higher)."""
    pts = [(i, r["fpga"]) for i, r in enumerate(results) if r.get("fpga") and r["fpga"]["fits"]]

    def beats(o, f):
        return (o["luts"] <= f["luts"] and o["gflops"] >= f["gflops"]
                and (o["luts"] < f["luts"] or o["gflops"] > f["gflops"]))
    return [i for i, f in pts if not any(beats(o, f) for _, o in pts)]


def pareto_front(results):
    """Indices of the points no other point beats in both area (lower) and GFLOPS (higher)."""
    front = []
    for i, r in enumerate(results):
        if not any((o["kge"] <= r["kge"] and o["gflops"] >= r["gflops"]) and
                   (o["kge"] < r["kge"] or o["gflops"] > r["gflops"]) for o in results):
            front.append(i)
    return front


def markdown(results, workload, *, fo4_ps, library):
    front = set(pareto_front(results))
    ref = results and results[0]["area_unit"] == "GE"
    energy = bool(results) and all(r.get("energy") for r in results)
    efront = set(energy_pareto_front(results)) if energy else set()
    fpga = bool(results) and all(r.get("fpga") for r in results)
    ffront = set(fpga_pareto_front(results)) if fpga else set()
    lines = [f"Workload: {len(workload)} FP16 GEMM shapes, {sum(M * N * K for M, N, K in workload):,} "
             f"MACs; library {library}" + (f", FO4 = {fo4_ps} ps" if ref else "") + ".",
             "",
             "| L x H x P | D | kGE | FFs | period (FO4) | Fmax (MHz) | cycles | GFLOPS | GFLOPS/kGE "
             "| util | peak GFLOPS | Pareto |" + (" mW | pJ/FLOP | GFLOPS/W | energy Pareto |" if energy else "")
             + (" ECP5 fits | LUT % | ECP5 Fmax (MHz) | ECP5 GFLOPS | FPGA Pareto |" if fpga else ""),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|" + ("---:|---:|---:|:---:|" if energy else "")
             + (":---:|---:|---:|---:|:---:|" if fpga else "")]
    if energy:
        M, N, K = results[0]["energy"]["shape"]
        lines.insert(1, f"Energy columns: one FP16 GEMM {M}x{N}x{K} job per point at its Fmax "
                        f"(redmule-hdl power; node of the project's library unless --liberty).")
    if fpga:
        lines.insert(1, f"ECP5 columns: the top on an ECP5-{results[0]['fpga']['device']} (redmule-hdl fpga: "
                        f"synth_ecp5, nextpnr-ecp5 out of context), GFLOPS of the workload at that Fmax.")
    for i, r in enumerate(results):
        line = (f"| {_label(r['params'])} | {r['D']} | {r['kge']:.1f} | {r['ffs']} | {r['period_fo4']:.1f} "
                f"| {r['fmax_mhz']:.0f} | {r['cycles']} | {r['gflops']:.2f} | {r['gflops_per_kge']:.4f} "
                f"| {100 * r['utilization']:.1f}% | {r['peak_gflops']:.1f} | {'*' if i in front else ''} |")
        if energy:
            e = r["energy"]
            line += (f" {e['mw']:.1f} | {e['pj_per_flop']:.2f} | {e['gflops_per_w']:.2f} "
                     f"| {'*' if i in efront else ''} |")
        if fpga:
            f = r["fpga"]
            line += (f" {'yes' if f['fits'] else 'no'} | {f['lut_pct']:.1f} | "
                     + (f"{f['fmax_mhz']:.1f} | {f['gflops']:.2f}" if f["fits"] else "- | -")
                     + f" | {'*' if i in ffront else ''} |")
        lines.append(line)
    return "\n".join(lines) + "\n"


def chart(path, results, *, title="GFLOPS vs area"):
    """Scatter of GFLOPS against kGE, Pareto front joined and marked in red, points labelled."""
    import numpy as np

    from redmule_hdl.sim.chart import Canvas
    W, Hh = 900, 560
    c = Canvas(W, Hh)
    x0, y0, x1, y1 = 90, 60, W - 40, Hh - 70
    xs = [r["kge"] for r in results]
    ys = [r["gflops"] for r in results]
    xmax = max(xs) * 1.1 if xs else 1.0
    ymax = max(ys) * 1.15 if ys else 1.0
    axis, grid = (60, 60, 60), (225, 225, 225)

    def px(v):
        return x0 + (x1 - x0) * v / xmax

    def py(v):
        return y1 - (y1 - y0) * v / ymax

    for k in range(6):
        tx, ty = xmax * k / 5, ymax * k / 5
        c.rect(px(tx), y0, px(tx) + 1, y1, grid)
        c.rect(x0, py(ty), x1, py(ty) + 1, grid)
        c.text(px(tx), y1 + 6, f"{tx:.0f}", axis, anchor="center")
        c.text(x0 - 6, py(ty) - 3, f"{ty:.1f}", axis, anchor="right")
    c.rect(x0, y0, x0 + 1, y1 + 1, axis)
    c.rect(x0, y1, x1, y1 + 1, axis)
    c.text((x0 + x1) / 2, Hh - 30, "AREA (KGE)", axis, anchor="center")
    c.text(30, (y0 + y1) / 2 + 40, "GFLOPS", axis, vertical=True)
    c.text(x0, 20, title.upper(), (0, 0, 0), scale=2)
    front = sorted(pareto_front(results), key=lambda i: xs[i])
    red, blue = (200, 40, 40), (60, 90, 170)
    for a, b in zip(front, front[1:]):           # join the front with a line of dots
        for t in np.linspace(0.0, 1.0, 80):
            X = px(xs[a] + (xs[b] - xs[a]) * t)
            Y = py(ys[a] + (ys[b] - ys[a]) * t)
            c.rect(X - 1, Y - 1, X + 1, Y + 1, red)
    for i, r in enumerate(results):
        X, Y = px(xs[i]), py(ys[i])
        color = red if i in front else blue
        size = 5 if i in front else 3
        c.rect(X - size, Y - size, X + size + 1, Y + size + 1, color)
        c.text(X + 8, Y - 10, _label(r["params"]).split(" ")[0], axis)
    c.rect(x1 - 190, y0 - 42, x1 - 180, y0 - 32, red)
    c.text(x1 - 176, y0 - 41, "PARETO FRONT", axis)
    c.rect(x1 - 190, y0 - 26, x1 - 180, y0 - 16, blue)
    c.text(x1 - 176, y0 - 25, "OTHER POINTS", axis)
    c.save(path)


def write_outputs(out, results, workload, *, fo4_ps, library):
    out = Path(out)
    (out / "sweep.md").write_text(markdown(results, workload, fo4_ps=fo4_ps, library=library))
    front = pareto_front(results)
    (out / "sweep.json").write_text(json.dumps({
        "workload": [list(s) for s in workload], "fo4_ps": fo4_ps, "library": library,
        "pareto_front": front, "points": results}, indent=1) + "\n")
    chart(out / "sweep.png", results)


def _positive_float(text):
    """argparse ``type``: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text}")
    return value


def _positive_int(text):
    """argparse ``type``: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _shape(text):
    from redmule_hdl.config_args import parse_shapes
    shapes = parse_shapes(text)
    if len(shapes) != 1:
        raise argparse.ArgumentTypeError(f"one shape MxNxK, not {text!r}")
    return shapes[0]


def add_arguments(p):
    p.add_argument("--grid", nargs="+", metavar="NAME=V1,V2", default=None,
                   help=f"grid values per parameter ({', '.join(_PARAMS)}); "
                        "default L=4,8,12 H=2,4 P=1,3")
    p.add_argument("--workload", type=Path, metavar="FILE",
                   help="lines M,N,K (default: the original's 24 regression shapes)")
    p.add_argument("--liberty", type=file_path, metavar="FILE", help="a real liberty library")
    p.add_argument("--fo4-ps", type=_positive_float, default=DEFAULT_FO4_PS,
                   help=f"FO4 delay in ps for the project's library (default {DEFAULT_FO4_PS})")
    p.add_argument("--energy", type=_shape, default=None, metavar="MxNxK",
                   help="add mW, pJ/FLOP and GFLOPS/W at Fmax of one FP16 GEMM job of this shape per "
                        "point (redmule-hdl power) and an energy Pareto column")
    p.add_argument("--fpga", choices=("25k", "45k", "85k"), default=None, metavar="DEVICE",
                   help="add ECP5 columns per point (redmule-hdl fpga on this device, 25k, 45k or 85k: "
                        "fits, LUT %%, Fmax, GFLOPS at that Fmax) and an FPGA Pareto column")
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help="local processes, >= 1 (default: the cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the points on this Dask distributed scheduler (tcp://host:8786)")
    p.add_argument("-o", "--output", type=output_dir, default=Path("redmule-sweep"), metavar="DIR")


def main(argv=None, args=None):
    if args is None:
        p = argparse.ArgumentParser(prog="redmule-hdl sweep", description=__doc__.split("\n\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    pts = getattr(args, "points", None) or points(parse_grid(args.grid))
    workload = getattr(args, "workload_shapes", None) or load_workload(args.workload)
    args.output.mkdir(parents=True, exist_ok=True)
    results = run_sweep(pts, workload, args.output, liberty=args.liberty, fo4_ps=args.fo4_ps,
                        jobs=args.jobs, scheduler=args.scheduler,
                        energy_shape=getattr(args, "energy", None),
                        fpga_device=getattr(args, "fpga", None))
    library = results[0]["library"] if results else ""
    write_outputs(args.output, results, workload, fo4_ps=args.fo4_ps, library=library)
    print(markdown(results, workload, fo4_ps=args.fo4_ps, library=library))
    print(f"wrote {args.output / 'sweep.md'}, {args.output / 'sweep.json'}, {args.output / 'sweep.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
