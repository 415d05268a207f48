"""Benchmark against the original RedMulE: the 24 regression shapes, cycles and simulator speed.

``redmule-hdl bench`` (or ``python -m redmule_hdl.sim.bench``) runs each shape of
``sim/data/original-cycles.csv`` (the SystemVerilog original, 12x4x3, FP16 GEMM, no stalls, 1-cycle
memory: measured cycle counts of the original) as an FP16 GEMM on this design through ``run_job`` with the same memory conditions, and
writes ``bench.md`` (Markdown table) and ``bench.png`` (chart) to the output directory:

per shape our cycles (the CYCLES register: accepted trigger to evt, as the original was measured), the
original's, their ratio, the compute bound C and the port bound B (``Config.compute_bound``/``port_bound``), the overhead
``cycles - max(C, B)``, CE utilization ``M*N*K / (L*H*cycles)`` (ours and the original's) and whether Z
is bit-exact against ``redmule_hdl.golden``; then the simulator speed (simulated cycles per second of
the harness, best of ``repeat`` runs) on 96x96x96 and 128x128x128; and (Verilator) streams of 16
queued copies of 12x16x16, 24x16x16 and 48x48x48, or of the ``--shapes`` given (``run_queue_bench``).

A section of its own (``run_fp8_instance``, ``fp8_instance_markdown``) runs the paper's FP8 instance,
``FP8_INSTANCE`` (12x8x3 whose port carries D = 32 FP8 elements per transfer), on the Verilator back
end: a 96x96x96 GEMM with E4M3 in and out, and the same shape in FP16 on the same instance (whose FP16
beats take two transfers each), with cycles, C, B for that format pair, utilization and bit-exactness.
"""
import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redmule_hdl.config import Config
from redmule_hdl.config_args import (ArgumentParser, add_config_arguments, config_from_args, config_summary,
                                     parse_shapes)
from redmule_hdl.spec import golden

__all__ = ["ORIGINAL_CSV", "load_original", "run_bench", "FP8_INSTANCE", "run_fp8_instance",
           "fp8_instance_markdown", "main"]

ORIGINAL_CSV = Path(__file__).parent / "data" / "original-cycles.csv"
ORIGINAL_CONFIG = Config(L=12, H=4, P=3)
SPEED_SHAPES = ((96, 96, 96), (128, 128, 128))
#: Shapes of the queued-jobs streams: a cluster offloading tiles of a large GEMM one after another.
QUEUE_SHAPES = ((12, 16, 16), (24, 16, 16), (48, 48, 48))
QUEUE_COPIES = 16
#: The paper's FP8 instance: a 12 x 8 array (P = 3, D = 32) with a port of D FP8 elements per transfer.
FP8_INSTANCE = Config(L=12, H=8, P=3, beat_format="fp8")
#: Its workload: GEMM 96x96x96 with these (input, output) formats.
FP8_INSTANCE_SHAPE = (96, 96, 96)
FP8_INSTANCE_FORMATS = (("e4m3", "e4m3"), ("fp16", "fp16"))


@dataclass
class ShapeResult:
    M: int
    N: int
    K: int
    cycles: int
    original: int
    C: int
    B: int
    bit_exact: bool
    utilization: float
    original_utilization: float

    @property
    def ratio(self):
        return self.cycles / self.original

    @property
    def overhead(self):
        return self.cycles - max(self.C, self.B)


