"""A TCDM memory model for testbenches: the accelerator's memory port, seen from the memory side.

``TcdmMemory`` is a byte memory (a numpy ``uint8`` array at a base address) that serves a
``TcdmSignature`` port from an async testbench process (``sim.add_testbench(mem.process(port),
background=True)``). It

* grants at random: with probability ``p_refuse`` a request is refused for a cycle;
* answers reads in order, ``read_latency`` (>= 1) cycles after the cycle in which they are accepted;
  with ``write_responses`` it answers writes too, in the same order and after the same latency, as a
  PULP TCDM or HCI memory does (``r_data`` of a write response is the written data inverted, so an
  initiator that takes it as read data computes wrong results);
* checks the initiator: a request waiting for ``gnt`` must stay raised and unchanged, addresses must
  be word aligned and every byte of an access inside the memory. A violation raises
  ``AssertionError`` naming the cycle, which ends the simulation.

Grant draw rule (so that another simulator back end can reproduce the same grant pattern from the
same seed): ``rng = random.Random(seed)``; the i-th cycle (i = 0, 1, ...) in which ``req`` is high
uses the i-th draw ``u_i = rng.random()`` and grants iff ``u_i >= p_refuse``. Cycles with ``req``
low draw nothing. (``gnt`` is driven before ``req`` is known, from the next undrawn value, so in a
cycle with ``req`` low ``gnt`` shows the decision the next request will get.)

Cycle convention: cycle ``c`` lies between clock edges ``c`` and ``c + 1``; edge 0 is the first edge
after the process starts. A read accepted in cycle ``c`` (``req & gnt``) is answered with ``r_valid``
high during cycle ``c + read_latency``, with the data as it was at its acceptance. A write accepted
in cycle ``c`` changes the memory at edge ``c + 1``. While ``r_valid`` is low, ``r_data`` carries
pseudo-random garbage (from a second generator), so an initiator that samples it then is caught.

Another simulator can serve the port instead of ``process`` (the Verilator back end does, in C++):
``with mem.served_by(server, array):`` hands it the contents (see ``TcdmMemory.served_by``). The port
protocol itself is described in ``docs/architecture.md`` ("Ports").
"""
import random
from collections import deque
from contextlib import contextmanager

import numpy as np

from redmule_hdl.spec.formats import format_by_name

__all__ = ["TcdmMemory", "TcdmProtocolError"]


class TcdmProtocolError(AssertionError):
    """The initiator broke the TCDM protocol (see ``docs/architecture.md``, "Ports")."""


