"""``redmule-hdl run``: one job from the command line, through ``run_job``.

The operands are random (``--shape MxNxK`` and ``--seed``: values uniform in [-1, 1), rounded to the
formats) or ``.npy`` files (``--x``, ``--w``, ``--y``): float arrays are rounded to the format
(``golden.from_float``), unsigned integer arrays are taken as bit patterns (``uint16`` for fp16,
``uint8`` for the FP8 formats). The job runs on either back end with the memory model's grant refusal
(``--stall``) and read latency (``--latency``); Z is written as ``.npy`` (``float16`` for an fp16 Z,
the ``uint8`` bit patterns for an FP8 Z: numpy has no FP8 type, ``golden.to_float`` gives the values).
Printed: the cycles (CYCLES register), the CE utilization ``M*N*K / (L*H*cycles)``, how many elements
equal the reference model's (``golden.gemm_op``; all of them, or the exit status is 1) and, for matmul
and gemm, the error of Z against the float64 product of the same rounded operands. A job the hardware
refuses (``spec.regmap.JobError``) is reported with its error code, and nothing is written (status 1).

Every argument is checked before anything is built (usage errors: one line, exit status 2).

Waveforms: ``--trace FILE`` and ``--trace-window START:STOP`` (``redmule_hdl.cli.add_trace_arguments``,
checked there) reach ``run_job`` through ``_run_job_arguments``, the one place that maps arguments to
``run_job``'s keywords.
"""
import argparse
from pathlib import Path

import numpy as np

from redmule_hdl.config_args import file_path, parse_shapes
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import FORMATS, format_by_name
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JobError

from .arguments import MAX_LATENCY, check_job_arguments
from .backend import BACKENDS

__all__ = ["add_arguments", "check", "main"]


