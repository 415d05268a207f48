"""The Amaranth-simulator back end (``backend="amaranth"``): exact, slow, with waveforms.

``AmaranthBench`` is also the bench for tests that script the peripheral port themselves.
"""
import time
from collections import OrderedDict

from redmule_hdl.config import Config

from .backend import job_memory
from .driver import PeriphDriver
from .trace import check_trace, trim_vcd

__all__ = ["AmaranthBench", "AmaranthLive", "compiled_configs", "forget_compiled"]


class AmaranthBench:
    """A ``RedMulE`` in Amaranth's simulator with a TCDM memory model and a peripheral driver; a
    ``sim.backend.Backend``.

    Build it, place data in ``self.mem`` (a ``TcdmMemory``, see ``sim.backend.job_memory``), then
    ``run(script)`` where ``script`` is an ``async def script(ctx, driver)`` testbench coroutine
    (``ctx`` is Amaranth's testbench context, ``driver`` a ``PeriphDriver``). A background monitor
    records the cycles in which ``tcdm.req`` rises (``req_rises``); the memory keeps a log of accepted
    requests (``mem.log``). ``run(script, vcd=path)`` also writes a waveform file. Benches of equal
    ``Config``s share one design and its compiled simulator (reset before each run).
    """

    def __init__(self, config, mem_size, *, stall=0.0, latency=1, seed=0, write_responses=False):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        self.config = config
        self._compiled = _CompiledTop.of(config)
        self.dut = self._compiled.dut
        self.mem = job_memory(config, mem_size, stall=stall, latency=latency, seed=seed,
                              write_responses=write_responses)
        self.req_rises = []
        self.cycles = 0
        self.seconds = 0.0

    def run(self, script, *, vcd=None, trace=None, trace_window=None):
        """Run the job script; ``trace`` (or ``vcd``): a VCD file of the cycles ``trace_window`` (see
        ``sim.trace``)."""
        if vcd is not None and trace is not None:
            raise ValueError("give either vcd or trace, not both")
        name = "vcd" if vcd is not None else "trace"
        trace = check_trace(trace if vcd is None else vcd, trace_window, backend="amaranth", name=name)
        t0 = time.monotonic()
        dut = self.dut
        driver = PeriphDriver(dut.periph, evt=dut.evt, busy=dut.busy)
        self._compiled.run(self, script, driver, vcd=None if trace is None else str(trace.path))
        if trace is not None:
            trim_vcd(trace.path, trace.window)
        self.cycles = driver.cycle
        self.seconds = time.monotonic() - t0
        return driver

    def start(self, *, trace=None, trace_window=None):
        """An ``AmaranthLive``: this bench's design and memory in one simulation that stays alive
        across scripts (``sim.session.Session``); use it instead of ``run``. ``trace``,
        ``trace_window``: a VCD file of the session's cycles, as for ``run``."""
        return AmaranthLive(self, trace=check_trace(trace, trace_window, backend="amaranth"))


def compiled_configs():
    """The ``Config``s whose compiled design ``AmaranthBench`` keeps for reuse, least recently used
    first."""
    return list(_CompiledTop.cache)


def forget_compiled():
    """Drop every compiled design: the next ``AmaranthBench`` of any ``Config`` compiles anew."""
    _CompiledTop.cache.clear()


