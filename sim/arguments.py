"""The arguments of ``run_job`` and ``run_engine``: every rule in one place, checked before anything
is built or simulated.

``check_job_arguments`` takes the arguments of ``sim.run.run_job`` and returns them checked and
normalized (``JobArguments``); ``run_job`` calls it first, so a wrong argument fails the same way on
every back end, before a model is built or a cycle simulated. The conventions:

* a value of the wrong kind is a ``TypeError``, a value of the right kind that breaks its rule a
  ``ValueError``; the message starts with the argument's public name (``stall``, ``latency``, ...) and
  states the rule;
* integers are ``int`` or numpy integers, never ``bool`` or ``float`` (``2.0`` is refused, not rounded);
  they come back as plain ``int``. Flags (``y_sep``) are ``bool`` or ``numpy.bool_``, nothing else;
* choices from a fixed set (``backend``, ``verilog_flow``, the formats, the op's name) are a
  ``ValueError`` for anything outside the set;
* the matrices follow ``golden.check_operands``: 2-D, FP16 bit patterns as ``uint16`` and FP8 bit
  patterns as ``uint8`` (other dtypes are refused even when their values would fit), a ``ValueError``.

The rules of each argument are listed in ``run_job``'s docstring.
"""
import inspect
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from redmule_hdl.config import Config, check_config, check_int
from redmule_hdl.spec.formats import FpFormat
from redmule_hdl.spec.golden import check_operands
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import DIM_BITS, REGISTERS, Reg

from .backend import BACKENDS, GUARD_BYTES, backend_class
from .trace import check_trace

__all__ = ["JobArguments", "check_job_arguments", "footprint", "check_probability", "check_seed",
           "check_cycles", "check_flag", "check_vcd", "check_dimensions", "MAX_LATENCY", "MAX_SIM_CYCLES",
           "ADDRESS_SPACE"]

#: Largest memory read latency in cycles (the Verilator harness keeps one response slot per cycle).
MAX_LATENCY = 65535
#: Largest ``max_cycles`` and ``abort_after``: 2**40 cycles are weeks of simulation on either back end.
MAX_SIM_CYCLES = 1 << 40
#: Bytes the accelerator can address (32-bit X_ADDR, W_ADDR, Z_ADDR, Y_ADDR).
ADDRESS_SPACE = 1 << 32
#: Constructor keywords every back end takes from ``run_job``'s own arguments (not options).
_COMMON_KEYWORDS = ("stall", "latency", "seed", "write_responses")


