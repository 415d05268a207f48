"""Run GEMM-Op jobs on the complete accelerator (``RedMulE``) through its two bus ports.

``run_job`` is the entry point: it places the matrices in a TCDM memory model (``sim.memory``), offloads
the job with the original HAL's register sequence (``sim.driver``), and returns Z as read back from
memory together with the CYCLES and ERROR registers, the check that no byte outside Z changed and the
timing of the simulation. The simulator is a back end chosen by name (``sim.backend``: Amaranth's
simulator or Verilator); ``run_job`` uses only the ``sim.backend.Backend`` protocol. Tests that script
the peripheral port themselves use a back end directly (``sim.amaranth_backend.AmaranthBench``).
"""
import random
from dataclasses import dataclass, field

import numpy as np

from redmule_hdl.spec.formats import format_by_name
from redmule_hdl.spec.jobs import job_registers
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import DIM_BITS, JobError, Reg

from .backend import BACKENDS, GUARD_BYTES, make_backend

__all__ = ["run_job", "JobResult", "JobRun", "BACKENDS"]


@dataclass
class JobRun:
    """One offloaded job: its Z as read back after the whole run, and its registers after its evt."""
    z: np.ndarray
    cycles: int          # CYCLES register
    error: int           # ERROR register
    trigger_cycle: int   # cycle of the accepted TRIGGER write
    evt_cycle: int       # cycle of its evt pulse


@dataclass
class JobResult:
    """Result of ``run_job``. ``z``, ``cycles`` and ``error`` are those of the last job run."""
    z: np.ndarray
    cycles: int
    error: int
    guard_ok: bool                   # no byte outside the Z matrices changed (also checked after
    guard_message: str = None        # an aborted job, before memory is restored)
    runs: list = field(default_factory=list)   # JobRun per offloaded job (the aborted one excluded)
    first_request: int = None        # cycles from the first job's trigger to its first TCDM request
    store_to_evt: int = None         # cycles from the last job's last store grant to its evt
    sim_cycles: int = 0              # cycles simulated in all (the driver's clock edges)
    sim_seconds: float = 0.0         # wall-clock seconds of the simulation proper (no build, no set-up)
    reads: int = 0                   # accepted TCDM reads / writes, refused request cycles
    writes: int = 0
    refused: int = 0
    regs: list = field(default_factory=list)    # the job registers programmed, per job

    @property
    def ok(self):
        return self.error == JobError.OK


class _Allocator:
    """Places byte regions one after the other with guard gaps; start offsets inside a word vary
    (seeded) when the port supports element-aligned rows."""

    def __init__(self, rng, misaligned):
        self.rng = rng
        self.misaligned = misaligned
        self.top = GUARD_BYTES

    def take(self, nbytes, elem_bytes):
        addr = (self.top + 3) & ~3
        if self.misaligned:
            addr += self.rng.choice(range(0, 4, elem_bytes))
        self.top = addr + nbytes + GUARD_BYTES
        return addr


def _footprint(rows, cols, es, pitch):
    return (rows - 1) * pitch + cols * es


def _check_inputs(op, x, w, y, fin, fout):
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0] or 0 in x.shape + w.shape:
        raise ValueError(f"x (M x N) and w (N x K) must be non-empty matrices with matching N, got "
                         f"{x.shape} and {w.shape}")
    M, N = x.shape
    K = w.shape[1]
    dim_max = (1 << DIM_BITS) - 1
    if max(M, N, K) > dim_max:
        raise ValueError(f"M, N and K must be at most {dim_max}, got {M}, {N}, {K}")
    for name, a, f in (("x", x, fin), ("w", w, fin)):
        if a.dtype.kind not in "iu" or a.min() < 0 or a.max() >= 1 << f.width:
            raise ValueError(f"{name} must hold {f.name} bit patterns")
    if op.uses_y:
        if y is None:
            raise ValueError(f"op {op.name.lower()} needs y (M x K = {M} x {K})")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (M, K) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= 1 << fout.width:
            raise ValueError(f"y must be an M x K = {M} x {K} matrix of {fout.name} bit patterns")
    return x, w, (None if y is None else y), M, N, K