class _CompiledTop:
    """One ``RedMulE`` of a ``Config`` in one Amaranth ``Simulator``, shared by every
    ``AmaranthBench`` of that ``Config``: compiling the design takes most of a short job's time, so
    each run starts from ``Simulator.reset()`` (every signal and memory back to its initial value,
    every testbench restarted) instead of a new simulator. The testbenches added once look up the
    bench, script and driver of the run in progress."""

    #: Compiled designs kept; the one used least recently goes first.
    KEEP = 4
    cache = OrderedDict()

    @classmethod
    def of(cls, config):
        compiled = cls.cache.pop(config, None) or cls(config)
        cls.cache[config] = compiled
        while len(cls.cache) > cls.KEEP:
            cls.cache.popitem(last=False)
        return compiled

    def __init__(self, config):
        from redmule_hdl.system.top import RedMulE
        self.dut = RedMulE(config)
        self._sim = None    # made at the first run (a bench may only ``start()`` a live one)
        self._run = None    # (bench, script, driver) of the run in progress

    def _simulator(self):
        from amaranth.sim import Simulator
        dut = self.dut
        sim = Simulator(dut)
        sim.add_clock(1e-6)

        async def memory(ctx):
            bench = self._run[0]
            await bench.mem.process(dut.tcdm)(ctx)

        async def monitor(ctx):
            bench = self._run[0]
            cycle, last = 0, 0
            async for _, _, req in ctx.tick().sample(dut.tcdm.req):
                if req and not last:
                    bench.req_rises.append(cycle)
                last = req
                cycle += 1

        async def main(ctx):
            _, script, driver = self._run
            await script(ctx, driver)

        sim.add_testbench(memory, background=True)
        sim.add_testbench(monitor, background=True)
        sim.add_testbench(main)
        return sim

    def run(self, bench, script, driver, *, vcd=None):
        if self._run is not None:
            raise RuntimeError(f"a bench of {bench.config} is already running (one run at a time)")
        if self._sim is None:
            self._sim = self._simulator()
        else:
            self._sim.reset()
        self._run = (bench, script, driver)
        try:
            if vcd:
                with self._sim.write_vcd(vcd):
                    self._sim.run()
            else:
                self._sim.run()
        finally:
            self._run = None


class AmaranthLive:
    """One ``RedMulE`` in one Amaranth ``Simulator`` that stays alive across job scripts (the live
    bench of ``sim.session.Session``); made by ``AmaranthBench.start()``.

    Amaranth 0.5 accepts no testbench once a simulation has advanced, so a single background
    testbench serves all scripts: ``call(script)`` hands it ``script`` and advances the simulation
    step by step until the script has returned. Between scripts the server waits in steps of
    ``POLL`` seconds, far below the clock period, so no clock edge passes between two scripts: a
    sequence of ``call``s sees exactly the cycles one script doing the same work would see.
    ``mem`` keeps its contents and statistics across calls (place data and read results between
    them); ``driver`` is the one ``PeriphDriver`` of the session (its ``cycle`` counts every edge).
    """

    #: Clock period and the server's polling step between scripts, in seconds.
    PERIOD = 1e-6
    POLL = 1e-12

    def __init__(self, bench, trace=None):
        from amaranth.sim import Simulator
        self.config = bench.config
        self._trace = trace
        self._writer = None
        self.mem = bench.mem
        dut = bench.dut
        self.driver = PeriphDriver(dut.periph, evt=dut.evt, busy=dut.busy)
        self._script = None
        self._done = True
        self._outcome = None
        self._sim = Simulator(dut)
        self._sim.add_clock(self.PERIOD)
        self._sim.add_testbench(self.mem.process(dut.tcdm), background=True)

        async def server(ctx):
            while True:
                while self._script is None:
                    await ctx.delay(self.POLL)
                script, self._script = self._script, None
                try:
                    self._outcome = (True, await script(ctx, self.driver))
                except Exception as e:    # handed to call()'s caller
                    self._outcome = (False, e)
                self._done = True

        self._sim.add_testbench(server, background=True)
        self.seconds = 0.0
        if trace is not None:
            self._writer = self._sim.write_vcd(str(trace.path))
            self._writer.__enter__()

    @property
    def cycle(self):
        """Clock edges simulated so far."""
        return self.driver.cycle

    def call(self, script):
        """Run ``async def script(ctx, driver)`` to its end on the live simulation; returns what it
        returns (or raises what it raised)."""
        if self._sim is None:
            raise RuntimeError("this live bench is closed")
        t0 = time.monotonic()
        self._script, self._done, self._outcome = script, False, None
        try:
            while not self._done:
                self._sim.advance()
        finally:
            self.seconds += time.monotonic() - t0
        ok, value = self._outcome
        if not ok:
            raise value
        return value

    def counts(self):
        """``(cycle, reads, writes, refused, busy_cycles)`` of the memory model so far."""
        m = self.mem
        return m.cycle, m.reads, m.writes, m.refused, m.busy_cycles

    def close(self):
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.__exit__(None, None, None)
            trim_vcd(self._trace.path, self._trace.window)
        self._sim = None