def load_original(path=ORIGINAL_CSV):
    """Rows ``(M, N, K, cycles)`` of the original's measurements."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    header, body = rows[0], rows[1:]
    idx = {name: header.index(name) for name in ("M", "N", "K", "cycles")}
    return [tuple(int(r[idx[n]]) for n in ("M", "N", "K", "cycles")) for r in body if r]


def _inputs(rng, M, N, K, in_fmt="fp16", out_fmt=None):
    """X, W (``in_fmt``) and Y (``out_fmt``, default ``in_fmt``) of normally distributed values."""
    x = golden.from_float(rng.normal(0.0, 1.0, (M, N)), in_fmt)
    w = golden.from_float(rng.normal(0.0, 1.0, (N, K)), in_fmt)
    y = golden.from_float(rng.normal(0.0, 1.0, (M, K)), out_fmt or in_fmt)
    return x, w, y


def run_bench(config=None, *, backend="verilator", repeat=3, seed=0, shapes=None,
              speed_shapes=SPEED_SHAPES, log=print):
    """Run the benchmark; returns ``(results, speed, build_seconds)``.

    ``shapes``: ``(M, N, K, original cycles)`` rows (default: ``load_original()``). ``speed`` maps each
    of ``speed_shapes`` to ``(simulated cycles, best seconds, cycles/s)`` (Verilator back end only).
    """
    from .run import run_job
    config = config or Config()
    rng = np.random.default_rng(seed)
    build_seconds = None
    if backend == "verilator":
        from .verilator import build
        t0 = time.monotonic()
        info = build(config)
        build_seconds = time.monotonic() - t0
        log(f"Verilator model of RedMulE {config}: "
            f"{'cached' if info.cached else 'built'} in {build_seconds:.1f} s ({info.path})")
    results = []
    for M, N, K, original in (shapes or load_original()):
        x, w, y = _inputs(rng, M, N, K)
        res = run_job(config, "gemm", x, w, y, backend=backend, seed=seed)
        exact = res.error == 0 and res.guard_ok and np.array_equal(res.z, golden.gemm_op("gemm", x, w, y))
        r = ShapeResult(M, N, K, res.cycles, original, config.compute_bound(M, N, K),
                        config.port_bound(M, N, K, uses_y=True), bool(exact),
                        config.utilization(M, N, K, res.cycles),
                        ORIGINAL_CONFIG.utilization(M, N, K, original))
        results.append(r)
        log(f"  {M:>3} x {N:>3} x {K:>3}: {r.cycles:>6} cycles (original {original:>6}, "
            f"ratio {r.ratio:.3f}), bit-exact {'yes' if exact else 'NO'}")
    speed = {}
    if backend == "verilator":
        for M, N, K in speed_shapes:
            x, w, y = _inputs(rng, M, N, K)
            best = None
            for _ in range(repeat):
                res = run_job(config, "gemm", x, w, y, backend=backend, seed=seed)
                if best is None or res.sim_seconds < best[1]:
                    best = (res.sim_cycles, res.sim_seconds)
            speed[(M, N, K)] = (best[0], best[1], best[0] / best[1])
            log(f"  speed {M}x{N}x{K}: {best[0]} simulated cycles in {best[1] * 1e3:.1f} ms = "
                f"{best[0] / best[1]:,.0f} cycles/s")
    return results, speed, build_seconds


@dataclass
class QueueResult:
    M: int
    N: int
    K: int
    copies: int
    span: int           # cycles from the first job's trigger to the last job's evt
    steady: float       # mean cycles between the evts of consecutive jobs (the first job excluded)
    first: int          # CYCLES of the first job
    C: int
    B: int
    bit_exact: bool

    @property
    def per_job(self):
        return self.span / self.copies


def run_queue_bench(config, *, shapes=QUEUE_SHAPES, copies=QUEUE_COPIES, in_fmt="fp16",
                    backend="verilator", seed=0, log=print):
    """``copies`` queued copies of an FP16 (or ``in_fmt`` in and out) GEMM per shape, through the
    job contexts as a driver offloads them: returns one ``QueueResult`` per shape."""
    from .run import run_job
    rng = np.random.default_rng(seed)
    results = []
    for M, N, K in shapes:
        x, w, y = _inputs(rng, M, N, K, in_fmt)
        res = run_job(config, "gemm", x, w, y, in_fmt=in_fmt, queue=copies, backend=backend, seed=seed)
        expected = golden.gemm_op("gemm", x, w, y, in_fmt=in_fmt)
        exact = all(run.error == 0 and np.array_equal(run.z, expected) for run in res.runs) and res.guard_ok
        steady = (res.runs[-1].evt_cycle - res.runs[0].evt_cycle) / max(1, copies - 1)
        r = QueueResult(M, N, K, copies, res.runs[-1].evt_cycle - res.runs[0].trigger_cycle, steady,
                        res.runs[0].cycles, config.compute_bound(M, N, K),
                        config.port_bound(M, N, K, uses_y=True, in_fmt=in_fmt, out_fmt=in_fmt),
                        bool(exact))
        results.append(r)
        log(f"  {copies} x {M}x{N}x{K} queued: {r.span} cycles, {r.per_job:.1f} per job, steady "
            f"{r.steady:.1f} (C {r.C}, B {r.B}), bit-exact {'yes' if exact else 'NO'}")
    return results


def queue_markdown(config, results, in_fmt="fp16"):
    lines = [
        f"## Queued jobs on {config} ({in_fmt} GEMM)",
        "",
        f"{results[0].copies if results else QUEUE_COPIES} copies of each job offloaded one after another "
        "through the job contexts (`run_job(..., queue=n)`: the driver programs the next context as "
        "soon as one is free and reads CYCLES/ERROR after each evt). span = trigger of the first to "
        "evt of the last; steady = mean cycles between consecutive evts after the first job; first = "
        "CYCLES of the first job; target: steady <= max(C, B) + 10.",
        "",
        "| M | N | K | span | per job | steady | first | C | B | max(C,B)+10 | bit-exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        lines.append(f"| {r.M} | {r.N} | {r.K} | {r.span} | {r.per_job:.1f} | {r.steady:.1f} | {r.first} | "
                     f"{r.C} | {r.B} | {max(r.C, r.B) + 10} | {'yes' if r.bit_exact else '**no**'} |")
    return "\n".join(lines) + "\n"


@dataclass
class FormatResult:
    """One job of the FP8-instance section: its shape and formats, cycles, bounds, exactness."""
    M: int
    N: int
    K: int
    in_fmt: str
    out_fmt: str
    cycles: int
    C: int
    B: int
    utilization: float
    bit_exact: bool

    @property
    def overhead(self):
        return self.cycles - max(self.C, self.B)


def run_fp8_instance(config=FP8_INSTANCE, *, shape=FP8_INSTANCE_SHAPE, formats=FP8_INSTANCE_FORMATS,
                     seed=0, log=print):
    """GEMM jobs of ``shape`` in each ``(in_fmt, out_fmt)`` of ``formats`` on ``config`` (default the
    paper's FP8 instance) through the Verilator back end, no grant stalls, 1-cycle memory; returns a
    list of ``FormatResult`` (B counts the transfers of that format pair: ``Config.port_bound``)."""
    from .run import run_job
    from .verilator import build
    info = build(config)
    log(f"Verilator model of RedMulE {config} (beat_format={config.beat_format}): "
        f"{'cached' if info.cached else 'built'} in {info.seconds:.1f} s")
    M, N, K = shape
    rng = np.random.default_rng(seed)
    results = []
    for in_fmt, out_fmt in formats:
        x, w, y = _inputs(rng, M, N, K, in_fmt, out_fmt)
        res = run_job(config, "gemm", x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, backend="verilator",
                      seed=seed)
        want = golden.gemm_op("gemm", x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)
        exact = res.error == 0 and res.guard_ok and np.array_equal(res.z, want)
        r = FormatResult(M, N, K, in_fmt, out_fmt, res.cycles, config.compute_bound(M, N, K),
                         config.port_bound(M, N, K, uses_y=True, in_fmt=in_fmt, out_fmt=out_fmt),
                         config.utilization(M, N, K, res.cycles), bool(exact))
        results.append(r)
        log(f"  {in_fmt}/{out_fmt} {M}x{N}x{K}: {r.cycles} cycles (C {r.C}, B {r.B}), utilization "
            f"{100 * r.utilization:.2f}%, bit-exact {'yes' if exact else 'NO'}")
    return results


def fp8_instance_markdown(config, results):
    """The FP8-instance section of bench.md (a ``##`` section of its own)."""
    lines = [
        f"## The paper's FP8 instance: {config}, a port of D = {config.D} FP8 elements (verilator)",
        "",
        f"`Config(L={config.L}, H={config.H}, P={config.P}, beat_format=\"{config.beat_format}\")`: "
        f"a {config.port_width}-bit port ({config.transfer_bytes} data bytes per transfer"
        f"{' + a word for the shifter' if config.misaligned else ''}); a beat of FP8 elements is one "
        "transfer, a beat of FP16 elements two. GEMM (op 1), no grant stalls, 1-cycle memory; cycles "
        "from the accepted trigger write to the end event; C = compute bound, B = port bound for the "
        "job's formats (transfers); overhead = cycles - max(C, B); util = M*N*K / (L*H*cycles).",
        "",
        "| M | N | K | in | out | cycles | C | B | overhead | util | bit-exact |",
        "|---:|---:|---:|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        lines.append(f"| {r.M} | {r.N} | {r.K} | {r.in_fmt} | {r.out_fmt} | {r.cycles} | {r.C} | {r.B} "
                     f"| {r.overhead} | {100 * r.utilization:.2f}% | "
                     f"{'yes' if r.bit_exact else '**no**'} |")
    return "\n".join(lines) + "\n"


def markdown(config, results, speed, build_seconds, backend):
    lines = [
        f"# RedMulE {config} ({backend}) vs the original (SystemVerilog, 12x4x3)",
        "",
        "FP16 GEMM (op 1), no grant stalls, 1-cycle memory; cycles from the accepted trigger write to "
        "the end event (the CYCLES register); the original's cycles are measured facts "
        "(`sim/data/original-cycles.csv`). C = compute bound, B = port bound "
        "(docs/architecture.md, Timing model); "
        "overhead = cycles - max(C, B); util = M*N*K / (L*H*cycles).",
        "",
        "| M | N | K | cycles | original | ratio | C | B | overhead | util | original util | bit-exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        lines.append(f"| {r.M} | {r.N} | {r.K} | {r.cycles} | {r.original} | {r.ratio:.3f} | {r.C} | "
                     f"{r.B} | {r.overhead} | {100 * r.utilization:.1f}% | "
                     f"{100 * r.original_utilization:.1f}% | {'yes' if r.bit_exact else '**no**'} |")
    total, total_orig = sum(r.cycles for r in results), sum(r.original for r in results)
    lines += ["", f"Total over the {len(results)} shapes: {total} cycles vs {total_orig} "
                  f"(ratio {total / total_orig:.3f}); geometric mean of the ratios "
                  f"{np.exp(np.mean([np.log(r.ratio) for r in results])):.3f}; "
                  f"{sum(r.bit_exact for r in results)}/{len(results)} bit-exact."]
    if speed:
        lines += ["", "| simulator speed | simulated cycles | seconds | cycles/s |", "|---|---:|---:|---:|"]
        for (M, N, K), (cycles, seconds, rate) in speed.items():
            lines.append(f"| {M}x{N}x{K} ({backend}) | {cycles} | {seconds:.3f} | {rate:,.0f} |")
        lines += ["", "Speed: wall-clock time of the harness process from its start to the job's end "
                      "(best of the repeats), without build and data set-up. The original's Verilated "
                      "model runs at about 46k cycles/s on 96x96x96."]
    if build_seconds is not None:
        lines += ["", f"Build (or cache look-up) of the Verilator model: {build_seconds:.1f} s."]
    return "\n".join(lines) + "\n"


def chart(path, config, results):
    """bench.png: CE utilization and cycle ratio per shape; returns the ``Canvas``. The canvas is
    wide enough for the bars and for each panel's title and legend line, whatever the shapes."""
    from .chart import Canvas, grouped_bars, panel_width
    labels = [f"{r.M}x{r.N}x{r.K}" for r in results]
    utilization = ([("original 12x4x3", [100 * r.original_utilization for r in results], (160, 160, 160)),
                    (f"this design {config}", [100 * r.utilization for r in results], (40, 110, 200))],
                   "CE UTILIZATION (%)")
    ratio = ([("cycles ours / original", [r.ratio for r in results], (40, 150, 90))],
             "CYCLE RATIO (OURS / ORIGINAL, LINE = 1)")
    x0 = 70
    c = Canvas(max(80 + 44 * len(results) + 40,
                   x0 + max(panel_width(title, series) for series, title in (utilization, ratio)) + 30), 720)
    x1 = c.width - 30
    grouped_bars(c, (x0, 60, x1, 300), labels, utilization[0], title=utilization[1], y_max=100.0,
                 y_ticks=range(0, 101, 20), tick_format=lambda t: f"{t:.0f}%")
    top = max(1.25, max(r.ratio for r in results) * 1.05)
    step = 0.25 if top <= 2 else 0.5
    grouped_bars(c, (x0, 440, x1, 640 - 20), labels, ratio[0], title=ratio[1], y_max=top,
                 y_ticks=np.arange(0, top + 1e-9, step), tick_format=lambda t: f"{t:.2f}",
                 reference=1.0)
    c.save(path)
    return c


def original_rows(shapes=None):
    """Rows ``(M, N, K, original cycles)`` of ``load_original()`` for ``shapes`` (``(M, N, K)`` triples,
    in the given order; default: all 24). ``ValueError`` names a shape the original was not measured on.
    """
    rows = load_original()
    if shapes is None:
        return rows
    by_shape = {(M, N, K): (M, N, K, c) for M, N, K, c in rows}
    unknown = [f"{M}x{N}x{K}" for M, N, K in shapes if (M, N, K) not in by_shape]
    if unknown:
        raise ValueError(f"no original cycles for {', '.join(unknown)} (the original's shapes are "
                         "in sim/data/original-cycles.csv)")
    return [by_shape[tuple(s)] for s in shapes]


def _parser():
    p = ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n")[0])
    add_config_arguments(p)
    p.add_argument("-o", "--output", type=Path, default=Path("redmule-bench"), metavar="DIR",
                   help="output directory for bench.md and bench.png (default redmule-bench)")
    p.add_argument("--backend", default="verilator", choices=("verilator", "amaranth"))
    p.add_argument("--repeat", type=int, default=3, help="speed runs per shape (best counts)")
    p.add_argument("--shapes", type=parse_shapes, default=None, metavar="MxNxK,...",
                   help="run only these of the original's 24 shapes (default: all)")
    add_fp8_instance_argument(p)
    return p


def add_fp8_instance_argument(parser):
    """``--no-fp8-instance``: leave out the section of the paper's FP8 instance (``args.fp8_instance``)."""
    parser.add_argument("--no-fp8-instance", dest="fp8_instance", action="store_false", default=True,
                        help=f"skip the section of the paper's FP8 instance ({FP8_INSTANCE}, "
                             f"beat_format={FP8_INSTANCE.beat_format}, Verilator back end only)")


def main(argv=None, *, config=None, output=None, backend="verilator", repeat=3, shapes=None,
         fp8_instance=True):
    """Command line (``argv``), or, with ``config``, the run ``redmule-hdl bench`` asks for.

    ``shapes``: ``(M, N, K)`` triples among the original's (default: all 24); they are also the shapes
    of the queued-jobs sections (default: ``QUEUE_SHAPES``). ``fp8_instance``: add
    the section of the paper's FP8 instance (only with the Verilator back end). Exit status: 0 when
    every job is bit-exact, 1 otherwise, 2 for bad arguments.
    """
    if argv is not None or config is None:
        p = _parser()
        args = p.parse_args(argv)
        config = config_from_args(args, p)
        if args.repeat < 1:
            p.error(f"argument --repeat: must be >= 1, not {args.repeat}")
        try:
            rows = original_rows(args.shapes)
        except ValueError as e:
            p.error(str(e))
        output, backend, repeat, fp8_instance = args.output, args.backend, args.repeat, args.fp8_instance
        shapes = args.shapes
    else:
        rows = original_rows(shapes)
    # The queued-jobs sections stream the shapes asked for, or by default QUEUE_SHAPES.
    queue_shapes = QUEUE_SHAPES if shapes is None else [tuple(s) for s in shapes]
    output = Path(output or "redmule-bench")
    output.mkdir(parents=True, exist_ok=True)
    print(f"Benchmark of RedMulE {config} ({backend}) on {len(rows)} of the original's shapes; "
          f"{config_summary(config)}", flush=True)
    log = lambda *a: print(*a, flush=True)     # noqa: E731
    results, speed, build_seconds = run_bench(config, backend=backend, repeat=repeat, shapes=rows, log=log)
    text = markdown(config, results, speed, build_seconds, backend)
    exact = all(r.bit_exact for r in results)
    if backend == "verilator":     # 16 copies of 48x48x48 take minutes in the Amaranth simulator
        queued = run_queue_bench(config, shapes=queue_shapes, backend=backend, log=log)
        text += "\n" + queue_markdown(config, queued)
        exact = exact and all(r.bit_exact for r in queued)
    if fp8_instance and backend == "verilator":
        print(f"The paper's FP8 instance, {FP8_INSTANCE} with beat_format={FP8_INSTANCE.beat_format}:",
              flush=True)
        fp8_results = run_fp8_instance(log=log)
        text += "\n" + fp8_instance_markdown(FP8_INSTANCE, fp8_results)
        queued = run_queue_bench(FP8_INSTANCE, shapes=queue_shapes, in_fmt="e4m3", backend=backend, log=log)
        text += "\n" + queue_markdown(FP8_INSTANCE, queued, in_fmt="e4m3")
        exact = exact and all(r.bit_exact for r in fp8_results + queued)
    elif fp8_instance:
        print("(the section of the paper's FP8 instance needs the Verilator back end: not run)")
    (output / "bench.md").write_text(text)
    chart(output / "bench.png", config, results)
    print()
    print(text)
    print(f"wrote {output / 'bench.md'} and {output / 'bench.png'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