def _probability(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def _int_in(lo, hi):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, not {value}")
        return value
    return parse


def _npy_output(text):
    if not text.endswith(".npy"):
        raise argparse.ArgumentTypeError(f"must name a .npy file, not {text!r}")
    return Path(text)


def add_arguments(p):
    """The arguments of ``redmule-hdl run`` (besides the generator parameters)."""
    ops = [o.name.lower() for o in GemmOp]
    p.add_argument("--op", default="gemm", choices=ops, help="GEMM-Op (default gemm: Z = X W + Y)")
    p.add_argument("--in-fmt", default="fp16", choices=tuple(FORMATS), help="format of X and W")
    p.add_argument("--out-fmt", default=None, choices=tuple(FORMATS),
                   help="format of Y and Z (default: --in-fmt)")
    p.add_argument("--shape", type=parse_shapes, default=None, metavar="MxNxK",
                   help="random operands: X is M x N, W is N x K, Y and Z M x K")
    p.add_argument("--seed", type=_int_in(0, 2**32 - 1), default=0,
                   help="seed of the random operands and of the memory model (default 0)")
    for name, what in (("x", "X (M x N)"), ("w", "W (N x K)"), ("y", "Y (M x K; random if --shape)")):
        p.add_argument(f"--{name}", type=file_path, default=None, metavar="FILE.npy",
                       help=f"{what} from a .npy file: floats are rounded, uint16/uint8 are bit patterns")
    p.add_argument("--backend", default="verilator", choices=BACKENDS,
                   help="simulator (default verilator: a model built on first use and cached)")
    p.add_argument("--stall", type=_probability, default=0.0, metavar="P",
                   help="probability that the memory refuses a request in a cycle (default 0)")
    p.add_argument("--latency", type=_int_in(1, MAX_LATENCY), default=1, metavar="N",
                   help="memory read latency in cycles (default 1)")
    p.add_argument("-o", "--output", type=_npy_output, default=Path("z.npy"), metavar="FILE.npy",
                   help="where Z is written (default z.npy)")


def _load(sub, name, path, fmt):
    """The bit patterns of the matrix in ``path`` (argument ``--name``) in format ``fmt``."""
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        sub.error(f"argument --{name}: cannot read {path} as .npy: {e}")
    f = format_by_name(fmt)
    if a.ndim != 2:
        sub.error(f"argument --{name}: {path} must hold a 2-D matrix, not shape {a.shape}")
    if a.dtype.kind == "f":
        return golden.from_float(a, f.name)
    bits = np.uint8 if f.width == 8 else np.uint16
    if a.dtype != bits:
        sub.error(f"argument --{name}: {path} holds {a.dtype}; give floats or {np.dtype(bits).name} "
                  f"{f.name} bit patterns")
    return a


def _random(rng, shape, fmt):
    return golden.from_float(rng.uniform(-1.0, 1.0, shape), fmt)


def check(sub, args, config):
    """Check the arguments and build the operands (``args.operands``: op, x, w, y) before anything
    runs; ``sub.error`` (one line, exit status 2) on the first problem."""
    op = GemmOp.parse(args.op)
    out_fmt = args.out_fmt or args.in_fmt
    files = {n: getattr(args, n) for n in ("x", "w", "y") if getattr(args, n) is not None}
    if args.shape is not None:
        if "x" in files or "w" in files:
            sub.error("argument --shape: give either --shape or --x and --w, not both")
        if len(args.shape) != 1:
            sub.error("argument --shape: one shape MxNxK")
        M, N, K = args.shape[0]
        rng = np.random.default_rng(args.seed)
        x, w = _random(rng, (M, N), args.in_fmt), _random(rng, (N, K), args.in_fmt)
        y = _random(rng, (M, K), out_fmt) if op.uses_y else None
        if "y" in files:
            y = _load(sub, "y", files["y"], out_fmt)
    else:
        if "x" not in files or "w" not in files:
            sub.error("give --shape MxNxK (random operands) or --x and --w (.npy files)")
        x, w = _load(sub, "x", files["x"], args.in_fmt), _load(sub, "w", files["w"], args.in_fmt)
        y = _load(sub, "y", files["y"], out_fmt) if "y" in files else None
    try:
        check_job_arguments(config, op, x, w, y, **_run_job_arguments(args))
    except (TypeError, ValueError) as e:
        name = str(e).split()[0]
        sub.error(f"argument --{name}: {e}" if name in ("x", "w", "y") else str(e))
    if args.output.is_dir():
        sub.error(f"argument -o/--output: {args.output} is a directory")
    if not args.output.parent.is_dir():
        sub.error(f"argument -o/--output: the folder {args.output.parent} does not exist")
    args.operands = (op, x, w, y)


def _run_job_arguments(args):
    """``run_job``'s keywords from the arguments, the trace options included."""
    return dict(in_fmt=args.in_fmt, out_fmt=args.out_fmt, stall=args.stall, latency=args.latency,
                seed=args.seed, backend=args.backend, **getattr(args, "trace_options", {}))


def _float64_error(op, x, w, y, z, in_fmt, out_fmt):
    """(max abs error, max error in units of the float64 result's magnitude) of Z against the float64
    product of the same operands, for matmul and gemm; None for the other ops."""
    if op not in (GemmOp.MATMUL, GemmOp.GEMM):
        return None
    exact = golden.to_float(x, in_fmt).astype(np.float64) @ golden.to_float(w, in_fmt).astype(np.float64)
    if op is GemmOp.GEMM:
        exact = exact + golden.to_float(y, out_fmt).astype(np.float64)
    got = golden.to_float(z, out_fmt).astype(np.float64)
    err = np.abs(got - exact)
    scale = np.abs(exact).max() or 1.0
    return float(err.max()), float(err.max() / scale), float(np.median(err))


def main(args, config):
    """Run the job of ``args`` (checked by ``check``) on ``config``; returns the exit status."""
    from redmule_hdl.config_args import config_summary

    from .run import run_job
    op, x, w, y = args.operands
    out_fmt = args.out_fmt or args.in_fmt
    M, N = x.shape
    K = w.shape[1]
    print(f"RedMulE {config} ({config_summary(config)}), {args.backend} back end")
    print(f"{op.name.lower()} {M}x{N}x{K}, X and W {args.in_fmt}, Y and Z {out_fmt}, "
          f"stall {args.stall}, latency {args.latency}, seed {args.seed}", flush=True)
    result = run_job(config, op, x, w, y, **_run_job_arguments(args))
    if result.error:
        # Refused by the hardware (spec.regmap.JobError): no memory was touched, nothing to write.
        print(f"refused by the engine: ERROR = {result.error} ({JobError(result.error).name}); "
              f"Z not written")
        return 1
    ref = golden.gemm_op(op, x, w, y, in_fmt=args.in_fmt, out_fmt=args.out_fmt)
    equal = int(np.sum(result.z == ref))
    f = format_by_name(out_fmt)
    np.save(args.output, golden.to_float(result.z, out_fmt) if f.width == 16 else result.z)
    print(f"cycles            {result.cycles}")
    print(f"CE utilization    {config.utilization(M, N, K, result.cycles):.1%}")
    print(f"reference model   {equal} of {ref.size} elements equal (golden.gemm_op)")
    err = _float64_error(op, x, w, y, result.z, args.in_fmt, out_fmt)
    if err is not None:
        print(f"vs float64        max |error| {err[0]:.4g} ({err[1]:.3g} of max |Z|), median {err[2]:.3g} "
              f"(the engine rounds to FP16 after every step)")
    if err is not None and args.in_fmt == out_fmt == "fp16":
        numpy_z = golden.to_float(x, "fp16") @ golden.to_float(w, "fp16")
        if op is GemmOp.GEMM:
            numpy_z = numpy_z + golden.to_float(y, "fp16")
        same = int(np.sum(golden.from_float(numpy_z, "fp16") == result.z))
        print(f"numpy float16     {same} of {ref.size} elements equal to numpy's float16 X @ W (+ Y), "
              f"which rounds differently")
    print(f"wrote {args.output} ({'float16' if f.width == 16 else 'uint8 ' + f.name + ' bit patterns'})")
    return 0 if equal == ref.size else 1
