"""A simulated accelerator that stays alive across jobs: ``Session``.

``run_job`` builds a back end, runs one job script and throws the model away. A ``Session`` keeps one
model and one TCDM memory model alive for as long as it is open, the way a cluster core sees its
accelerator: software places matrices in memory, ``offload``s a list of jobs through the job contexts
(programming the next job while one runs, as ``run_job(queue=n)`` does), reads CYCLES and ERROR after
each job's ``evt`` and reads the results back, again and again, with no rebuild and no reset in
between (one SOFT_CLEAR when the session opens, as the HAL does before its first job).

Both back ends keep the cycle-exact semantics of ``run_job``: the Verilator back end keeps one
harness process (``sim.verilator.VerilatorLive``), the Amaranth back end one ``Simulator``
(``sim.amaranth_backend.AmaranthLive``); successive ``offload`` calls continue the same clock, so the
same calls give the same CYCLES and the same bus traffic on both.

::

    with Session(Config(L=4, H=2, P=1), 4096, backend="verilator") as s:
        s.place_matrix(0x000, x)                       # FP16 bits, M x N
        s.place_matrix(0x400, w)                       # N x K
        regs = job_registers(x_addr=0x000, w_addr=0x400, z_addr=0x800, m=M, n=N, k=K, op="matmul")
        (job,) = s.offload([regs]).jobs
        z = s.read_matrix(0x800, (M, K))

Memory addresses are TCDM byte addresses ``0 .. mem_size - 1``; the model adds room for one
port-wide read past the end (as ``sim.backend.job_memory`` does). Data placement is host work and
takes no simulated cycles.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field

from redmule_hdl.config import check_config, check_int
from redmule_hdl.spec.formats import FORMAT_CODES, FP16
from redmule_hdl.spec.jobs import unpack_macfg, unpack_mcfg0, unpack_mcfg1
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import JOB_REGS, JobError, Reg

from .arguments import ADDRESS_SPACE, MAX_LATENCY, _backend_options, check_flag, check_probability, check_seed
from .backend import BACKENDS, make_backend
from .trace import check_trace

__all__ = ["Session", "SessionJob", "Offload"]


@dataclass
class SessionJob:
    """One offloaded job: its registers, and CYCLES and ERROR as read after its ``evt``."""
    regs: dict
    cycles: int          # CYCLES register: from the cycle the job left the queue to its evt
    error: int           # ERROR register read after its evt (this job's code)
    trigger_cycle: int   # session cycle of the accepted TRIGGER write
    evt_cycle: int       # session cycle of its evt pulse

    @property
    def ok(self):
        return self.error == JobError.OK


@dataclass
class Offload:
    """What one ``Session.offload`` did."""
    jobs: list = field(default_factory=list)   # SessionJob per job, in order
    sim_cycles: int = 0     # clock edges of the whole offload (programming, jobs, register reads)
    reads: int = 0          # TCDM beats read / written by the accelerator, refused request cycles
    writes: int = 0
    refused: int = 0
    seconds: float = 0.0    # wall time of the simulation proper

    @property
    def cycles(self):
        """Sum of the jobs' CYCLES."""
        return sum(j.cycles for j in self.jobs)


