"""The Verilator back end behind the job-script interface: ``VerilatorBench``, a ``sim.backend.Backend``.

A job script written for Amaranth's simulator (``async def script(ctx, driver)``) runs unchanged: each
driver coroutine (one register access, an ACQUIRE poll loop, a wait for ``evt``, idle cycles) is one
command to the harness, which does the cycles, and the memory model's contents live in a file both
processes map for the duration of the run (``TcdmMemory.served_by``). After the run the memory's
statistics and request log, ``req_rises``, ``cycles`` and ``seconds`` are those the harness reports.
"""
import tempfile
import time
from contextlib import contextmanager

import numpy as np

from ..backend import job_memory
from ..driver import PeriphDriver
from ..trace import check_trace
from .builder import build
from .harness import Harness, shm_dir

__all__ = ["VerilatorBench", "VerilatorLive", "harness_info", "harness_random"]


class _HarnessDriver(PeriphDriver):
    """``PeriphDriver`` whose bus work happens in the harness; same attributes and coroutines (their
    ``ctx`` is ignored)."""

    def __init__(self, harness):
        super().__init__(None, evt=None)
        self.h = harness

    def _do(self, line):
        value, self.cycle, last_accept, *evts = self.h.command(line)
        self.last_accept = None if last_accept < 0 else last_accept
        self.evt_cycles.extend(evts)
        return value

    async def access(self, ctx, offset, *, write, data=0, be=0xF):
        return self._do(f"access {int(offset)} {int(bool(write))} {int(data) & 0xFFFF_FFFF} {int(be)}")

    async def idle(self, ctx, cycles=1):
        self._do(f"idle {int(cycles)}")

    async def acquire(self, ctx, max_polls=100_000):
        return self._do(f"acquire {int(max_polls)}")

    async def wait_evt(self, ctx, count=1, timeout=1_000_000):
        return self._do(f"wait {int(count)} {int(timeout)}")

    async def wait_idle(self, ctx, timeout=1_000_000):
        return self._do(f"quiet {int(timeout)}")


class VerilatorBench:
    """``RedMulE(config)`` on Verilator with the TCDM memory model and peripheral driver of the
    harness; same constructor arguments, ``mem``, ``req_rises``, ``cycles``, ``seconds`` and
    ``run(script)`` as ``sim.amaranth_backend.AmaranthBench``. ``script(ctx, driver)`` gets
    ``ctx=None`` and may await only the driver's coroutines.

    Back-end options: ``flow``, ``cache_dir``, ``fast_edge`` (see ``sim.verilator.build``, which runs
    here if the executable is not built yet) and ``wrapper``, an argv prefix to run the harness under
    (e.g. ``["perf", "record", "-o", "perf.data"]``).
    """

    def __init__(self, config, mem_size, *, stall=0.0, latency=1, seed=0, write_responses=False,
                 flow=None, cache_dir=None, fast_edge=None, wrapper=()):
        self.config = config
        self.mem = job_memory(config, mem_size, stall=stall, latency=latency, seed=seed,
                              write_responses=write_responses)
        self.build = build(config, flow=flow, cache_dir=cache_dir, fast_edge=fast_edge)
        self._cache_dir = cache_dir
        self.wrapper = tuple(wrapper)
        self.req_rises = []
        self.cycles = 0
        self.seconds = 0.0

    def _traced(self, trace):
        """The executable for ``trace`` (a ``sim.trace.TraceRequest`` or None): a harness built to
        write its format, with the plain clock edge (the fast edge skips the model's bookkeeping of
        which signals changed, so the trace would show register changes a cycle late)."""
        if trace is None:
            return self.build.path
        return build(self.config, flow=self.build.flow, cache_dir=self._cache_dir, fast_edge=False,
                     trace=trace.kind).path

    def run(self, script, *, vcd=None, trace=None, trace_window=None):
        """Run the job script; ``trace``: a file (FST, VCD or SAIF by suffix, see ``sim.trace``) of the
        cycles ``trace_window``; ``vcd`` is the same as ``trace``."""
        trace = _trace_request(vcd, trace, trace_window)
        exe = self._traced(trace)
        mem = self.mem
        with tempfile.NamedTemporaryFile(dir=shm_dir(), prefix="redmule-mem.") as f:
            f.truncate(mem.size)
            f.flush()
            shared = np.memmap(f.name, dtype=np.uint8, mode="r+", shape=(mem.size,))
            try:
                t0 = time.monotonic()
                with Harness(exe, f.name, base=mem.base, size=mem.size,
                             latency=mem.read_latency, p_refuse=mem.p_refuse, seed=mem.seed,
                             write_responses=mem.write_responses, wrapper=self.wrapper,
                             **_trace_args(trace)) as harness, mem.served_by(harness, shared):
                    driver = _HarnessDriver(harness)
                    _run_to_end(script(None, driver))
                    self.cycles = driver.cycle
                    self.seconds = time.monotonic() - t0
                    stats = harness.statistics()
            finally:
                del shared
        mem.cycle, mem.reads, mem.writes, mem.refused, mem.busy_cycles = \
            stats.cycle, stats.reads, stats.writes, stats.refused, stats.busy_cycles
        if mem.keep_log:
            mem.log = stats.log_tuples()
        self.req_rises = stats.req_rises
        return driver

    def start(self, *, trace=None, trace_window=None):
        """A ``VerilatorLive``: one harness process on this bench's memory that stays alive across
        scripts (``sim.session.Session``); use it instead of ``run``. ``trace``, ``trace_window``: as
        for ``run``, over the cycles of the whole session."""
        return VerilatorLive(self, trace=_trace_request(None, trace, trace_window))


