"""A tiling runtime: any GEMM-Op of any size on one simulated accelerator, bit-exact.

``Runtime`` is the software a cluster core would run around RedMulE: it holds one simulated
accelerator with a TCDM of a given size (``sim.session.Session``, the Verilator back end by default)
and computes ``gemm_op(op, x, w, y)`` of any size by cutting it into jobs that fit the TCDM, placing
their operands, queueing them through the job contexts and reading the results back. All jobs of a
runtime run on the same simulator instance: no rebuild, no reset between jobs.

Exactness. ``golden.gemm_op`` folds the reduction over n strictly in order, starting from Y (or +0
for MATMUL), rounding every step once in FP16 and Z once to the output format. The runtime keeps
exactly that order: an output tile's reduction is split into n-chunks that run as consecutive jobs
on the same Z tile in TCDM (Y at Z's address), so each job's Z is the next job's Y; only the first
chunk of a MATMUL starts from +0, the later chunks run as GEMM. Partial results are FP16: when the
output format is FP8 and the reduction is split, the jobs write FP16 (the first chunk's Y is widened
from FP8 in software, exactly) and the runtime rounds once to FP8 at the end, in software; an
unsplit reduction writes FP8 directly. So every ``Z`` is bit for bit ``golden.gemm_op`` on the whole
problem, for every op (the min/max ops fold the same way).

Transposes. ``transpose_x`` / ``transpose_w`` take X as N x M / W as K x N (what a backward pass
has: ``dY @ W.T``, ``X.T @ dY``); the engine has no transposed loads, so the runtime transposes in
software and counts that host work separately (``transposed``, ``host_seconds``).

Accounting. Each call returns a ``GemmResult`` with ``z``, ``cycles`` (sum of the jobs' CYCLES, the
engine's busy time), ``jobs``, per-job ``records`` and ``stats`` (``Stats``: jobs, cycles,
simulated cycles including register programming, useful FMAs, CE utilization, TCDM beats and bytes
moved through the engine's port, bytes the host copied in and out of TCDM, host transposes and
casts). ``Runtime.totals`` sums them over the runtime's life. Host copies and host work take no
simulated cycles (a DMA engine would overlap them).
"""
import time
from dataclasses import dataclass, field, fields

import numpy as np

from redmule_hdl.config import check_config, check_int
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import FP16
from redmule_hdl.spec.jobs import job_registers
from redmule_hdl.spec.ops import GemmOp
from redmule_hdl.spec.regmap import DIM_BITS, JobError

__all__ = ["Runtime", "GemmResult", "JobRecord", "Stats", "JobRefused", "DEFAULT_TCDM_BYTES"]

#: The default TCDM: 128 KiB, as a PULP cluster's.
DEFAULT_TCDM_BYTES = 128 * 1024
#: Smallest TCDM a runtime accepts (a 1 x 1 x 1 job needs a few bytes; this leaves room for rows).
MIN_TCDM_BYTES = 256
_DIM_MAX = (1 << DIM_BITS) - 1


class JobRefused(RuntimeError):
    """The accelerator refused a job: ``error`` is its ERROR code (``JobError``), ``job`` its index
    in the offload and ``regs`` its registers."""

    def __init__(self, error, job, regs):
        self.error = JobError(error)
        self.job = job
        self.regs = regs
        super().__init__(f"the accelerator refused job {job}: ERROR = {int(error)} "
                         f"({self.error.name})")


@dataclass
class Stats:
    """Work of one ``gemm_op`` call, or summed over several (``+``)."""
    calls: int = 0
    jobs: int = 0
    cycles: int = 0           # sum of CYCLES (engine busy: each job from leaving the queue to evt)
    sim_cycles: int = 0       # clock edges simulated (jobs, register programming, CYCLES/ERROR reads)
    fmas: int = 0             # useful multiply-accumulates (M * N * K per call)
    tcdm_reads: int = 0       # beats the engine read / wrote through its memory port
    tcdm_writes: int = 0
    port_bytes: int = 0       # bytes of those beats ((reads + writes) * port width / 8)
    host_bytes: int = 0       # bytes the host copied into and out of TCDM
    transposed: int = 0       # elements the host transposed
    host_cast: int = 0        # elements the host converted (FP8 <-> FP16 around a split reduction)
    host_seconds: float = 0.0  # wall time of the host's transposes and casts
    sim_seconds: float = 0.0   # wall time of the simulation proper
    peak: int = 0             # FMAs per cycle of the array (L * H), for utilization

    def __add__(self, other):
        out = Stats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                       if f.name != "peak"})
        out.peak = self.peak or other.peak
        return out

    @property
    def utilization(self):
        """Useful FMAs per CE and engine cycle: ``fmas / (L * H * cycles)``."""
        return self.fmas / (self.peak * self.cycles) if self.cycles and self.peak else 0.0


