"""Peripheral-port driver for Amaranth testbenches: register accesses and the original HAL's job sequence.

All coroutines take the testbench context ``ctx`` of ``Simulator.add_testbench``. They count the
cycles they spend in ``PeriphDriver.cycle`` (clock edges since the driver was created and first used),
so a test can relate register values (CYCLES) to the cycles it observed. The Verilator back end
offers the same coroutines with the bus work done in its C++ harness (``sim.verilator.adapter``), so a
job script runs unchanged on either back end.
"""
from redmule_hdl.spec.regmap import ACQUIRE_NONE, JOB_REGS, Reg

__all__ = ["PeriphDriver"]


class PeriphDriver:
    """Drives a ``PeriphSignature`` port (the accelerator's ``periph``) and watches ``evt``.

    ``port`` is the DUT's peripheral port; ``evt`` an optional one-bit signal pulsed per finished job;
    ``busy`` the accelerator's ``busy`` output, for ``wait_idle``.
    Timing: a request is held until granted; the response is taken one cycle after acceptance (and
    checked: ``r_valid`` and ``r_id`` must match). The next request starts in that same cycle, so
    accesses are back to back (one per cycle) when the target grants at once.
    """

    def __init__(self, port, evt=None, busy=None):
        self.port = port
        self.evt = evt
        self.busy = busy
        self.cycle = 0          # clock edges seen by this driver
        self.last_accept = None  # cycle in which the last request was accepted
        self.evt_cycles = []     # cycles in which evt was seen high (while the driver was ticking)
        self._id = 0

    async def _tick(self, ctx, *signals):
        values = await ctx.tick().sample(*signals, *((self.evt,) if self.evt is not None else ()))
        # ``tick().sample`` returns (clk, rst, *signals): the values just before the edge.
        values = values[2:]
        if self.evt is not None:
            if values[-1]:
                self.evt_cycles.append(self.cycle)
            values = values[:-1]
        self.cycle += 1
        return values

    async def idle(self, ctx, cycles=1):
        for _ in range(cycles):
            await self._tick(ctx)

    async def access(self, ctx, offset, *, write, data=0, be=0xF):
        """One bus transaction; returns the read data (0 for writes)."""
        p = self.port
        self._id = (self._id + 1) & ((1 << len(p.id)) - 1)
        ctx.set(p.req, 1)
        ctx.set(p.add, int(offset))
        ctx.set(p.wen, 0 if write else 1)
        ctx.set(p.data, int(data) & 0xFFFF_FFFF)
        ctx.set(p.be, be)
        ctx.set(p.id, self._id)
        while True:
            gnt, = await self._tick(ctx, p.gnt)
            if gnt:
                break
        self.last_accept = self.cycle - 1
        ctx.set(p.req, 0)
        if not ctx.get(p.r_valid):
            raise AssertionError(f"no r_valid one cycle after the request to 0x{int(offset):02X}")
        if ctx.get(p.r_id) != self._id:
            raise AssertionError(f"r_id {ctx.get(p.r_id)} != id {self._id}")
        return ctx.get(p.r_data)

    async def read(self, ctx, offset):
        return await self.access(ctx, offset, write=False)

    async def write(self, ctx, offset, value, be=0xF):
        await self.access(ctx, offset, write=True, data=value, be=be)

    async def acquire(self, ctx, max_polls=100_000):
        """Poll ACQUIRE until a context is granted; returns its id."""
        for _ in range(max_polls):
            ident = await self.read(ctx, Reg.ACQUIRE)
            if ident != ACQUIRE_NONE:
                return ident
        raise TimeoutError(f"ACQUIRE returned -1 for {max_polls} polls")

    async def program(self, ctx, regs):
        """Write job registers ``{Reg: value}`` (in the given order)."""
        for reg, value in regs.items():
            if reg not in JOB_REGS:
                raise ValueError(f"{reg!r} is not a job register")
            await self.write(ctx, reg, value)

    async def trigger(self, ctx):
        """Write 0 to TRIGGER; returns the cycle in which the write was accepted."""
        await self.write(ctx, Reg.TRIGGER, 0)
        return self.last_accept

    async def wait_evt(self, ctx, count=1, timeout=1_000_000):
        """Tick until ``count`` more evt pulses were seen; returns the cycle of the last one."""
        target = len(self.evt_cycles) + count
        start = self.cycle
        while len(self.evt_cycles) < target:
            if self.cycle - start > timeout:
                raise TimeoutError(f"no evt within {timeout} cycles")
            await self._tick(ctx)
        return self.evt_cycles[target - 1]

    async def wait_idle(self, ctx, timeout=1_000_000):
        """Tick until ``busy`` is low (nothing queued or running, no memory request or response
        outstanding); returns the first cycle in which it is."""
        if self.busy is None:
            raise RuntimeError("this driver watches no busy signal")
        start = self.cycle
        while ctx.get(self.busy):
            if self.cycle - start > timeout:
                raise TimeoutError(f"busy still high after {timeout} cycles")
            await self._tick(ctx)
        return self.cycle

    async def soft_clear(self, ctx, value=0):
        await self.write(ctx, Reg.SOFT_CLEAR, value)

    async def offload(self, ctx, regs, *, clear=True, timeout=1_000_000):
        """The original HAL's sequence: soft clear, poll ACQUIRE, program ``regs``, trigger, wait evt.

        Returns ``(trigger_cycle, evt_cycle)``.
        """
        if clear:
            await self.soft_clear(ctx)
        await self.acquire(ctx)
        await self.program(ctx, regs)
        t = await self.trigger(ctx)
        e = await self.wait_evt(ctx, timeout=timeout)
        return t, e
