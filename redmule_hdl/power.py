"""``redmule-hdl power``: energy of a workload on a configuration, per block and in total.

``estimate(config, ...)`` (and the CLI's ``main``):

1. maps the export-mode top with ``synth.flow.synthesize`` (the project's library, or ``liberty``) and
   keeps the flattened netlist and the reg->reg critical path (cached by configuration, library text
   and the sources of ``redmule_hdl`` in ``$XDG_CACHE_HOME/redmule-hdl/power``);
2. runs the job (or a runtime workload: one MLP training step) on the Verilator back end twice: once
   to learn its trigger and evt cycles, once more writing a SAIF file of exactly the job's cycles
   (``sim.trace``: trigger .. evt); then ``idle_cycles`` cycles of the engine idle (clock running,
   no job since reset) and as many of a soft-cleared wait (the job cleared half-way) into two more
   SAIFs. The memory holds its last response on ``r_data`` between responses (a TCDM bank with an
   output register) unless ``hold_r_data=False``;
3. prices the activities on the netlist (``synth.power.analyze_power``: register and port toggles from
   the RTL run, probabilistic propagation into the logic ABC made) at the clock the critical path allows
   (``clock_ns`` overrides; the project's library converts FO4 with ``fo4_ps``).

Figures: dynamic and leakage power per block and in total (mW), energy per job (nJ), pJ per FLOP
(2 FLOP per multiply-accumulated element: ``2 M N K``), GFLOPS/W, and the same power for idle and
for the soft-cleared wait.
"""
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redmule_hdl.config import Config

__all__ = ["PowerResult", "estimate", "mapped_netlist", "job_activity", "idle_activity", "soft_clear_activity",
           "traced_session", "mlp_step_activity", "MLP_WORKLOADS", "format_report",
           "DEFAULT_SHAPE", "add_arguments", "main", "block_netlist", "fma_netlist", "ce_netlist", "propagation_error",
           "fma_propagation_error", "ce_propagation_error", "chart"]

DEFAULT_SHAPE = (96, 96, 96)


@dataclass
class PowerResult:
    config: Config
    workload: str               # what ran, e.g. "gemm 96x96x96 fp16"
    flop: int                   # its useful FLOP (2 per multiply-accumulated element)
    clock_mhz: float
    clock_source: str
    job_cycles: int
    job: object                 # synth.power.PowerReport of the job's cycles
    idle: object                # PowerReport of idle cycles after reset, no job (or None)
    cleared: object             # PowerReport of a soft-cleared wait (or None)
    library: str
    node_note: str
    seconds: dict

    def energy_pj(self):
        """Energy of the job (pJ): dynamic per cycle times cycles, plus leakage over its time."""
        t_us = self.job_cycles / self.clock_mhz
        return self.job.dynamic_pj_per_cycle() * self.job_cycles + self.job.leakage_mw() * t_us * 1e3

    def as_dict(self):
        def rows(rep):
            return {b: {"dynamic_mw": rep.dynamic_pj_per_cycle(b) * self.clock_mhz * 1e-3,
                        "internal_mw": r["internal"] * self.clock_mhz * 1e-3,
                        "switching_mw": r["switching"] * self.clock_mhz * 1e-3,
                        "leakage_mw": r["leakage_mw"],
                        "flip_flop_clock_mw": rep.flip_flop_clock.get(b, 0.0) * self.clock_mhz * 1e-3,
                        "clock_net_mw": rep.clock_net.get(b, 0.0) * self.clock_mhz * 1e-3}
                    for b, r in rep.blocks.items()}
        e = self.energy_pj()
        out = {"config": repr(self.config), "workload": self.workload, "flop": self.flop,
               "library": self.library, "node": self.node_note, "clock_mhz": self.clock_mhz,
               "clock_source": self.clock_source, "job_cycles": self.job_cycles,
               "power_mw": self.job.power_mw(self.clock_mhz), "energy_nj": e * 1e-3,
               "pj_per_flop": e / self.flop, "gflops_per_w": self.flop / e * 1e3,
               "nets": {"measured": self.job.nets_measured, "estimated": self.job.nets_estimated,
                        "no_activity": self.job.nets_constant},
               "blocks": rows(self.job), "seconds": self.seconds}
        if self.idle is not None:
            out["idle_power_mw"] = self.idle.power_mw(self.clock_mhz)
            out["idle_blocks"] = rows(self.idle)
        if self.cleared is not None:
            out["soft_clear_power_mw"] = self.cleared.power_mw(self.clock_mhz)
            out["soft_clear_blocks"] = rows(self.cleared)
        return out