def run_job(config, op, x, w, y=None, *, in_fmt="fp16", out_fmt=None, stall=0.0, latency=1, seed=0,
            strides=None, y_sep=False, queue=1, abort_after=None, max_cycles=None, vcd=None,
            backend="amaranth", verilog_flow=None, backend_options=None):
    """Compute GEMM-Op ``op`` on the accelerator; returns a ``JobResult``.

    Arguments as ``redmule_hdl.golden.gemm_op``: ``x`` (M x N) and ``w`` (N x K) are ``in_fmt`` bit
    patterns, ``y`` (M x K, required unless op is matmul) is in ``out_fmt`` (default ``in_fmt``).

    stall:     probability that the memory refuses a request in a cycle (seeded by ``seed``).
    latency:   memory read latency in cycles (>= 1).
    seed:      memory contents, grant pattern and the byte offsets of the matrices inside their first
               word (varied only when ``config.misaligned``).
    strides:   ``(x, w, z)`` row pitches in bytes, ``0`` or ``None`` for dense (Y uses z's);
               the matrices are placed with those pitches.
    y_sep:     Y in its own region (MACFG.Y_SEP, Y_ADDR); otherwise Y is placed at Z and overwritten.
    queue:     offload the job this many times, each copy with its own Y/Z region; copies are
               programmed while the previous one runs (back to back through the job contexts).
    abort_after: first offload the job once more and SOFT_CLEAR it this many cycles after its
               trigger; the memory is checked (outside Z) and restored before the real jobs.
    max_cycles: time-out in cycles per job (default: generous, from the performance model).
    vcd:       a waveform file to write (amaranth backend only).
    backend:   "amaranth" (Amaranth's simulator) or "verilator" (``sim.verilator``: same register
               sequence, memory model and grant pattern, cycle-identical, much faster); see
               ``sim.backend``.
    verilog_flow: verilator backend only: how the simulated Verilog is made, "sim" (default) or
               "export" (see ``sim.verilator.FLOWS``).
    backend_options: further keyword arguments for the back end's constructor (e.g. ``cache_dir``,
               ``fast_edge`` or ``wrapper`` of ``sim.verilator.VerilatorBench``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    options = dict(backend_options or {})
    if verilog_flow is not None:
        if backend != "verilator":
            raise ValueError(f"verilog_flow is an option of the verilator backend, not of {backend!r}")
        options["flow"] = verilog_flow
    op = GemmOp.parse(op)
    fin = format_by_name(in_fmt)
    fout = format_by_name(out_fmt if out_fmt is not None else in_fmt)
    x, w, y, M, N, K = _check_inputs(op, x, w, y, fin, fout)
    if not isinstance(queue, int) or queue < 1:
        raise ValueError(f"queue must be an int >= 1, not {queue!r}")
    ies, oes = fin.bytes, fout.bytes
    xs, ws, zs = (0, 0, 0) if strides is None else tuple(s or 0 for s in strides)
    xp, wp, zp = xs or N * ies, ws or K * ies, zs or K * oes
    for name, pitch, row in (("x", xp, N * ies), ("w", wp, K * ies), ("z", zp, K * oes)):
        if pitch < row:
            raise ValueError(f"{name} stride {pitch} is smaller than a row of {row} bytes")

    rng = random.Random(seed)
    alloc = _Allocator(rng, config.misaligned)
    x_addr = alloc.take(_footprint(M, N, ies, xp), ies)
    w_addr = alloc.take(_footprint(N, K, ies, wp), ies)
    copies = []   # (z_addr, y_addr or None)
    for _ in range(queue):
        z_addr = alloc.take(_footprint(M, K, oes, zp), oes)
        y_addr = alloc.take(_footprint(M, K, oes, zp), oes) if y_sep else None
        copies.append((z_addr, y_addr))

    bench = make_backend(backend, config, alloc.top, stall=stall, latency=latency, seed=seed,
                         **options)
    mem = bench.mem
    mem.place_matrix(x_addr, x, fin, xp)
    mem.place_matrix(w_addr, w, fin, wp)
    if y is not None:
        for z_addr, y_addr in copies:
            mem.place_matrix(y_addr if y_sep else z_addr, y, fout, zp)
    mem.snapshot()
    initial = mem.mem.copy()
    z_regions = [r for z_addr, _ in copies for r in mem.matrix_regions(z_addr, (M, K), fout, zp)]

    regs = [job_registers(x_addr=x_addr, w_addr=w_addr, z_addr=z_addr, y_addr=y_addr, m=M, n=N, k=K,
                          op=op, in_fmt=fin, out_fmt=None if out_fmt is None else fout,
                          x_stride=xs, w_stride=ws, z_stride=zs)
            for z_addr, y_addr in copies]
    if max_cycles is None:
        bound = config.compute_bound(M, N, K) + config.port_bound(M, N, K, uses_y=op.uses_y)
        max_cycles = int((4 * bound + 500) * (latency + 1) / (1.0 - stall))
    state = {"guard": None, "runs": []}

    def guard():
        try:
            mem.guard_check(z_regions)
        except AssertionError as e:
            return str(e)
        return None

    async def script(ctx, d):
        await d.soft_clear(ctx)
        if abort_after is not None:
            await d.acquire(ctx)
            await d.program(ctx, regs[0])
            await d.trigger(ctx)
            await d.idle(ctx, abort_after)
            if d.evt_cycles:
                raise AssertionError(f"the job to abort finished before abort_after={abort_after}")
            mem.check_stability = False     # the soft clear may withdraw a waiting request
            await d.soft_clear(ctx)
            state["clear"] = d.last_accept
            await d.idle(ctx, latency + 4)  # reads in flight return, the streamer drains
            mem.check_stability = True
            if d.evt_cycles:
                raise AssertionError("evt after a soft clear")
            if await d.read(ctx, Reg.STATUS) != 0:
                raise AssertionError("STATUS != 0 after a soft clear")
            state["guard"] = guard()
            mem.mem[:] = initial
        triggers = []
        n_evt = len(d.evt_cycles)

        async def collect():
            # CYCLES and ERROR of the next finished job; read before the following job's evt.
            j = len(state["runs"])
            cycles = await d.read(ctx, Reg.CYCLES)
            error = await d.read(ctx, Reg.ERROR)
            state["runs"].append((cycles, error, triggers[j], d.evt_cycles[n_evt + j]))

        for r in regs:
            await d.acquire(ctx, max_polls=max_cycles * len(regs))
            await d.program(ctx, r)
            triggers.append(await d.trigger(ctx))
            while len(state["runs"]) < len(d.evt_cycles) - n_evt:
                await collect()
        while len(state["runs"]) < len(regs):
            if len(d.evt_cycles) - n_evt <= len(state["runs"]):
                await d.wait_evt(ctx, timeout=max_cycles)
            await collect()

    bench.run(script, vcd=vcd)

    message = state["guard"] or guard()
    if abort_after is not None:
        # SOFT_CLEAR accepted in cycle t aborts in t + 1: no request may be raised from t + 2 until
        # the next job's trigger (a rise of req, or an accepted request while req stayed high).
        lo, hi = state["clear"] + 2, state["runs"][0][2]
        late = sorted({c for c, *_ in mem.log if lo <= c < hi} | {c for c in bench.req_rises
                                                                  if lo <= c < hi})
        if late:
            raise AssertionError(f"TCDM requests after the soft clear (accepted in cycle "
                                 f"{state['clear']}): cycles {late[:8]}")
    runs = []
    for (z_addr, _), (cycles, error, t, e) in zip(copies, state["runs"]):
        z = mem.read_matrix(z_addr, (M, K), fout, zp)
        runs.append(JobRun(z=z, cycles=cycles, error=error, trigger_cycle=t, evt_cycle=e))
    last = runs[-1]
    first_trigger = runs[0].trigger_cycle
    rises = [c for c in bench.req_rises if c >= first_trigger]
    stores = [c for c, kind, *_ in mem.log if kind == "w" and c <= last.evt_cycle]
    return JobResult(
        z=last.z, cycles=last.cycles, error=last.error, guard_ok=message is None,
        guard_message=message, runs=runs,
        first_request=rises[0] - first_trigger if rises and runs[0].error == 0 else None,
        store_to_evt=last.evt_cycle - stores[-1] if stores and last.error == 0 else None,
        sim_cycles=bench.cycles, sim_seconds=bench.seconds, reads=mem.reads, writes=mem.writes, refused=mem.refused,
        regs=regs)