class VerilatorLive:
    """One harness process that stays alive across job scripts (the live bench of
    ``sim.session.Session``); made by ``VerilatorBench.start()``.

    The memory file stays mapped by both processes until ``close()``: ``mem`` is the shared array
    (place data and read results between calls), ``call(script)`` runs one ``async def script(ctx,
    driver)`` to its end on the running model and returns its value, ``counts()`` reads the memory
    statistics. The harness keeps no request log across calls (``Harness.forget`` after each), so a
    session of any length holds constant memory. Consecutive calls continue cycle for cycle, as one
    script doing the same work would.
    """

    def __init__(self, bench, trace=None):
        if bench.wrapper:
            raise ValueError("a live Verilator bench runs the harness without a wrapper")
        self.config = bench.config
        self.mem = mem = bench.mem
        self.seconds = 0.0
        self._file = tempfile.NamedTemporaryFile(dir=shm_dir(), prefix="redmule-mem.")
        self._served = None
        self.harness = None
        try:
            self._file.truncate(mem.size)
            self._file.flush()
            self._shared = np.memmap(self._file.name, dtype=np.uint8, mode="r+", shape=(mem.size,))
            self.harness = Harness(bench._traced(trace), self._file.name, base=mem.base, size=mem.size,
                                   latency=mem.read_latency, p_refuse=mem.p_refuse, seed=mem.seed,
                                   write_responses=mem.write_responses, **_trace_args(trace))
            self._served = mem.served_by(self.harness, self._shared)
            self._served.__enter__()
        except BaseException:
            self.close()
            raise
        self.driver = _HarnessDriver(self.harness)

    @property
    def cycle(self):
        """Clock edges simulated so far."""
        return self.driver.cycle

    def call(self, script):
        """Run ``async def script(ctx, driver)`` (awaiting only driver coroutines) to its end; returns
        what it returns."""
        if self.harness is None:
            raise RuntimeError("this live bench is closed")
        t0 = time.monotonic()
        try:
            return _run_for_value(script(None, self.driver))
        finally:
            self.harness.forget()
            self.seconds += time.monotonic() - t0

    def counts(self):
        """``(cycle, reads, writes, refused, busy_cycles)`` of the harness's memory model so far."""
        return self.harness.counts()

    def close(self):
        """Stop the harness; ``mem`` keeps the final contents in a private array."""
        if self._served is not None:
            served, self._served = self._served, None
            served.__exit__(None, None, None)
        if self.harness is not None:
            harness, self.harness = self.harness, None
            harness.close()
        if self._file is not None:
            self._shared = None
            f, self._file = self._file, None
            f.close()


def _trace_request(vcd, trace, trace_window):
    """The ``sim.trace.TraceRequest`` of ``run``'s arguments (``vcd`` is another name of ``trace``)."""
    if vcd is not None and trace is not None:
        raise ValueError("give either vcd or trace, not both")
    name = "vcd" if vcd is not None else "trace"
    return check_trace(trace if vcd is None else vcd, trace_window, backend="verilator", name=name)


def _trace_args(trace):
    return {} if trace is None else {"trace": trace.path, "window": trace.window}


def _run_for_value(coro):
    """Like ``_run_to_end``, returning the coroutine's value."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("the job script awaited something the verilator backend cannot provide "
                       "(only driver coroutines are supported)")


def _run_to_end(coro):
    """Run a coroutine that awaits only the harness driver's coroutines (which never suspend)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("the job script awaited something the verilator backend cannot provide "
                       "(only driver coroutines are supported)")


def harness_random(config, seed, n, **build_options):
    """``n`` draws of ``random.Random(seed).random()`` computed by the harness of ``config``
    (self-test of its generator); ``build_options`` as ``build``."""
    with _idle_harness(build(config, **build_options).path) as h:
        return h.random(seed, n)


def harness_info(config, **build_options):
    """How the harness of ``config`` was built (``Harness.info``); ``build_options`` as ``build``."""
    with _idle_harness(build(config, **build_options).path) as h:
        return h.info()


@contextmanager
def _idle_harness(exe):
    """A harness process on a small scratch memory, for queries."""
    with tempfile.NamedTemporaryFile(dir=shm_dir()) as f:
        f.truncate(4096)
        f.flush()
        with Harness(exe, f.name, base=0, size=4096, latency=1, p_refuse=0.0, seed=0) as h:
            yield h