#: What the mapped netlist depends on: the hardware's sources and the synthesis flow's (not the tooling
#: around them, so editing this file or the CLI keeps the cache).
_NETLIST_SOURCES = ("spec", "arith", "engine", "system", "config.py", "interfaces.py", "export.py")


def _sources_digest():
    import redmule_hdl
    import redmule_hdl.synth
    h = hashlib.sha256()
    pkg = Path(redmule_hdl.__file__).resolve().parent
    paths = [p for name in _NETLIST_SOURCES for p in sorted((pkg / name).rglob("*.py"))
             if (pkg / name).is_dir()] + [pkg / n for n in _NETLIST_SOURCES if n.endswith(".py")]
    synth = Path(redmule_hdl.synth.__file__).resolve().parent
    paths += [synth / n for n in ("flow.py", "yosys.py", "cells.py", "liberty.py", "blocks.py", "timing.py")]
    for path in paths:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def mapped_netlist(config, liberty=None, cache_dir=None):
    """``(netlist dict, info)`` of ``RedMulE(config)`` mapped by ``synth.flow.synthesize``; ``info``:
    ``{"reference", "period", "fo4", "library"}`` (period of the reg->reg critical path in FO4 for the
    project's library, in ns for a liberty). Cached (see the module docstring)."""
    from redmule_hdl.sim.verilator import default_cache_dir
    from redmule_hdl.synth import blocks
    from redmule_hdl.synth.flow import load_library, synthesize
    _, lib_text, _ = load_library(liberty)
    key = hashlib.sha256(f"{config!r}|{lib_text}|{_sources_digest()}".encode()).hexdigest()[:24]
    root = Path(cache_dir) if cache_dir else default_cache_dir() / "power"
    path = root / f"netlist-{key}.json"
    if path.exists():
        data = json.loads(path.read_text())
        return data["netlist"], data["info"]
    top, design, group = blocks.design(config, "top")
    with tempfile.TemporaryDirectory(prefix="redmule-power.") as work:
        rep = synthesize(None, top, liberty=liberty, group=group, workdir=work, design=design)
        netlist = json.loads(Path(work, "netlist.json").read_text())
    crit = rep.timing.critical
    info = {"reference": rep.reference, "period": crit.delay if crit else None, "fo4": rep.fo4,
            "library": rep.library, "kge": rep.kge(rep.area.area)}
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}")
    tmp.write_text(json.dumps({"netlist": netlist, "info": info}))
    os.replace(tmp, path)
    return netlist, info


def _operands(shape, in_fmt, op, zeros, seed):
    from redmule_hdl.spec import golden
    from redmule_hdl.spec.formats import format_by_name
    from redmule_hdl.spec.ops import GemmOp
    M, N, K = shape
    f = format_by_name(in_fmt)
    rng = np.random.default_rng(seed)

    def mat(s):
        if zeros:
            return np.zeros(s, dtype=np.uint8 if f.width == 8 else np.uint16)
        return golden.from_float(rng.normal(0.0, 1.0, size=s), f)
    x, w = mat((M, N)), mat((N, K))
    y = mat((M, K)) if GemmOp.parse(op).uses_y else None
    return x, w, y


def _activity(path):
    from redmule_hdl.sim.trace import PERIOD_PS, read_saif
    _, act = read_saif(path)
    return {k: (tc, t1 / PERIOD_PS) for k, (tc, t1) in act.items()}