@dataclass(frozen=True)
class JobArguments:
    """The arguments of one ``run_job`` call, checked and normalized."""
    config: Config
    op: GemmOp
    x: np.ndarray                 # M x N, in_fmt bits (uint16 or uint8)
    w: np.ndarray                 # N x K
    y: Optional[np.ndarray]       # M x K, out_fmt bits, or None
    fin: FpFormat                 # input format
    fout: FpFormat                # output format (fin when out_fmt is None)
    out_fmt: Optional[FpFormat]   # None: OUT_FMT_EN stays clear
    M: int
    N: int
    K: int
    stall: float
    latency: int
    seed: int
    strides: tuple                # (x, w, z) as programmed: 0 = dense
    pitches: tuple                # (x, w, z) row pitches in bytes (dense rows resolved)
    y_sep: bool
    queue: int
    abort_after: Optional[int]
    max_cycles: Optional[int]
    vcd: object                   # None, or a str / os.PathLike
    trace: object                 # None, or a sim.trace.TraceRequest (from trace= or vcd=)
    backend: str
    backend_options: dict = field(default_factory=dict)   # keywords of the back end's constructor
    write_responses: Optional[bool] = None                # None: as config.write_responses


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_probability(name, value):
    """``float(value)`` for a number in [0, 1); TypeError/ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), not {value!r}")
    if not 0.0 <= value < 1.0:   # NaN fails too
        raise ValueError(f"{name} must be in [0, 1), not {value!r}")
    return float(value)


def check_seed(value):
    """``int(value)`` for an int >= 0 (it seeds ``random.Random`` and ``numpy.random.default_rng``)."""
    return check_int("seed", value, 0)


def check_cycles(name, value, lo=1):
    """``None``, or ``int(value)`` for an int in ``lo..MAX_SIM_CYCLES``."""
    return None if value is None else check_int(name, value, lo, MAX_SIM_CYCLES)


def check_flag(name, value):
    """``bool(value)`` for a ``bool`` or ``numpy.bool_``; TypeError otherwise (no truthiness: ``1``,
    ``"False"`` and arrays are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return bool(value)


def check_vcd(value):
    """``None``, or a non-empty file path (``str`` or ``os.PathLike``) in an existing, writable folder;
    returned as a ``str``."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"vcd must be a file path (str or os.PathLike) or None, not {value!r}")
    path = os.fspath(value)
    if not path:
        raise ValueError("vcd must be a non-empty file path or None, not ''")
    # Checked here, before the simulation's processes are created: the waveform writer opens the
    # file only once they exist, and a failure there leaves them never awaited.
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"vcd: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"vcd: {path} is a folder, not a file path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"vcd: cannot write into the folder {folder}")
    return os.fsdecode(path)    # the Amaranth simulator opens only str paths


def check_dimensions(M, N, K):
    """M, N and K must fit the job's size fields (MCFG0, MCFG1); ValueError naming x or w."""
    dim_max = (1 << DIM_BITS) - 1
    for name, what, value in (("x", "rows (M)", M), ("x", "columns (N)", N), ("w", "columns (K)", K)):
        if value > dim_max:
            raise ValueError(f"{name} has {value} {what}; M, N and K must be at most {dim_max} "
                             f"(the job's {DIM_BITS}-bit size fields)")


def _check_strides(strides, rows):
    """``(strides, pitches)``: the programmed strides (0 = dense) and the resolved row pitches."""
    if strides is None:
        strides = (0, 0, 0)
    if isinstance(strides, (str, bytes)) or not isinstance(strides, (tuple, list, np.ndarray)):
        raise TypeError(f"strides must be a tuple (x, w, z) of row pitches in bytes (0 or None: dense), "
                        f"or None, not {strides!r}")
    if len(strides) != 3:
        raise ValueError(f"strides must have 3 entries (x, w, z row pitches in bytes), not "
                         f"{len(strides)}: {strides!r}")
    stride_max = (1 << REGISTERS[Reg.X_STRIDE].bits) - 1
    out, pitches = [], []
    for i, (which, value, row) in enumerate(zip("xwz", strides, rows)):
        if value is None:
            value = 0
        if not _is_int(value):
            raise TypeError(f"strides[{i}] ({which}) must be an int (bytes) or None, not {value!r}")
        value = int(value)
        if value < 0 or value > stride_max:
            raise ValueError(f"strides[{i}] ({which}) must be in 0..{stride_max} (0: dense), "
                             f"not {value}")
        if value and value < row:
            raise ValueError(f"strides[{i}] ({which}) must be 0 (dense) or at least a row of {row} "
                             f"bytes, not {value}")
        out.append(value)
        pitches.append(value or row)
    return tuple(out), tuple(pitches)


def _backend_options(backend, options, verilog_flow):
    """The keywords for the back end's constructor: ``options`` checked against its signature, plus
    ``flow`` from ``verilog_flow``."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise TypeError(f"backend_options must be a dict of keyword arguments of the {backend} "
                        f"backend, or None, not {options!r}")
    params = inspect.signature(backend_class(backend)).parameters
    allowed = sorted(name for name, p in params.items()
                     if p.kind is p.KEYWORD_ONLY and name not in _COMMON_KEYWORDS)
    for key in options:
        if key not in allowed:
            what = (f"its options are {', '.join(allowed)}" if allowed else "it takes no options")
            extra = (f" ({key} is an argument of run_job)" if key in _COMMON_KEYWORDS else "")
            raise ValueError(f"backend_options has {key!r}, not an option of the {backend} backend"
                             f"{extra}; {what}")
    options = dict(options)
    if verilog_flow is not None:
        if backend != "verilator":
            raise ValueError(f"verilog_flow is an option of the verilator backend, not of {backend!r}")
        from .verilator.flows import FLOWS
        if not isinstance(verilog_flow, str) or verilog_flow not in FLOWS:
            raise ValueError(f"verilog_flow must be one of {', '.join(map(repr, FLOWS))} or None, "
                             f"not {verilog_flow!r}")
        if "flow" in options:
            raise ValueError("verilog_flow is given twice: also as backend_options['flow']")
        options["flow"] = verilog_flow
    return options


def footprint(rows, cols, elem_bytes, pitch):
    """Bytes a ``rows`` x ``cols`` matrix spans with rows ``pitch`` bytes apart."""
    return (rows - 1) * pitch + cols * elem_bytes


def _job_memory_bytes(a_rows, pitches, elem_bytes, queue, y_sep):
    """Upper bound of the bytes ``run_job`` places the job in: each region rounded up to a word and
    moved by up to 3 bytes inside it (at most 6 bytes of slack), guard gaps included."""
    (M, N, K), (xp, wp, zp), (ies, oes) = a_rows, pitches, elem_bytes
    regions = [footprint(M, N, ies, xp), footprint(N, K, ies, wp)]
    regions += [footprint(M, K, oes, zp)] * (queue * (2 if y_sep else 1))
    return GUARD_BYTES + sum(r + 6 + GUARD_BYTES for r in regions)


def check_job_arguments(config, op, x, w, y=None, *, in_fmt="fp16", out_fmt=None, stall=0.0,
                        latency=1, seed=0, strides=None, y_sep=False, queue=1, abort_after=None,
                        max_cycles=None, vcd=None, backend="amaranth", verilog_flow=None,
                        backend_options=None, write_responses=None, trace=None, trace_window=None):
    """Check the arguments of ``run_job`` (same names and defaults) and return them as
    ``JobArguments``; raises TypeError or ValueError naming the first wrong argument."""
    config = check_config(config)
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, not {backend!r}")
    op, x, w, y, fin, fout = check_operands(op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)
    M, N = x.shape
    K = w.shape[1]
    check_dimensions(M, N, K)
    stall = check_probability("stall", stall)
    latency = check_int("latency", latency, 1, MAX_LATENCY)
    seed = check_seed(seed)
    y_sep = check_flag("y_sep", y_sep)
    queue = check_int("queue", queue, 1)
    strides, pitches = _check_strides(strides, (N * fin.bytes, K * fin.bytes, K * fout.bytes))
    need = _job_memory_bytes((M, N, K), pitches, (fin.bytes, fout.bytes), queue, y_sep)
    if need + config.port_width // 8 > ADDRESS_SPACE:
        name = "strides" if any(strides) else "queue" if queue > 1 else "x"
        raise ValueError(f"{name}: the job's matrices (strides {strides}, queue={queue}, y_sep={y_sep}) "
                         f"need about {need} bytes, beyond the {ADDRESS_SPACE.bit_length() - 1}-bit "
                         f"address space")
    abort_after = check_cycles("abort_after", abort_after, lo=0)
    max_cycles = check_cycles("max_cycles", max_cycles)
    vcd = check_vcd(vcd)
    if vcd is not None and trace is not None:
        raise ValueError("vcd: give either vcd or trace (the same file argument), not both")
    trace = check_trace(vcd if trace is None else trace, trace_window, backend=backend,
                        name="vcd" if vcd is not None else "trace")
    options = _backend_options(backend, backend_options, verilog_flow)
    if write_responses is not None:
        write_responses = check_flag("write_responses", write_responses)
    return JobArguments(
        config=config, op=op, x=x, w=w, y=y, fin=fin, fout=fout,
        out_fmt=None if out_fmt is None else fout, M=M, N=N, K=K, stall=stall, latency=latency,
        seed=seed, strides=strides, pitches=pitches, y_sep=y_sep, queue=queue,
        abort_after=abort_after, max_cycles=max_cycles, vcd=vcd, trace=trace, backend=backend,
        backend_options=options, write_responses=write_responses)
