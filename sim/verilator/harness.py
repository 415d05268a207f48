"""The process protocol of the Verilator harness (``harness.cpp``): start it, send commands, read
replies and its final statistics.

The harness runs one model with the memory as a file both processes map; each command is one line on
its stdin and gets one reply line (the command list is at the top of ``harness.cpp``). ``Harness``
wraps that: ``command(line)`` returns the reply's numbers or raises the error the harness reported
(``TcdmProtocolError``, ``TimeoutError``, ``AssertionError``); ``statistics()`` reads the memory
statistics, the request log and the cycles of ``req`` rises.
"""
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..memory import TcdmProtocolError

__all__ = ["Harness", "HarnessStatistics", "py_random_key", "shm_dir"]

_ERRORS = {"protocol": TcdmProtocolError, "timeout": TimeoutError, "assert": AssertionError}
_HEAD = 9   # uint64 words before the log in a dump


def py_random_key(seed):
    """The ``init_by_array`` key CPython derives from an int seed (``random.Random(seed)``), as the
    harness's command-line argument."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int for the verilator backend, not {seed!r}")
    n = abs(seed)
    words = []
    while True:
        words.append(n & 0xFFFF_FFFF)
        n >>= 32
        if not n:
            break
    return ",".join(str(w) for w in words)


def shm_dir():
    """A directory for the shared memory file: ``/dev/shm`` if usable, else the default temp dir."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@dataclass
class HarnessStatistics:
    """What the memory model of the harness counted: as the attributes of ``TcdmMemory`` of the same
    names, ``log`` as numpy records (cycle, add, write, be) and the cycles of ``req`` rises."""
    cycle: int
    reads: int
    writes: int
    refused: int
    busy_cycles: int
    log: np.ndarray
    req_rises: list

    def log_tuples(self):
        """``log`` as ``TcdmMemory.log`` tuples ``(cycle, "r"|"w", add, be)``."""
        kinds = np.where(self.log["write"] != 0, "w", "r").tolist()
        bes = [int.from_bytes(b, "little") for b in self.log["be"].tolist()]
        return list(zip(self.log["cycle"].tolist(), kinds, self.log["add"].tolist(), bes))


class Harness:
    """A running harness executable ``exe`` serving the memory file ``memfile`` as the bytes
    ``[base, base + size)``, with read ``latency``, refusal probability ``p_refuse`` and the grant and
    garbage generators of ``seed``, answering writes too if ``write_responses``. ``wrapper``: an argv
    prefix to run it under (e.g. ``["perf", "record", "-o", "perf.data"]`` to profile it). ``trace``:
    a file to write the trace of the harness's build into (``build(trace=...)`` chose its format),
    for the cycles ``window = (start, stop)`` (``stop`` None: to the end). Use as a context manager
    or call ``close()``."""

    def __init__(self, exe, memfile, *, base, size, latency, p_refuse, seed, write_responses=False,
                 wrapper=(), trace=None, window=(0, None)):
        args = [str(exe), str(memfile), str(base), str(size), str(latency), float(p_refuse).hex(),
                py_random_key(seed), py_random_key(seed ^ 0x5EED), str(int(bool(write_responses)))]
        if trace is not None:
            start, stop = window
            args += [os.fspath(trace), str(start), str(-1 if stop is None else stop)]
        self.proc = subprocess.Popen([*wrapper, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        reply = self.proc.stdout.readline()
        if not reply:
            code = self.proc.wait()
            raise RuntimeError(f"the Verilator harness died (exit {code}) on {line!r}")
        if reply.startswith("err "):
            _, kind, message = reply.rstrip("\n").split(" ", 2)
            raise _ERRORS.get(kind, RuntimeError)(message)
        return reply.split()[1:]

    def command(self, line):
        """Send one command line; returns the numbers of the reply (after ``ok``)."""
        return [int(v) for v in self._send(line)]

    def set_check_stability(self, value):
        """``TcdmMemory.check_stability`` of the harness's memory model."""
        self.command(f"stab {int(bool(value))}")

    def set_hold_r_data(self, value):
        """``TcdmMemory.hold_r_data`` of the harness's memory model."""
        self.command(f"hold {int(bool(value))}")

    def info(self):
        """``{"fast_edge": bool, "port_width": int}``: how the harness was built."""
        fast_edge, port_width = self.command("info")
        return {"fast_edge": bool(fast_edge), "port_width": port_width}

    def random(self, seed, n):
        """``n`` draws of ``random.Random(seed).random()`` computed by the harness."""
        return [float.fromhex(v) for v in self._send(f"rng {py_random_key(seed)} {n}")]

    def counts(self):
        """``(cycle, reads, writes, refused, busy_cycles)`` so far, without the log (cheap)."""
        return tuple(self.command("counts"))

    def forget(self):
        """Drop the request log and the ``req`` rises kept so far (a long session keeps none);
        returns the number of log entries dropped."""
        return self.command("forget")[0]

    def statistics(self):
        """The ``HarnessStatistics`` so far."""
        fd, path = tempfile.mkstemp(dir=shm_dir(), prefix="redmule-stats.")
        os.close(fd)
        try:
            self.command(f"dump {path}")
            raw = Path(path).read_bytes()
        finally:
            os.unlink(path)
        head = np.frombuffer(raw[:8 * _HEAD], dtype="<u8")
        cycle, reads, writes, refused, busy, n_log, n_rises, be_bytes, entry = (int(v) for v in head)
        dtype = np.dtype({"names": ["cycle", "add", "write", "be"],
                          "formats": ["<u8", "<u4", "<u4", f"V{be_bytes}"],
                          "offsets": [0, 8, 12, 16], "itemsize": entry})
        log = np.frombuffer(raw, dtype=dtype, count=n_log, offset=8 * _HEAD)
        rises = np.frombuffer(raw, dtype="<u8", count=n_rises, offset=8 * _HEAD + n_log * entry)
        return HarnessStatistics(cycle, reads, writes, refused, busy, log, rises.tolist())

    def close(self):
        """Ask the harness to quit (kill it if it does not)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