def _job_layout(config, x, w, y, op, in_fmt, out_fmt):
    """``(mem_size, regs, places, z_addr)``: the job's operands placed one after the other, each at a
    port-aligned address; ``places`` is ``[(addr, bits), ...]``."""
    from redmule_hdl.spec.formats import format_by_name
    from redmule_hdl.spec.jobs import job_registers
    align = config.port_width // 8
    fin = format_by_name(in_fmt)
    fout = format_by_name(out_fmt or in_fmt)
    (M, N), K = x.shape, w.shape[1]
    addr, places = 0, []
    for bits in (x, w):
        places.append((addr, bits))
        addr += -(-bits.size * fin.bytes // align) * align
    z_addr = addr
    if y is not None:
        places.append((z_addr, y))
    addr += -(-M * K * max(fin.bytes, fout.bytes) // align) * align
    regs = job_registers(x_addr=0, w_addr=places[1][0], z_addr=z_addr, m=M, n=N, k=K, op=op,
                         in_fmt=in_fmt, out_fmt=out_fmt)
    return addr, regs, places, z_addr


def _twice(run):
    """Run ``run(saif=None, window=None) -> ((start, stop), value)`` twice: the first run learns the
    cycle window, the second writes a SAIF of exactly it (the runs are deterministic; checked).
    Returns ``(activity, cycles, value of the traced run)``."""
    window, _ = run()
    with tempfile.TemporaryDirectory(prefix="redmule-power.") as work:
        saif = Path(work, "activity.saif")
        again, value = run(saif, window)
        if again != window:
            raise AssertionError(f"the traced run covers cycles {again}, the first one {window}")
        return _activity(saif), window[1] - window[0], value


def traced_session(config, mem_size, places, fmt, script, *, stall=0.0, latency=1, seed=0, hold_r_data=True):
    """Run ``script(ctx, driver)`` in a ``Session`` that holds ``places`` (``[(addr, bits)]`` of
    ``fmt``); it returns the cycle window ``(start, stop)`` it is about. The first run learns the
    window, the second writes a SAIF of exactly it (the runs are deterministic; checked). Returns
    ``(activity, cycles, session memory)``. ``hold_r_data``: see ``TcdmMemory.hold_r_data``."""
    from redmule_hdl.sim.session import Session

    def run(saif=None, window=None):
        with Session(config, mem_size, backend="verilator", stall=stall, latency=latency, seed=seed,
                     trace=saif, trace_window=window) as s:
            s.mem.hold_r_data = hold_r_data
            for addr, bits in places:
                s.place_matrix(addr, bits, fmt)
            return s.live.call(script), s.mem

    return _twice(run)


def job_activity(config, op="gemm", shape=DEFAULT_SHAPE, *, in_fmt="fp16", out_fmt=None, stall=0.0,
                 latency=1, seed=0, zeros=False, hold_r_data=True):
    """``(activity, cycles)`` of one job on the Verilator back end: the SAIF activity of its cycles from
    the accepted TRIGGER write to its evt (``{bit: (toggles, cycles at 1)}``). The result is checked
    bit for bit against ``golden.gemm_op``."""
    from redmule_hdl.spec import golden
    from redmule_hdl.spec.regmap import JobError, Reg
    x, w, y = _operands(shape, in_fmt, op, zeros, seed)
    mem_size, regs, places, z_addr = _job_layout(config, x, w, y, op, in_fmt, out_fmt)
    errors = []

    async def script(ctx, d):
        await d.acquire(ctx)
        await d.program(ctx, regs)
        trigger = await d.trigger(ctx)
        evt = await d.wait_evt(ctx)
        errors.append(await d.read(ctx, Reg.ERROR))
        return trigger + 1, evt + 1

    act, cycles, mem = traced_session(config, mem_size, places, in_fmt, script, stall=stall, latency=latency,
                                     seed=seed, hold_r_data=hold_r_data)
    out = out_fmt or in_fmt
    if errors[-1] != JobError.OK:
        raise AssertionError(f"the job was refused: ERROR = {errors[-1]} ({JobError(errors[-1]).name})")
    z = mem.read_matrix(z_addr, (shape[0], shape[2]), out)
    if not np.array_equal(z, golden.gemm_op(op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)):
        raise AssertionError("the job's Z differs from golden.gemm_op")
    return act, cycles


def idle_activity(config, cycles=1000, *, hold_r_data=True):
    """``(activity, cycles)`` of the engine idle: clock running, no job since reset (and the soft
    clear a session starts with)."""
    start = 64

    async def script(ctx, d):
        await d.idle(ctx, start + cycles + 1 - d.cycle)
        return start, start + cycles

    act, n, _ = traced_session(config, 64, [], "fp16", script, hold_r_data=hold_r_data)
    return act, n


def soft_clear_activity(config, op="gemm", shape=DEFAULT_SHAPE, *, in_fmt="fp16", out_fmt=None, seed=0,
                        zeros=False, after=None, cycles=1000, hold_r_data=True):
    """``(activity, cycles)`` of a soft-cleared wait: the job starts, SOFT_CLEAR is written ``after``
    cycles later (default: half its compute bound), and the window is the ``cycles`` cycles from the
    accepted write on: the engine drops the job, drains the memory responses still outstanding and
    waits, its pipelines and buffers holding the dropped job's last values."""
    x, w, y = _operands(shape, in_fmt, op, zeros, seed)
    mem_size, regs, places, _ = _job_layout(config, x, w, y, op, in_fmt, out_fmt)
    after = config.compute_bound(*shape) // 2 if after is None else after

    async def script(ctx, d):
        await d.acquire(ctx)
        await d.program(ctx, regs)
        await d.trigger(ctx)
        await d.idle(ctx, after)
        await d.soft_clear(ctx)
        clear = d.last_accept
        await d.idle(ctx, clear + cycles + 2 - d.cycle)
        return clear + 1, clear + 1 + cycles

    act, n, _ = traced_session(config, mem_size, places, in_fmt, script, seed=seed, hold_r_data=hold_r_data)
    return act, n


#: ``--workload`` names: one training step of ``examples.train_mlp`` with the formats of its run.
MLP_WORKLOADS = {"mlp-fp16": "fp16", "mlp-fp8": "fp8"}


def mlp_step_activity(config, run="fp16", *, seed=0, hold_r_data=True):
    """``(activity, cycles, flop, text)`` of one training step of ``examples.train_mlp`` (minibatch of
    ``BATCH`` digits, the five products of ``train_step`` through a ``Runtime`` with the formats of
    ``RUNS[run]``): the whole step, from the runtime's first cycle after its soft clear to its last
    (register programming, CYCLES and ERROR reads between the jobs included); ``flop``: 2 per useful
    multiply-accumulate."""
    from redmule_hdl.examples import train_mlp
    from redmule_hdl.runtime import Runtime
    x_tr, y_tr, _, _ = train_mlp.load_data(seed)
    x, labels = x_tr[:train_mlp.BATCH], y_tr[:train_mlp.BATCH]

    def step(saif=None, window=None):
        w1, w2 = train_mlp.init_weights(seed, x.shape[1])
        with Runtime(config, seed=seed, trace=saif, trace_window=window) as rt:
            rt.session.mem.hold_r_data = hold_r_data
            start = rt.session.cycle
            math = train_mlp.EngineMath(rt, *train_mlp.RUNS[run])
            train_mlp.train_step(math, x, labels, w1, w2, train_mlp.LR)
            return (start, rt.session.cycle), math.stats["train"]

    act, cycles, stats = _twice(step)
    text = (f"one MLP training step ({run}: {'/'.join(train_mlp.RUNS[run])}, batch {train_mlp.BATCH}, "
            f"{stats.jobs} jobs)")
    return act, cycles, 2 * stats.fmas, text


def estimate(config, op="gemm", shape=DEFAULT_SHAPE, *, in_fmt="fp16", out_fmt=None, stall=0.0,
             latency=1, seed=0, zeros=False, liberty=None, clock_ns=None, fo4_ps=None, node=None,
             idle_cycles=1000, cache_dir=None, workload=None, hold_r_data=True, log=lambda *a: None):
    """Run the job (or ``workload``, a name of ``MLP_WORKLOADS``) and price it (see the module
    docstring); a ``PowerResult``. ``hold_r_data``: the memory keeps its last response on ``r_data``
    (``TcdmMemory.hold_r_data``); False drives the model's garbage there, as the tests do."""
    from redmule_hdl.synth import blocks
    from redmule_hdl.synth.flow import load_library
    from redmule_hdl.synth.power import DEFAULT_FO4_PS, DEFAULT_NODE, analyze_power
    node = node or DEFAULT_NODE
    fo4_ps = DEFAULT_FO4_PS if fo4_ps is None else fo4_ps
    seconds = {}
    t0 = time.monotonic()
    log("mapping the netlist (cached after the first run) ...")
    netlist, info = mapped_netlist(config, liberty, cache_dir)
    seconds["synth"] = time.monotonic() - t0
    lib, _, reference = load_library(liberty)
    group = blocks.synth_groups(config)
    if clock_ns is not None:
        clock_mhz, source = 1000.0 / clock_ns, f"--clock-ns {clock_ns:g}"
    elif reference:
        period_ns = info["period"] * fo4_ps / 1000.0
        clock_mhz = 1000.0 / period_ns
        source = f"critical path {info['period']:.1f} FO4 x {fo4_ps:g} ps"
    else:
        clock_mhz = 1000.0 / info["period"]
        source = f"critical path {info['period']:.3f} ns"
    t0 = time.monotonic()
    if workload is None:
        text = f"{op} {'x'.join(map(str, shape))} {in_fmt}" + (f" -> {out_fmt}" if out_fmt else "")
        log(f"simulating {text} on Verilator with SAIF activity ...")
        act, cycles = job_activity(config, op, shape, in_fmt=in_fmt, out_fmt=out_fmt, stall=stall,
                                   latency=latency, seed=seed, zeros=zeros, hold_r_data=hold_r_data)
        M, N, K = shape
        flop = 2 * M * N * K
    else:
        log(f"simulating {workload} on Verilator with SAIF activity ...")
        act, cycles, flop, text = mlp_step_activity(config, MLP_WORKLOADS[workload], seed=seed,
                                                    hold_r_data=hold_r_data)
    idle = cleared = None
    if idle_cycles:
        iact, icycles = idle_activity(config, idle_cycles, hold_r_data=hold_r_data)
        cact, ccycles = soft_clear_activity(config, op, shape, in_fmt=in_fmt, out_fmt=out_fmt, seed=seed,
                                            zeros=zeros, cycles=idle_cycles, hold_r_data=hold_r_data)
    seconds["simulation"] = time.monotonic() - t0
    t0 = time.monotonic()
    rep = analyze_power(netlist, "top", lib, act, cycles, group=group, node=node, reference=reference)
    if idle_cycles:
        idle = analyze_power(netlist, "top", lib, iact, icycles, group=group, node=node, reference=reference)
        cleared = analyze_power(netlist, "top", lib, cact, ccycles, group=group, node=node,
                                reference=reference)
    seconds["power"] = time.monotonic() - t0
    if not hold_r_data:
        text += ", garbage on r_data between responses"
    return PowerResult(config, text, flop, clock_mhz, source, cycles, rep, idle, cleared,
                       info["library"], node.source if reference else f"liberty {info['library']}",
                       seconds)


def format_report(r):
    """The plain-text table of a ``PowerResult``."""
    d = r.as_dict()
    lines = [f"RedMulE {r.config}: {r.workload}, {r.job_cycles} cycles at "
             f"{r.clock_mhz:.1f} MHz ({r.clock_source}); library {r.library}"
             + (f" ({r.node_note})" if r.node_note and not r.node_note.startswith("liberty") else ""),
             f"{'block':<15} {'dynamic mW':>11} {'of it FF clock':>15} {'leakage mW':>11} {'share':>6}"
             + (f" {'idle mW':>9}" if r.idle else "") + (f" {'cleared mW':>10}" if r.cleared else "")]
    total = d["power_mw"]
    for b, row in d["blocks"].items():
        p = row["dynamic_mw"] + row["leakage_mw"]
        line = (f"{b:<15} {row['dynamic_mw']:>11.3f} {row['flip_flop_clock_mw']:>15.3f} "
                f"{row['leakage_mw']:>11.5f} {100 * p / total:>5.1f}%")
        if r.idle:
            i = d["idle_blocks"].get(b, {})
            line += f" {i.get('dynamic_mw', 0) + i.get('leakage_mw', 0):>9.3f}"
        if r.cleared:
            c = d["soft_clear_blocks"].get(b, {})
            line += f" {c.get('dynamic_mw', 0) + c.get('leakage_mw', 0):>10.3f}"
        lines.append(line)
    lines.append(f"{'total':<15} {sum(x['dynamic_mw'] for x in d['blocks'].values()):>11.3f} "
                 f"{sum(x['flip_flop_clock_mw'] for x in d['blocks'].values()):>15.3f} "
                 f"{sum(x['leakage_mw'] for x in d['blocks'].values()):>11.5f} {100.0:>5.1f}%"
                 + (f" {d['idle_power_mw']:>9.3f}" if r.idle else "")
                 + (f" {d['soft_clear_power_mw']:>10.3f}" if r.cleared else ""))
    lines.append(f"energy per job {d['energy_nj']:.3f} nJ, {d['pj_per_flop']:.3f} pJ/FLOP "
                 f"({r.flop} FLOP), {d['gflops_per_w']:.2f} GFLOPS/W; idle "
                 + (f"{d['idle_power_mw']:.3f} mW" if r.idle else "not run")
                 + (f", soft-cleared wait {d['soft_clear_power_mw']:.3f} mW" if r.cleared else ""))
    n = d["nets"]
    lines.append(f"activity: {n['measured']} nets from the RTL run's SAIF, {n['estimated']} estimated by "
                 f"probabilistic propagation, {n['no_activity']} without activity")
    return "\n".join(lines)


def chart(path, r):
    """PNG bar chart of a ``PowerResult``: per block, busy power split into the flip-flops' clock and
    the rest, and beneath it the power idle and in the soft-cleared wait."""
    from redmule_hdl.sim.chart import Canvas
    d = r.as_dict()
    rows = list(d["blocks"].items())
    W, H = 900, 90 + 46 * len(rows)
    c = Canvas(W, H)
    x0, x1 = 170, W - 120
    top = max(row["dynamic_mw"] + row["leakage_mw"] for _, row in rows) or 1.0
    clk, rest, idle, cleared, axis = (70, 110, 190), (220, 120, 50), (150, 150, 150), (90, 170, 110), (60, 60, 60)
    c.text(20, 16, f"POWER PER BLOCK IN MILLIWATTS: {r.config} {r.workload.upper()} "
                   f"AT {r.clock_mhz:.0f} MHZ ({r.library.upper()})", (0, 0, 0))
    c.rect(20, 40, 30, 50, clk)
    c.text(34, 41, "FF CLOCK", axis)
    c.rect(130, 40, 140, 50, rest)
    c.text(144, 41, "REST OF BUSY POWER", axis)
    c.rect(330, 40, 340, 50, idle)
    c.text(344, 41, "IDLE", axis)
    c.rect(400, 40, 410, 50, cleared)
    c.text(414, 41, "SOFT-CLEARED WAIT", axis)

    def px(v):
        return x0 + (x1 - x0) * v / top
    for k, (name, row) in enumerate(rows):
        y = 70 + 46 * k
        busy = row["dynamic_mw"] + row["leakage_mw"]
        c.text(x0 - 8, y + 6, name.upper(), axis, anchor="right")
        c.rect(x0, y, px(row["flip_flop_clock_mw"]), y + 18, clk)
        c.rect(px(row["flip_flop_clock_mw"]), y, px(busy), y + 18, rest)
        c.text(px(busy) + 6, y + 6, f"{busy:.1f}", axis)
        if r.idle:
            i = d["idle_blocks"].get(name, {})
            c.rect(x0, y + 22, px(i.get("dynamic_mw", 0) + i.get("leakage_mw", 0)), y + 30, idle)
        if r.cleared:
            i = d["soft_clear_blocks"].get(name, {})
            c.rect(x0, y + 32, px(i.get("dynamic_mw", 0) + i.get("leakage_mw", 0)), y + 40, cleared)
    c.save(path)


def add_arguments(p):
    """The options of ``redmule-hdl power`` (besides the configuration's)."""
    from redmule_hdl.config_args import parse_shapes
    p.add_argument("--op", default="gemm", help="GEMM-Op (default gemm)")
    p.add_argument("--in-fmt", default="fp16", help="input format (default fp16)")
    p.add_argument("--out-fmt", default=None, help="output format (default: the input format)")
    p.add_argument("--shape", type=parse_shapes, default=[DEFAULT_SHAPE], metavar="MxNxK",
                   help="job shape (default 96x96x96)")
    p.add_argument("--stall", type=float, default=0.0, help="probability the memory refuses a request")
    p.add_argument("--latency", type=int, default=1, help="memory read latency (cycles)")
    p.add_argument("--seed", type=int, default=0, help="operands and grant pattern")
    p.add_argument("--zeros", action="store_true", help="all-zero operands instead of random ones")
    p.add_argument("--liberty", type=Path, metavar="FILE",
                   help="price with a real liberty (internal_power, capacitances, leakage_power)")
    p.add_argument("--clock-ns", type=float, default=None, help="clock period (default: the critical path)")
    p.add_argument("--fo4-ps", type=float, default=None,
                   help="FO4 delay for the project's library (default: sweep's 99.5 ps, OSU 0.18 um)")
    p.add_argument("--cinv-ff", type=float, default=None,
                   help="unit inverter input capacitance in fF (default 9.32, OSU 0.18 um INVX1)")
    p.add_argument("--vdd", type=float, default=None, help="supply in V (default 1.8, OSU 0.18 um)")
    p.add_argument("--leak-nw-per-ge", type=float, default=None,
                   help="leakage per GE in nW (default 0.0394, OSU 0.18 um NAND2X1)")
    p.add_argument("--idle-cycles", type=int, default=1000,
                   help="cycles to price of the engine idle and of a soft-cleared wait (0: none)")
    p.add_argument("--workload", choices=sorted(MLP_WORKLOADS), default=None,
                   help="instead of one job: one training step of the MLP example (its fp16 or fp8 run; "
                        "needs the [examples] extra)")
    p.add_argument("--r-data", choices=("hold", "random"), default="hold",
                   help="what the memory drives on r_data between responses: its last response "
                        "(default, as a memory with an output register) or the test model's garbage")


def main(args, config, parser):
    """Run ``redmule-hdl power`` with parsed ``args``; returns the exit status."""
    from dataclasses import replace

    from redmule_hdl.synth.power import DEFAULT_NODE
    if len(args.shape) != 1:
        parser.error("argument --shape: one shape MxNxK")
    for name in ("clock_ns", "fo4_ps", "cinv_ff", "vdd", "leak_nw_per_ge"):
        v = getattr(args, name)
        if v is not None and not v > 0:
            parser.error(f"argument --{name.replace('_', '-')}: must be > 0, not {v}")
    if args.liberty is not None and not args.liberty.is_file():
        parser.error(f"argument --liberty: cannot read {args.liberty}")
    # The job's own arguments, checked as run_job checks them, before anything is built.
    from redmule_hdl.sim.arguments import check_job_arguments
    from redmule_hdl.spec.formats import format_by_name
    for name in ("in_fmt", "out_fmt"):
        value = getattr(args, name)
        try:
            if value is not None:
                format_by_name(value)
        except (KeyError, ValueError) as e:
            parser.error(f"argument --{name.replace('_', '-')}: {e.args[0] if e.args else e}")
    try:
        x, w, y = _operands(args.shape[0], args.in_fmt, args.op, args.zeros, args.seed)
        check_job_arguments(config, args.op, x, w, y, in_fmt=args.in_fmt, out_fmt=args.out_fmt,
                            stall=args.stall, latency=args.latency, seed=args.seed, backend="verilator")
    except (TypeError, ValueError) as e:
        text = str(e)
        name = text.split()[0].rstrip(":") if text else "op"
        parser.error(f"argument --{name.replace('_', '-')}: {text}")
    if args.workload is not None:
        try:
            import sklearn  # noqa: F401  (the MLP example's data set)
        except ImportError:
            parser.error("argument --workload: needs scikit-learn: pip install 'redmule-hdl[examples]'")
    node = DEFAULT_NODE
    over = {k: getattr(args, k) for k in ("cinv_ff", "vdd", "leak_nw_per_ge") if getattr(args, k) is not None}
    if over:
        node = replace(node, **over, source="; ".join(f"{k} {v:g}" for k, v in over.items())
                       + " (given); rest " + DEFAULT_NODE.source)
    r = estimate(config, args.op, args.shape[0], in_fmt=args.in_fmt, out_fmt=args.out_fmt,
                 stall=args.stall, latency=args.latency, seed=args.seed, zeros=args.zeros,
                 liberty=args.liberty, clock_ns=args.clock_ns, fo4_ps=args.fo4_ps, node=node,
                 idle_cycles=args.idle_cycles, workload=args.workload, hold_r_data=args.r_data == "hold",
                 log=lambda m: print(m, flush=True))
    text = format_report(r)
    print(text)
    out = args.output
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "power.txt").write_text(text + "\n")
        (out / "power.json").write_text(json.dumps(r.as_dict(), indent=1) + "\n")
        chart(out / "power.png", r)
        print(f"(wrote {out / 'power.txt'}, {out / 'power.json'} and {out / 'power.png'})")
    return 0


def block_netlist(component, name, liberty=None):
    """``component`` mapped alone (the FMA, a CE): Yosys JSON of the flattened module ``name``."""
    from redmule_hdl.synth.flow import synthesize
    with tempfile.TemporaryDirectory(prefix=f"redmule-{name}.") as work:
        synthesize(component, name, liberty=liberty, workdir=work, timing=False, netlist=True)
        return json.loads(Path(work, "netlist.json").read_text())


def fma_netlist(P=1, liberty=None):
    """The FMA (``pipeline=P``) mapped alone: Yosys JSON of the flattened module ``fma``."""
    from redmule_hdl.arith.fma import FMA
    return block_netlist(FMA(pipeline=P), "fma", liberty)


def ce_netlist(P=1, liberty=None):
    """One computing element (``P``) mapped alone: Yosys JSON of the flattened module ``ce``."""
    from redmule_hdl.engine.ce import ComputeElement
    return block_netlist(ComputeElement(P), "ce", liberty)


def propagation_error(netlist, top, inputs, cycles, *, warm, liberty=None, node=None):
    """Measure ``synth.power``'s activity method on the mapped block ``top`` against a gate-level
    simulation of it (``synth.gatesim``) driven by ``inputs`` (``{port: values per cycle}``).
    Reference: every net's toggles from that simulation after ``warm`` cycles. Method: only the nets
    an RTL run measures (nets with a public name: registers, ports, named signals) from the same
    simulation, the rest propagated. Returns a dict of both energies per cycle (pJ), ``error``
    (method / reference - 1), the net counts and the simulation's ``values``."""
    from redmule_hdl.synth.flow import load_library
    from redmule_hdl.synth.gatesim import simulate, toggle_activity
    from redmule_hdl.synth.power import DEFAULT_NODE, analyze_power, _bit_names
    node = node or DEFAULT_NODE
    lib, _, reference = load_library(liberty)
    values = simulate(netlist, top, lib, inputs, cycles)
    truth_bits = toggle_activity(values, warm)
    n = cycles - warm
    mod = netlist["modules"][top]
    names = _bit_names(mod)
    by_name = {name: truth_bits[b] for b, ns in names.items() if b in truth_bits for name in ns}
    truth = analyze_power(netlist, top, lib, {}, n, node=node, reference=reference, bit_activity=truth_bits)
    method = analyze_power(netlist, top, lib, by_name, n, node=node, reference=reference)
    e_truth, e_method = truth.dynamic_pj_per_cycle(), method.dynamic_pj_per_cycle()
    return {"reference_pj_per_cycle": e_truth, "method_pj_per_cycle": e_method,
            "error": e_method / e_truth - 1.0, "nets_measured": method.nets_measured,
            "nets_estimated": method.nets_estimated, "cycles": n, "values": values,
            "truth": truth, "method": method}


def _fp16_operands(rng, cycles, zeros):
    from redmule_hdl.spec import golden
    if zeros:
        return np.zeros(cycles, dtype=np.int64)
    return golden.from_float(rng.normal(0.0, 1.0, size=cycles)).astype(np.int64)


def fma_propagation_error(P=1, *, cycles=400, seed=0, zeros=False, liberty=None, node=None, netlist=None):
    """``propagation_error`` on the FMA (``pipeline=P``, mapped alone): ``cycles`` cycles of random
    FP16 operands (or all-zero ones), enabled, mode FMA; also returns the ``inputs`` and the bits
    of ``z``."""
    netlist = netlist or fma_netlist(P, liberty)
    rng = np.random.default_rng(seed)
    inputs = {port: _fp16_operands(rng, cycles, zeros) for port in ("a", "b", "c")}
    inputs["en"] = np.ones(cycles, dtype=np.int64)
    r = propagation_error(netlist, "fma", inputs, cycles, warm=P + 4, liberty=liberty, node=node)
    return {**r, "inputs": inputs, "z_bits": netlist["modules"]["fma"]["ports"]["z"]["bits"]}


def ce_propagation_error(P=1, *, cycles=400, seed=0, zeros=False, liberty=None, node=None, netlist=None):
    """``propagation_error`` on one computing element (``P``, mapped alone) in a GEMM's regime: X held
    for the P + 1 cycles of a step (``x_next`` the next step's), a new W and addend every cycle,
    random FP16 values (or all-zero ones), control of GEMM, enabled, no padding."""
    from redmule_hdl.interfaces import CeControl, ce_control
    from redmule_hdl.spec.ops import GemmOp
    netlist = netlist or ce_netlist(P, liberty)
    rng = np.random.default_rng(seed)
    steps = _fp16_operands(rng, cycles // (P + 1) + 2, zeros)
    x = np.repeat(steps, P + 1)
    inputs = {"x": x[:cycles], "x_next": x[1:cycles + 1], "w_next": _fp16_operands(rng, cycles, zeros),
              "acc": _fp16_operands(rng, cycles, zeros),
              "ctrl": np.full(cycles, CeControl.const(ce_control(GemmOp.GEMM)).as_value().value, dtype=np.int64),
              "pad": np.zeros(cycles, dtype=np.int64), "en": np.ones(cycles, dtype=np.int64)}
    return propagation_error(netlist, "ce", inputs, cycles, warm=P + 4, liberty=liberty, node=node)