class TcdmMemory:
    """Byte memory ``[base, base + size)`` behind a TCDM port; see the module docstring.

    Attributes (statistics, updated by the process): ``cycle`` (cycles simulated), ``reads``,
    ``writes`` (accepted requests), ``refused`` (cycles with ``req`` high and ``gnt`` low),
    ``busy_cycles`` (cycles with an accepted request), ``log`` (if ``keep_log``: one tuple
    ``(cycle, "r"|"w", add, be)`` per accepted request), ``check_stability`` (set to False to
    tolerate a withdrawn request, e.g. around a deliberate abort), ``hold_r_data`` (set to True to
    keep the last response on ``r_data`` between responses instead of garbage, as a memory with an
    output register does: activity runs for power use it, so that the engine is not charged for the
    model's garbage).
    """

    def __init__(self, size, *, base=0, read_latency=1, p_refuse=0.0, seed=0, keep_log=False,
                 write_responses=False):
        if isinstance(read_latency, bool) or not isinstance(read_latency, int) or read_latency < 1:
            raise ValueError(f"read_latency must be an int >= 1, not {read_latency!r}")
        if not 0.0 <= p_refuse < 1.0:
            raise ValueError(f"p_refuse must be in [0, 1), not {p_refuse!r}")
        if base % 4 or base < 0 or size <= 0:
            raise ValueError(f"base must be word aligned and size positive, not base={base!r}, "
                             f"size={size!r}")
        self.base = base
        self.size = size
        self.mem = np.zeros(size, dtype=np.uint8)
        self.read_latency = read_latency
        self.p_refuse = p_refuse
        self.seed = seed
        self.keep_log = keep_log
        self.write_responses = bool(write_responses)
        self._server = None
        self._check_stability = True
        self._hold_r_data = False
        self._snapshot = None
        self.cycle = 0
        self.reads = self.writes = self.refused = self.busy_cycles = 0
        self.log = []

    @property
    def check_stability(self):
        """Whether a request waiting for ``gnt`` must stay raised and unchanged (default True)."""
        return self._check_stability

    @check_stability.setter
    def check_stability(self, value):
        self._check_stability = bool(value)
        if self._server is not None:
            self._server.set_check_stability(self._check_stability)

    @property
    def hold_r_data(self):
        """Whether ``r_data`` keeps the last response between responses (default False: garbage)."""
        return self._hold_r_data

    @hold_r_data.setter
    def hold_r_data(self, value):
        self._hold_r_data = bool(value)
        if self._server is not None:
            self._server.set_hold_r_data(self._hold_r_data)

    @contextmanager
    def served_by(self, server, array):
        """Let ``server`` serve the port instead of ``process`` for the duration of the block.

        ``array`` (a writable ``uint8`` array of ``size`` bytes, e.g. a memory map shared with another
        process) becomes ``self.mem``, initialized from the current contents; ``server`` gets the
        current ``check_stability`` and ``hold_r_data`` and every later change of them through
        ``server.set_check_stability(bool)`` and ``server.set_hold_r_data(bool)``. The server keeps the statistics (``cycle``, ``reads``,
        ..., ``log``) up to date itself. On exit the contents are copied back into a private array.
        """
        if self._server is not None:
            raise RuntimeError("the memory is already served by another simulator")
        if array.shape != (self.size,) or array.dtype != np.uint8:
            raise ValueError(f"array must be {self.size} uint8 bytes, not {array.shape} {array.dtype}")
        array[:] = self.mem
        own, self.mem = self.mem, array
        self._server = server
        try:
            server.set_check_stability(self._check_stability)
            server.set_hold_r_data(self._hold_r_data)
            yield self
        finally:
            self._server = None
            own[:] = array
            self.mem = own

    # ---- byte access ------------------------------------------------------------------------------
    def _index(self, addr, nbytes):
        lo = addr - self.base
        if lo < 0 or lo + nbytes > self.size:
            raise IndexError(f"[{addr:#x}, {addr + nbytes:#x}) is outside the memory "
                             f"[{self.base:#x}, {self.base + self.size:#x})")
        return lo

    def write_bytes(self, addr, values):
        values = np.asarray(values, dtype=np.uint8).ravel()
        lo = self._index(addr, len(values))
        self.mem[lo:lo + len(values)] = values

    def read_bytes(self, addr, nbytes):
        lo = self._index(addr, nbytes)
        return self.mem[lo:lo + nbytes].copy()

    def fill_random(self, seed=0):
        """Fill the whole memory with random bytes (makes untouched-byte checks meaningful)."""
        self.mem[:] = np.random.default_rng(seed).integers(0, 256, self.size, dtype=np.uint8)

    # ---- matrices ------------------------------------------------------------------------------------
    @staticmethod
    def _elem_bytes(fmt):
        return format_by_name(fmt).width // 8

    def place_matrix(self, addr, bits, fmt="fp16", pitch=None):
        """Store a 2-D array of ``fmt`` bit patterns row-major, little-endian, rows ``pitch`` bytes apart
        (default: dense). Bytes between rows are left as they are."""
        es = self._elem_bytes(fmt)
        bits = np.asarray(bits)
        rows, cols = bits.shape
        pitch = cols * es if pitch is None else pitch
        if pitch < cols * es:
            raise ValueError(f"pitch {pitch} is smaller than a row of {cols * es} bytes")
        dtype = np.dtype("<u2") if es == 2 else np.dtype("u1")
        for r in range(rows):
            self.write_bytes(addr + r * pitch, bits[r].astype(dtype).view(np.uint8))

    def read_matrix(self, addr, shape, fmt="fp16", pitch=None):
        """The inverse of ``place_matrix``: a ``uint16`` (FP16) or ``uint8`` (FP8) array."""
        es = self._elem_bytes(fmt)
        rows, cols = shape
        pitch = cols * es if pitch is None else pitch
        dtype = np.dtype("<u2") if es == 2 else np.dtype("u1")
        out = np.empty(shape, dtype=np.uint16 if es == 2 else np.uint8)
        for r in range(rows):
            out[r] = self.read_bytes(addr + r * pitch, cols * es).view(dtype)
        return out

    def matrix_regions(self, addr, shape, fmt="fp16", pitch=None):
        """The byte ranges ``(addr, nbytes)`` of a matrix's rows (for ``guard_check``)."""
        es = self._elem_bytes(fmt)
        rows, cols = shape
        pitch = cols * es if pitch is None else pitch
        return [(addr + r * pitch, cols * es) for r in range(rows)]

    # ---- guards ------------------------------------------------------------------------------------------
    def snapshot(self):
        """Remember the memory contents for ``guard_check``."""
        self._snapshot = self.mem.copy()

    def guard_check(self, regions):
        """Raise ``AssertionError`` if any byte outside ``regions`` (``(addr, nbytes)`` pairs) changed
        since ``snapshot()``."""
        if self._snapshot is None:
            raise RuntimeError("guard_check() needs a snapshot() taken before the run")
        writable = np.zeros(self.size, dtype=bool)
        for addr, nbytes in regions:
            lo = self._index(addr, nbytes)
            writable[lo:lo + nbytes] = True
        changed = np.flatnonzero((self.mem != self._snapshot) & ~writable)
        if changed.size:
            first = changed[:8]
            detail = ", ".join(f"{self.base + i:#x}: {self._snapshot[i]:#04x} -> {self.mem[i]:#04x}"
                               for i in first)
            raise AssertionError(f"{changed.size} byte(s) outside the writable regions changed: "
                                 f"{detail}{' ...' if changed.size > len(first) else ''}")

    # ---- the bus process ---------------------------------------------------------------------------
    def process(self, port):
        """An async testbench process serving ``port`` (a ``TcdmSignature`` interface of the DUT)."""
        if self._server is not None:
            raise RuntimeError("the memory is served by another simulator (see served_by)")
        nbytes = len(port.data) // 8
        if len(port.be) != nbytes or len(port.r_data) != len(port.data):
            raise ValueError("port widths do not match: data, be and r_data must agree")
        all_ones = (1 << len(port.data)) - 1

        async def process(ctx):
            rng = random.Random(self.seed)
            garbage = random.Random(self.seed ^ 0x5EED)
            draw = rng.random()
            responses = deque()       # (cycle due, data) in order
            waiting = None            # the ungranted request of the previous cycle
            ctx.set(port.gnt, draw >= self.p_refuse)
            ctx.set(port.r_valid, 0)
            ctx.set(port.r_data, garbage.getrandbits(len(port.r_data)))
            async for _, _, req, gnt, add, wen, be, wdata in ctx.tick().sample(
                    port.req, port.gnt, port.add, port.wen, port.be, port.data):
                c = self.cycle   # the cycle that just ended
                if waiting is not None and self.check_stability:
                    now = (add, wen, be, wdata) if not wen else (add, wen)
                    if not req:
                        raise TcdmProtocolError(f"cycle {c}: request {_show(waiting)} withdrawn "
                                                f"before it was granted")
                    if now != waiting:
                        raise TcdmProtocolError(f"cycle {c}: request changed while waiting for "
                                                f"gnt: {_show(waiting)} -> {_show(now)}")
                waiting = None
                if req:
                    draw = rng.random()   # the draw for the next cycle with req high
                    if add % 4:
                        raise TcdmProtocolError(f"cycle {c}: address {add:#x} is not word aligned")
                    if wen:
                        self._index_checked(c, add, nbytes, "read")
                    elif be:
                        lo_byte = (be & -be).bit_length() - 1
                        hi_byte = be.bit_length()
                        self._index_checked(c, add + lo_byte, hi_byte - lo_byte, "write")
                    if gnt:
                        self.busy_cycles += 1
                        if self.keep_log:
                            self.log.append((c, "r" if wen else "w", add, be))
                        if wen:
                            self.reads += 1
                            raw = self.read_bytes(add, nbytes)
                            responses.append((c + self.read_latency,
                                              int.from_bytes(raw.tobytes(), "little")))
                        else:
                            self.writes += 1
                            self._write(add, be, wdata, nbytes)
                            if self.write_responses:
                                responses.append((c + self.read_latency, ~wdata & all_ones))
                    else:
                        self.refused += 1
                        waiting = (add, wen, be, wdata) if not wen else (add, wen)
                self.cycle = c + 1
                # Drive the new cycle.
                ctx.set(port.gnt, draw >= self.p_refuse)
                if responses and responses[0][0] == self.cycle:
                    ctx.set(port.r_valid, 1)
                    ctx.set(port.r_data, responses.popleft()[1] & all_ones)
                else:
                    ctx.set(port.r_valid, 0)
                    if not self._hold_r_data:
                        ctx.set(port.r_data, garbage.getrandbits(len(port.r_data)))
        return process

    def _index_checked(self, cycle, addr, nbytes, what):
        lo = addr - self.base
        if lo < 0 or lo + nbytes > self.size:
            raise TcdmProtocolError(
                f"cycle {cycle}: {what} of [{addr:#x}, {addr + nbytes:#x}) is outside the memory "
                f"[{self.base:#x}, {self.base + self.size:#x})")

    def _write(self, add, be, wdata, nbytes):
        data = np.frombuffer(int(wdata).to_bytes(nbytes, "little"), dtype=np.uint8)
        enabled = np.array([i for i in range(nbytes) if (be >> i) & 1], dtype=np.int64)
        self.mem[add - self.base + enabled] = data[enabled]


def _show(request):
    if request[1]:
        return f"read {request[0]:#x}"
    add, _, be, data = request
    return f"write {add:#x} be={be:#x} data={data:#x}"
