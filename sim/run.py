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

from redmule_hdl.spec.jobs import job_registers
from redmule_hdl.spec.regmap import Reg

from .arguments import check_job_arguments, footprint
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


def run_job(config, op, x, w, y=None, *, in_fmt="fp16", out_fmt=None, stall=0.0, latency=1, seed=0,
            strides=None, y_sep=False, queue=1, abort_after=None, max_cycles=None, vcd=None,
            backend="amaranth", verilog_flow=None, backend_options=None, write_responses=None,
            trace=None, trace_window=None):
    """Compute GEMM-Op ``op`` on the accelerator; returns a ``JobResult``.

    Arguments as ``redmule_hdl.golden.gemm_op``: ``x`` (M x N) and ``w`` (N x K) are ``in_fmt`` bit
    patterns, ``y`` (M x K, required unless op is matmul) is in ``out_fmt`` (default ``in_fmt``).
    Every argument is checked before anything is built or simulated (``sim.arguments``): a
    TypeError or ValueError whose message starts with the argument's name, the same on every back end.

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
    trace:     a trace file to write, its format by suffix: FST or VCD waveforms, SAIF activity
               (the amaranth backend writes VCD only); see ``sim.trace``.
    trace_window: ``(start, stop)``: the cycles of the run the trace covers (stop None: to the end;
               default: the whole run).
    vcd:       another name of ``trace`` (the older one).
    backend:   "amaranth" (Amaranth's simulator) or "verilator" (``sim.verilator``: same register
               sequence, memory model and grant pattern, cycle-identical, much faster); see
               ``sim.backend``.
    verilog_flow: verilator backend only: how the simulated Verilog is made, "sim" (default) or
               "export" (see ``sim.verilator.FLOWS``).
    backend_options: further keyword arguments for the back end's constructor (e.g. ``cache_dir``,
               ``fast_edge`` or ``wrapper`` of ``sim.verilator.VerilatorBench``).
    write_responses: the memory model answers writes too (default: as ``config.write_responses``;
               a memory that answers writes behind a port that does not expect them gives wrong Z).
    """
    a = check_job_arguments(config, op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt, stall=stall,
                            latency=latency, seed=seed, strides=strides, y_sep=y_sep, queue=queue,
                            abort_after=abort_after, max_cycles=max_cycles, vcd=vcd, backend=backend,
                            verilog_flow=verilog_flow, backend_options=backend_options,
                            write_responses=write_responses, trace=trace, trace_window=trace_window)
    op, x, w, y, fin, fout, M, N, K = a.op, a.x, a.w, a.y, a.fin, a.fout, a.M, a.N, a.K
    stall, latency, seed, y_sep, queue = a.stall, a.latency, a.seed, a.y_sep, a.queue
    abort_after, max_cycles, trace, options = a.abort_after, a.max_cycles, a.trace, a.backend_options
    write_responses = a.write_responses
    ies, oes = fin.bytes, fout.bytes
    (xs, ws, zs), (xp, wp, zp) = a.strides, a.pitches

    rng = random.Random(seed)
    alloc = _Allocator(rng, config.misaligned)
    x_addr = alloc.take(footprint(M, N, ies, xp), ies)
    w_addr = alloc.take(footprint(N, K, ies, wp), ies)
    copies = []   # (z_addr, y_addr or None)
    for _ in range(queue):
        z_addr = alloc.take(footprint(M, K, oes, zp), oes)
        y_addr = alloc.take(footprint(M, K, oes, zp), oes) if y_sep else None
        copies.append((z_addr, y_addr))

    if write_responses is None:
        write_responses = config.write_responses
    bench = make_backend(backend, config, alloc.top, stall=stall, latency=latency, seed=seed,
                         write_responses=write_responses, **options)
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
        bound = config.compute_bound(M, N, K) + config.port_bound(M, N, K, uses_y=op.uses_y,
                                                                  in_fmt=fin, out_fmt=fout)
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
            trigger = d.last_accept
            await d.idle(ctx, abort_after)
            if not d.evt_cycles:
                await d.soft_clear(ctx)
                state["clear"] = d.last_accept
            # A job whose evt falls in (or before) the cycle of the accepted SOFT_CLEAR write has
            # finished: there is nothing left to abort.
            if d.evt_cycles and d.evt_cycles[0] <= state.get("clear", d.evt_cycles[0]):
                raise ValueError(f"abort_after={abort_after} does not abort the job: it finished "
                                 f"{d.evt_cycles[0] - trigger} cycles after its trigger, before the "
                                 f"soft clear took effect; use a smaller abort_after")
            # The request still waiting at the clear is granted, responses in flight return; only then
            # is the aborted job's memory traffic over.
            await d.wait_idle(ctx, timeout=max_cycles)
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

    if trace is None:
        bench.run(script)
    else:
        bench.run(script, trace=trace.path, trace_window=trace.window)

    message = state["guard"] or guard()
    if abort_after is not None:
        # SOFT_CLEAR accepted in cycle t aborts in t + 1: from t + 2 until the next job's trigger no
        # request may rise, and only the one request still waiting then may be accepted (req stayed
        # high since: the memory model checked that it did not change).
        lo, hi = state["clear"] + 2, state["runs"][0][2]
        accepted = sorted(c for c, *_ in mem.log if lo <= c < hi)
        late = sorted({c for c in bench.req_rises if lo <= c < hi} | set(accepted[1:]))
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