@dataclass
class JobRecord:
    """One job of a call: its place in the problem, shape, op and what the hardware reported."""
    m0: int
    n0: int
    k0: int
    m: int
    n: int
    k: int
    op: GemmOp
    cycles: int
    error: int

    @property
    def fmas(self):
        return self.m * self.n * self.k


@dataclass
class GemmResult:
    """Result of ``Runtime.gemm_op``: ``z`` (M x K bits of the output format), ``records`` (one
    ``JobRecord`` per job) and ``stats``."""
    z: np.ndarray
    records: list = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    @property
    def cycles(self):
        return self.stats.cycles

    @property
    def jobs(self):
        return self.stats.jobs

    @property
    def utilization(self):
        return self.stats.utilization


def _ceil(a, b):
    return -(-a // b)


def _round_up(a, b):
    return _ceil(a, b) * b


def _sizes(total, granule, limit, most=32):
    """Candidate tile sizes for a dimension of ``total``: ``ceil(total / t)`` rounded up to a
    multiple of ``granule`` for t = 1, 2, ... (distinct values, at most ``limit``)."""
    out = []
    for t in range(1, most + 1):
        s = min(_round_up(_ceil(total, t), granule), total, limit)
        if s not in out:
            out.append(s)
        if s <= granule:
            break
    if 1 not in out and total > 1:
        out.append(1)
    return out


def _chunks(total, size):
    return [(i, min(size, total - i)) for i in range(0, total, size)]


class Runtime:
    """One simulated ``RedMulE(config)`` with a TCDM of ``tcdm_bytes`` bytes; see the module
    docstring.

    backend: "verilator" (default) or "amaranth". ``stall``, ``latency``, ``seed`` and
    ``backend_options`` configure the memory model and the back end, as for ``sim.run_job``.
    ``trace``, ``trace_window``: a trace file (FST, VCD or SAIF by suffix) of the runtime's cycles,
    complete once it is closed (``sim.trace``). Use as a context manager, or call ``close()``.
    """

    def __init__(self, config, *, tcdm_bytes=DEFAULT_TCDM_BYTES, backend="verilator", stall=0.0,
                 latency=1, seed=0, backend_options=None, trace=None, trace_window=None):
        from redmule_hdl.sim.session import Session
        self.config = check_config(config)
        self.tcdm_bytes = check_int("tcdm_bytes", tcdm_bytes, MIN_TCDM_BYTES, 1 << 31)
        self.session = Session(config, self.tcdm_bytes, backend=backend, stall=stall,
                               latency=latency, seed=seed, backend_options=backend_options,
                               trace=trace, trace_window=trace_window)
        self.totals = Stats(peak=config.L * config.H)
        self._plans = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the simulator (idempotent)."""
        self.session.close()

    # ---- planning -----------------------------------------------------------------------------------
    def _pitch(self, cols, es):
        row = cols * es
        return row if self.config.misaligned else _round_up(row, 4)

    def _footprint(self, tm, tn, tk, ies, zes):
        return (tm * self._pitch(tn, ies) + tn * self._pitch(tk, ies) + tm * self._pitch(tk, zes)
                + 3 * 4)

    def _job_cost(self, m, n, k, uses_y, fin, zfmt):
        """Modelled cycles of one m x n x k job: max(C, B) plus its fixed cost (fill and drain,
        ``Schedule.fixed_cycles``; exact for a compute-bound job with 1-cycle memory)."""
        s = self.config.schedule(m, n, k, uses_y=uses_y)
        return max(s.compute_cycles, s.port_transfers(fin, zfmt)) + s.fixed_cycles(fin, zfmt)

    def _cost(self, M, N, K, tm, tn, tk, uses_y, fin, zfmt):
        """Modelled cycles of the whole problem with tiles tm x tn x tk (X and W stored as ``fin``,
        Y and Z as ``zfmt``)."""
        total = 0
        ms = _counts(M, tm)
        ns = _counts(N, tn)
        ks = _counts(K, tk)
        for m, cm in ms.items():
            for k, ck in ks.items():
                for i, (n, cn) in enumerate(ns.items()):
                    # The first chunk of a tile follows the op's own Y rule, later ones read Y.
                    with_y = self._job_cost(m, n, k, True, fin, zfmt)
                    total += cm * ck * cn * with_y
                    if i == 0 and not uses_y:
                        total -= cm * ck * (with_y - self._job_cost(m, n, k, False, fin, zfmt))
        return total

    def _plan(self, M, N, K, fin, zfmt, uses_y):
        """Tile sizes (tm, tn, tk): the cheapest by the performance model whose job fits half the
        TCDM (so a second job can be resident and queued behind it). X and W are stored as ``fin``,
        Y and Z as ``zfmt``."""
        key = (M, N, K, fin, zfmt, uses_y)
        if key in self._plans:
            return self._plans[key]
        ies, zes = fin.bytes, zfmt.bytes
        c = self.config
        budget = self.tcdm_bytes // 2
        best = None
        for tm in _sizes(M, c.L, _DIM_MAX):
            for tk in _sizes(K, c.D, _DIM_MAX):
                for tn in _sizes(N, c.H, _DIM_MAX, most=N):
                    if self._footprint(tm, tn, tk, ies, zes) <= budget:
                        break
                else:
                    continue
                cost = self._cost(M, N, K, tm, tn, tk, uses_y, fin, zfmt)
                if best is None or cost < best[0]:
                    best = (cost, (tm, tn, tk))
        if best is None:      # not even 1 x 1 x 1 fits half the memory (cannot happen above MIN)
            raise ValueError(f"tcdm_bytes={self.tcdm_bytes} is too small for any job")
        self._plans[key] = best[1]
        return best[1]

    # ---- the call -----------------------------------------------------------------------------------
    def gemm_op(self, op, x, w, y=None, *, in_fmt="fp16", out_fmt=None, transpose_x=False,
                transpose_w=False):
        """Z of GEMM-Op ``op`` computed on the accelerator; returns a ``GemmResult``.

        Same op, format and bit-pattern conventions as ``golden.gemm_op`` (X is M x N, W is N x K in
        ``in_fmt``; Y is M x K in ``out_fmt``, required unless op is matmul), and ``z`` is bit for
        bit ``golden.gemm_op(op, x, w, y, in_fmt=..., out_fmt=...)`` on the whole problem, of any size.
        ``transpose_x=True``: ``x`` is given as N x M (the runtime transposes it in software);
        ``transpose_w=True``: ``w`` is given as K x N. Bad arguments raise TypeError/ValueError
        before anything runs; a job the hardware refuses raises ``JobRefused`` with its ERROR code.
        """
        t_host = time.monotonic()
        transposed = 0
        for name, flag in (("transpose_x", transpose_x), ("transpose_w", transpose_w)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, not {flag!r}")
        if transpose_x or transpose_w:
            x, w = np.asarray(x), np.asarray(w)
            for name, a, flag in (("x", x, transpose_x), ("w", w, transpose_w)):
                if flag and a.ndim != 2:
                    raise ValueError(f"{name} must be a 2-D matrix, got shape {a.shape}")
            if transpose_x:
                x = np.ascontiguousarray(x.T)
                transposed += x.size
            if transpose_w:
                w = np.ascontiguousarray(w.T)
                transposed += w.size
        op, x, w, y, fin, fout = golden.check_operands(op, x, w, y, in_fmt=in_fmt, out_fmt=out_fmt)
        M, N = x.shape
        K = w.shape[1]
        tm, tn, tk = self._plan(M, N, K, fin, FP16 if fout.width == 8 else fout, op.uses_y)
        split = tn < N
        # Format of the jobs' Y and Z: FP16 partials when an FP8 output's reduction is split.
        zfmt = FP16 if (split and fout.width == 8) else fout
        reg_out = None if zfmt is fin else zfmt
        host_cast = 0
        if y is not None and op.uses_y and zfmt is not fout:
            y = golden.cast(y, fout, FP16)
            host_cast += y.size
        host_seconds = time.monotonic() - t_host

        stats = Stats(calls=1, fmas=M * N * K, transposed=transposed, peak=self.config.L * self.config.H)
        records = []
        z_full = np.zeros((M, K), np.uint16 if zfmt.width == 16 else np.uint8)
        s = self.session
        ies, zes = fin.bytes, zfmt.bytes
        # Job list in order: output tile (m, k), then its n-chunks.
        order = [(mi, ki, ni) for mi in _chunks(M, tm) for ki in _chunks(K, tk) for ni in _chunks(N, tn)]

        batch = _Batch(self.tcdm_bytes)
        pending = []     # (regs, record) of the batch

        def flush():
            if not pending:
                return
            done = s.offload([regs for regs, _ in pending])
            for i, (job, (regs, rec)) in enumerate(zip(done.jobs, pending)):
                rec.cycles, rec.error = job.cycles, job.error
                if job.error != JobError.OK:
                    raise JobRefused(job.error, len(records) - len(pending) + i, regs)
            stats.cycles += done.cycles
            stats.sim_cycles += done.sim_cycles
            stats.tcdm_reads += done.reads
            stats.tcdm_writes += done.writes
            stats.sim_seconds += done.seconds
            stats.jobs += len(pending)
            for (zm, zk), (addr, (m0, m), (k0, k)) in batch.z_tiles.items():
                z_full[m0:m0 + m, k0:k0 + k] = s.read_matrix(addr, (m, k), zfmt, self._pitch(k, zes))
                stats.host_bytes += m * k * zes
            pending.clear()
            batch.reset()

        def place(key, rows, cols, fmt, data_fn):
            es = fmt.bytes
            pitch = self._pitch(cols, es)
            nbytes = rows * pitch
            addr = batch.find(key)
            if addr is None:
                addr = batch.take(key, nbytes)
                if addr is None:
                    return None
                data = data_fn()
                if data is not None:
                    s.place_matrix(addr, data, fmt, pitch)
                    stats.host_bytes += rows * cols * es
            return addr

        for (m0, m), (k0, k), (n0, n) in order:
            first = n0 == 0
            job_op = op if first else (GemmOp.GEMM if op is GemmOp.MATMUL else op)
            for attempt in range(2):
                z_key = ("z", m0, k0)
                if first and op.uses_y:
                    z_data = lambda: y[m0:m0 + m, k0:k0 + k]               # noqa: E731
                elif first:
                    z_data = lambda: None                                  # noqa: E731
                else:
                    z_data = lambda: z_full[m0:m0 + m, k0:k0 + k]          # noqa: E731 (a partial)
                z_addr = place(z_key, m, k, zfmt, z_data)
                x_addr = None if z_addr is None else place(
                    ("x", m0, n0), m, n, fin, lambda: x[m0:m0 + m, n0:n0 + n])
                w_addr = None if x_addr is None else place(
                    ("w", n0, k0), n, k, fin, lambda: w[n0:n0 + n, k0:k0 + k])
                if w_addr is not None:
                    break
                if attempt:
                    raise AssertionError("a single job does not fit the TCDM")   # planned to fit
                flush()
            batch.z_tiles[(m0, k0)] = (z_addr, (m0, m), (k0, k))
            xp, wp, zp = self._pitch(n, ies), self._pitch(k, ies), self._pitch(k, zes)
            regs = job_registers(
                x_addr=x_addr, w_addr=w_addr, z_addr=z_addr, m=m, n=n, k=k, op=job_op, in_fmt=fin,
                out_fmt=reg_out, x_stride=0 if xp == n * ies else xp,
                w_stride=0 if wp == k * ies else wp, z_stride=0 if zp == k * zes else zp)
            rec = JobRecord(m0, n0, k0, m, n, k, job_op, 0, 0)
            records.append(rec)
            pending.append((regs, rec))
        flush()

        t_host = time.monotonic()
        z = z_full
        if zfmt is not fout:
            z = golden.cast(z_full, FP16, fout)
            host_cast += z.size
        stats.host_cast = host_cast
        stats.host_seconds = host_seconds + time.monotonic() - t_host
        stats.port_bytes = (stats.tcdm_reads + stats.tcdm_writes) * self.config.port_width // 8
        self.totals = self.totals + stats
        return GemmResult(z=z, records=records, stats=stats)


def _counts(total, size):
    """``{chunk size: how many}`` of ``total`` cut into chunks of ``size``."""
    full, rest = divmod(total, size)
    out = {size: full} if full else {}
    if rest:
        out[rest] = out.get(rest, 0) + 1
    return out


class _Batch:
    """Bump allocation of the TCDM for the operands of one batch of jobs (word-aligned regions)."""

    def __init__(self, size):
        self.size = size
        self.reset()

    def reset(self):
        self.top = 0
        self.regions = {}
        self.z_tiles = {}

    def find(self, key):
        return self.regions.get(key)

    def take(self, key, nbytes):
        addr = _round_up(self.top, 4)
        if addr + nbytes > self.size:
            return None
        self.top = addr + nbytes
        self.regions[key] = addr
        return addr
