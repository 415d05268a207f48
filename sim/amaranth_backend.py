"""The Amaranth-simulator back end (``backend="amaranth"``): exact, slow, with waveforms.

``AmaranthBench`` is also the bench for tests that script the peripheral port themselves.
"""
import time

from redmule_hdl.config import Config

from .backend import job_memory
from .driver import PeriphDriver

__all__ = ["AmaranthBench"]


class AmaranthBench:
    """A ``RedMulE`` in Amaranth's simulator with a TCDM memory model and a peripheral driver; a
    ``sim.backend.Backend``.

    Build it, place data in ``self.mem`` (a ``TcdmMemory``, see ``sim.backend.job_memory``), then
    ``run(script)`` where ``script`` is an ``async def script(ctx, driver)`` testbench coroutine
    (``ctx`` is Amaranth's testbench context, ``driver`` a ``PeriphDriver``). A background monitor
    records the cycles in which ``tcdm.req`` rises (``req_rises``); the memory keeps a log of accepted
    requests (``mem.log``). ``run(script, vcd=path)`` also writes a waveform file.
    """

    def __init__(self, config, mem_size, *, stall=0.0, latency=1, seed=0):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        from redmule_hdl.system.top import RedMulE
        self.config = config
        self.dut = RedMulE(config)
        self.mem = job_memory(config, mem_size, stall=stall, latency=latency, seed=seed)
        self.req_rises = []
        self.cycles = 0
        self.seconds = 0.0

    def run(self, script, *, vcd=None):
        from amaranth.sim import Simulator
        t0 = time.monotonic()
        dut = self.dut
        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(self.mem.process(dut.tcdm), background=True)
        driver = PeriphDriver(dut.periph, evt=dut.evt)

        async def monitor(ctx):
            cycle, last = 0, 0
            async for _, _, req in ctx.tick().sample(dut.tcdm.req):
                if req and not last:
                    self.req_rises.append(cycle)
                last = req
                cycle += 1

        async def main(ctx):
            await script(ctx, driver)
            self.cycles = driver.cycle

        sim.add_testbench(monitor, background=True)
        sim.add_testbench(main)
        if vcd:
            with sim.write_vcd(vcd):
                sim.run()
        else:
            sim.run()
        self.seconds = time.monotonic() - t0
        return driver