class Session:
    """``RedMulE(config)`` with a ``mem_size``-byte TCDM in one simulator that stays alive; see the
    module docstring.

    backend:  "verilator" (default) or "amaranth".
    stall, latency, seed, write_responses: the memory model, as for ``run_job``.
    backend_options: keywords of the back end (as ``run_job``'s; the Verilator ``wrapper`` is not
              supported by a session).
    trace, trace_window: a trace file of the session's cycles (FST, VCD or SAIF by suffix; the
              amaranth backend writes VCD only), complete once the session is closed; see ``sim.trace``.

    Arguments are checked as ``run_job`` checks them (``sim.arguments``). After a failure inside the
    simulation (a time-out, a bus protocol violation) the session is unusable and says so; close it.
    """

    def __init__(self, config, mem_size, *, backend="verilator", stall=0.0, latency=1, seed=0,
                 write_responses=None, backend_options=None, trace=None, trace_window=None):
        self.config = config = check_config(config)
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                             f"not {backend!r}")
        self.mem_size = check_int("mem_size", mem_size, 1, ADDRESS_SPACE - config.port_width // 8 - 64)
        stall = check_probability("stall", stall)
        self.latency = check_int("latency", latency, 1, MAX_LATENCY)
        self.stall = stall
        seed = check_seed(seed)
        if write_responses is None:
            write_responses = config.write_responses
        write_responses = check_flag("write_responses", write_responses)
        trace = check_trace(trace, trace_window, backend=backend)
        options = _backend_options(backend, backend_options, None)
        if options.get("wrapper"):
            raise ValueError("backend_options: a session does not run the harness under a wrapper")
        self.backend = backend
        self._live = None
        self._failed = None
        bench = make_backend(backend, config, mem_size, stall=stall, latency=latency, seed=seed,
                             write_responses=write_responses, **options)
        bench.mem.keep_log = False       # a long session keeps no request log
        self.mem = bench.mem
        self._live = bench.start(**({} if trace is None else
                                    {"trace": trace.path, "trace_window": trace.window}))

        async def clear(ctx, d):
            await d.soft_clear(ctx)

        self._call(clear)

    # ---- life cycle ---------------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the simulator (idempotent); ``mem`` keeps the final contents."""
        if self._live is not None:
            live, self._live = self._live, None
            live.close()

    @property
    def closed(self):
        return self._live is None

    @property
    def live(self):
        """The live bench every job of the session runs on (``AmaranthLive`` or ``VerilatorLive``);
        None once closed."""
        return self._live

    @property
    def cycle(self):
        """Clock edges simulated since the session opened."""
        self._check_open()
        return self._live.cycle

    @property
    def seconds(self):
        """Wall time of the simulation proper so far."""
        return 0.0 if self._live is None else self._live.seconds

    def counts(self):
        """``(cycle, reads, writes, refused, busy_cycles)`` of the memory model so far."""
        self._check_open()
        return tuple(int(v) for v in self._live.counts())

    def _check_open(self):
        if self._live is None:
            raise RuntimeError("the session is closed")
        if self._failed is not None:
            raise RuntimeError(f"the session failed earlier ({self._failed}); open a new one")

    def _call(self, script):
        self._check_open()
        try:
            return self._live.call(script)
        except Exception as e:
            self._failed = f"{type(e).__name__}: {e}"
            raise

    # ---- memory -------------------------------------------------------------------------------------
    def _range(self, addr, nbytes):
        addr = check_int("addr", addr, 0)
        if addr + nbytes > self.mem_size:
            raise ValueError(f"[{addr:#x}, {addr + nbytes:#x}) is outside the TCDM of "
                             f"{self.mem_size} bytes")
        return addr

    def write_bytes(self, addr, values):
        self._check_open()
        self.mem.write_bytes(self._range(addr, len(values)), values)

    def read_bytes(self, addr, nbytes):
        self._check_open()
        return self.mem.read_bytes(self._range(addr, nbytes), nbytes)

    def place_matrix(self, addr, bits, fmt="fp16", pitch=None):
        """Store a matrix of ``fmt`` bit patterns row-major, rows ``pitch`` bytes apart (default
        dense); see ``TcdmMemory.place_matrix``."""
        self._check_open()
        rows, cols = bits.shape
        es = 2 if bits.dtype.itemsize == 2 else 1
        pitch = cols * es if pitch is None else pitch
        self._range(addr, (rows - 1) * pitch + cols * es)
        self.mem.place_matrix(addr, bits, fmt, pitch)

    def read_matrix(self, addr, shape, fmt="fp16", pitch=None):
        self._check_open()
        return self.mem.read_matrix(addr, shape, fmt, pitch)

    # ---- jobs ---------------------------------------------------------------------------------------
    @staticmethod
    def _check_regs(i, regs):
        if not isinstance(regs, Mapping):
            raise TypeError(f"jobs[{i}] must be a dict {{Reg: value}} (spec.jobs.job_registers), "
                            f"not {regs!r}")
        out = {}
        for reg, value in regs.items():
            if reg not in JOB_REGS:
                raise ValueError(f"jobs[{i}] has {reg!r}, not a job register")
            out[Reg(reg)] = check_int(f"jobs[{i}][{Reg(reg).name}]", value, 0, (1 << 32) - 1)
        return out

    def _timeout(self, jobs):
        """A generous time-out in cycles for ``jobs`` (from the performance bounds)."""
        total = 0
        for regs in jobs:
            m, k = unpack_mcfg0(regs.get(Reg.MCFG0, 0))
            n = unpack_mcfg1(regs.get(Reg.MCFG1, 0))
            macfg = unpack_macfg(regs.get(Reg.MACFG, 0))
            uses_y = macfg.op in set(GemmOp) and GemmOp(macfg.op).uses_y
            # Transfers per beat depend on the formats (a refused code counts as FP16, the most).
            fin, fout = (FORMAT_CODES.get(code, FP16) for code in (macfg.in_fmt, macfg.out_fmt))
            bound = 0
            if min(m, n, k) > 0:
                bound = self.config.compute_bound(m, n, k) + self.config.port_bound(
                    m, n, k, uses_y=uses_y, in_fmt=fin, out_fmt=fout)
            total += 4 * bound + 500
        return int(total * (self.latency + 1) / (1.0 - self.stall))

    def offload(self, jobs, *, max_cycles=None):
        """Run ``jobs`` (a list of ``{Reg: value}``, e.g. from ``spec.jobs.job_registers``) in order
        through the job contexts; returns an ``Offload`` once the last one has finished.

        Each job is acquired, programmed and triggered as soon as a context is free (the next one is
        programmed while the current one runs); CYCLES and ERROR are read after each ``evt``. A job
        the hardware refuses is reported in its ``error``, not raised. ``max_cycles``: time-out of
        the whole offload (default: generous, from the performance bounds).
        """
        if isinstance(jobs, Mapping) or not hasattr(jobs, "__iter__"):
            raise TypeError(f"jobs must be a list of job register dicts, not {jobs!r}")
        jobs = [self._check_regs(i, r) for i, r in enumerate(jobs)]
        if not jobs:
            raise ValueError("jobs must hold at least one job")
        timeout = self._timeout(jobs) if max_cycles is None else check_int("max_cycles", max_cycles, 1)
        self._check_open()
        before = self.counts()
        seconds = self._live.seconds
        runs = []

        async def script(ctx, d):
            triggers = []
            n_evt = len(d.evt_cycles)

            async def collect():
                # CYCLES and ERROR of the next finished job; read before the following job's evt.
                j = len(runs)
                cycles = await d.read(ctx, Reg.CYCLES)
                error = await d.read(ctx, Reg.ERROR)
                runs.append(SessionJob(jobs[j], cycles, error, triggers[j], d.evt_cycles[n_evt + j]))

            for regs in jobs:
                await d.acquire(ctx, max_polls=timeout)
                await d.program(ctx, regs)
                triggers.append(await d.trigger(ctx))
                while len(runs) < len(d.evt_cycles) - n_evt:
                    await collect()
            while len(runs) < len(jobs):
                if len(d.evt_cycles) - n_evt <= len(runs):
                    await d.wait_evt(ctx, timeout=timeout)
                await collect()

        self._call(script)
        after = self.counts()
        return Offload(jobs=runs, sim_cycles=after[0] - before[0], reads=after[1] - before[1],
                       writes=after[2] - before[2], refused=after[3] - before[3],
                       seconds=self._live.seconds - seconds)
