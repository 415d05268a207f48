"""Trace files of a simulation: waveforms (FST, VCD) and switching activity (SAIF).

Every simulation entry point (``run_job``, ``sim.session.Session``, ``redmule_hdl.runtime.Runtime``, the
CLI's ``--trace``) takes ``trace=PATH`` and ``trace_window=(start, stop)``: the format follows the
suffix (``TRACE_SUFFIXES``), the window is in cycles of the run (cycle c ends at clock edge c, as
everywhere in ``sim``; ``stop`` None: to the end of the run), so a long job can write only the cycles
of interest. Both back ends write the same times: a 1 us clock period, cycle c's inputs at c us (clock
low) and its rising edge at c + 0.5 us, as Amaranth's simulator writes them.

* ``"verilator"`` writes all three formats (a harness build per format, ``sim.verilator.build``); the
  signals are those of the flattened Verilog (``sim.verilator.flows``): the top-level ports under
  ``TOP`` and the design's signals under ``TOP.redmule_top``, block signals with their Amaranth path in
  the name (``engine.ce_0_0.fma...``).
* ``"amaranth"`` writes VCD only (Amaranth's ``write_vcd``: signals under ``bench.top``, blocks as
  scopes); the window is cut out of the file after the run (``trim_vcd``).

``check_trace`` checks the arguments before anything is built or simulated.
"""
import numbers
import os
import re
from fractions import Fraction
from pathlib import Path

__all__ = ["TRACE_SUFFIXES", "TraceRequest", "check_trace", "trim_vcd", "PERIOD_PS", "edge_time"]

#: Suffix -> trace kind.
TRACE_SUFFIXES = {".fst": "fst", ".vcd": "vcd", ".saif": "saif"}
#: The clock period written into trace files, in ps.
PERIOD_PS = 1_000_000


def edge_time(cycle):
    """Time (ps) of the rising clock edge that ends ``cycle`` in a trace file."""
    return cycle * PERIOD_PS + PERIOD_PS // 2


class TraceRequest:
    """A checked ``trace=``/``trace_window=`` pair: ``path`` (a ``Path``), ``kind`` ("fst", "vcd" or
    "saif") and ``window`` ``(start, stop)`` (``stop`` None: to the end)."""

    def __init__(self, path, kind, window):
        self.path, self.kind, self.window = path, kind, window

    def __repr__(self):
        return f"TraceRequest({str(self.path)!r}, {self.kind!r}, {self.window!r})"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_trace(trace, window=None, *, backend="verilator", name="trace"):
    """A ``TraceRequest`` for the arguments, or None when ``trace`` is None; TypeError/ValueError naming
    ``name`` (or ``trace_window``) otherwise: a path of a known suffix, in an existing, writable folder,
    a format the ``backend`` writes, a window of two ints ``0 <= start < stop`` (stop may be None)."""
    if trace is None:
        if window is not None:
            raise ValueError("trace_window needs a trace file (trace=...)")
        return None
    if not isinstance(trace, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike) or None, not {trace!r}")
    if not os.fspath(trace):
        raise ValueError(f"{name} must be a non-empty file path or None, not ''")
    path = Path(trace)
    kind = TRACE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{name}: {str(path)!r} has no trace suffix; use one of "
                         f"{', '.join(TRACE_SUFFIXES)} (FST and VCD waveforms, SAIF activity)")
    if backend == "amaranth" and kind != "vcd":
        raise ValueError(f"{name}: the amaranth backend writes VCD only, not {kind.upper()} "
                         f"({str(path)!r}); use a .vcd file or backend='verilator'")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"{name}: the folder {str(folder)!r} of {str(path)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{name}: the folder {str(folder)!r} of {str(path)!r} is not writable")
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder, not a file")
    if window is None:
        window = (0, None)
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise TypeError(f"trace_window must be a pair (start, stop) of cycles, not {window!r}")
    start, stop = window
    if not _is_int(start) or start < 0:
        raise ValueError(f"trace_window: start must be an int >= 0, not {start!r}")
    if stop is not None and (not _is_int(stop) or stop <= start):
        raise ValueError(f"trace_window: stop must be None or an int > start ({start}), not {stop!r}")
    return TraceRequest(path, kind, (int(start), None if stop is None else int(stop)))


_TIME = re.compile(rb"^#(\d+)\s*$")


def trim_vcd(path, window):
    """Keep only the cycles ``window = (start, stop)`` of the VCD file ``path`` (rewritten in place):
    the header, every variable's value at the start of cycle ``start`` as ``$dumpvars``, then the
    changes before the end of cycle ``stop - 1``."""
    start, stop = window
    if start == 0 and stop is None:
        return
    path = Path(path)
    tmp = path.with_name(path.name + ".trim")
    values = {}       # id code -> last value line before t0
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        header = []
        for line in src:
            dst.write(line)
            header.append(line.decode())
            if line.strip().startswith(b"$enddefinitions"):
                break
        scale = _timescale_ps(" ".join(header).split())     # ps per time unit of the file
        t0 = int(start * PERIOD_PS / scale)
        t1 = None if stop is None else int(stop * PERIOD_PS / scale)
        started = t0 == 0      # from cycle 0: the file's own $dumpvars, cut at t1
        for line in src:
            m = _TIME.match(line)
            if m:
                t = int(m.group(1))
                if t1 is not None and t >= t1:
                    break
                if not started and t >= t0:
                    started = True
                    dst.write(b"#%d\n$dumpvars\n" % t0)
                    dst.writelines(values.values())
                    dst.write(b"$end\n")
                    if t == t0:
                        continue
                if started:
                    dst.write(line)
                continue
            if started:
                dst.write(line)
                continue
            text = line.strip()
            if not text or text.startswith(b"$"):
                continue
            ident = text.split()[-1] if text[:1] in b"bBrR" else text[1:]
            values[ident] = text + b"\n"
        if not started:
            dst.write(b"#%d\n$dumpvars\n" % t0)
            dst.writelines(values.values())
            dst.write(b"$end\n")
    os.replace(tmp, path)


def _canonical(scope, name):
    """A signal's name below the top module: the same for both back ends (Amaranth: ``bench.top``
    scopes and a leaf name; Verilator: ``TOP`` / ``TOP.redmule_top`` and a dotted name)."""
    parts = [p for p in scope.split(".") if p]
    for head in (["bench", "top"], ["TOP", "redmule_top"], ["TOP"]):
        if parts[:len(head)] == head:
            parts = parts[len(head):]
            break
    return ".".join(parts + [name.split(" ")[0]])


_UNITS_PS = {"s": 10**12, "ms": 10**9, "us": 10**6, "ns": 10**3, "ps": 1, "fs": Fraction(1, 1000)}


def _timescale_ps(words):
    """ps per time unit of a VCD header split into words (1 without a ``$timescale``)."""
    if "$timescale" not in words:
        return Fraction(1)
    i = words.index("$timescale")
    spec = "".join(words[i + 1:words.index("$end", i)])
    m = re.fullmatch(r"(\d+)([a-z]+)", spec)
    return Fraction(int(m.group(1)) * _UNITS_PS[m.group(2)])


def read_vcd(path, names):
    """The value changes of the signals ``names`` (names below the top module, e.g. ``"evt"`` or
    ``"engine.array.ce_0_0.acc"``) in the VCD file ``path``: ``{name: [(time_ps, value), ...]}``
    with integer values (None for a value with x or z bits). Times are converted to ps. Raises
    KeyError naming a signal the file lacks. (A small reader of its own: names such as Yosys'
    ``$auto$...`` are legal VCD but not accepted by every reader.)"""
    want = set(names)
    ids = {}          # id code -> [names]
    out = {n: [] for n in want}
    scope, t = [], 0
    with open(path) as f:
        header = []
        for line in f:
            header.append(line)
            if "$enddefinitions" in line:
                break
        words = " ".join(header).split()
        scale = _timescale_ps(words)
        i = 0
        while i < len(words):
            w = words[i]
            if w == "$scope":
                scope.append(words[i + 2])
            elif w == "$upscope":
                scope.pop()
            elif w == "$var":
                ident, ref = words[i + 3], words[i + 4]
                n = _canonical(".".join(scope), ref)
                if n in want:
                    ids.setdefault(ident, []).append(n)
            i += 1
        missing = want - {n for ns in ids.values() for n in ns}
        if missing:
            raise KeyError(f"{path}: no signal {', '.join(sorted(missing))}")
        for line in f:
            line = line.strip()
            if not line:
                continue
            c = line[0]
            if c == "#":
                t = int(line[1:]) * scale
                t = int(t) if t.denominator == 1 else float(t)
                continue
            if c in "bB":
                value, ident = line[1:].split()
            elif c in "01xzXZ":
                value, ident = c, line[1:]
            else:
                continue
            for n in ids.get(ident, ()):
                out[n].append((t, int(value, 2) if set(value) <= {"0", "1"} else None))
    return out


def sample_edges(changes, cycles):
    """The value of a signal just after the rising edge of each of ``cycles`` (its last change at or
    before ``edge_time(c)``), from ``read_vcd``'s list of changes."""
    out, i, value = [], 0, None
    for c in cycles:
        t = edge_time(c)
        while i < len(changes) and changes[i][0] <= t:
            value = changes[i][1]
            i += 1
        out.append(value)
    return out


_SAIF_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def read_saif(path):
    """The switching activity of a SAIF file (as the Verilator back end writes it): ``(duration_ps,
    {bit name: (toggles, ps at 1)})`` with names below the top module as ``read_vcd`` names them, one
    entry per bit (``"engine.array.ce_0_0.a[3]"``; one-bit signals without an index). The Verilator
    back end writes a window's SAIF with times from the window's start; Verilator's SAIF starts every
    bit at 0 before its first dump, so a bit that is 1 when the window opens counts one transition
    there (at most one per bit per window)."""
    text = Path(path).read_text()
    stack = [[]]              # lists under construction
    for tok in _SAIF_TOKEN.findall(text):
        if tok == "(":
            stack.append([])
        elif tok == ")":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    root = next(x for x in stack[0] if isinstance(x, list) and x and x[0] == "SAIFILE")
    scale, duration = Fraction(1), 0
    out = {}

    def instance(node, scope):
        for item in node[2:]:
            if not isinstance(item, list) or not item:
                continue
            if item[0] == "INSTANCE":
                instance(item, scope + [item[1]])
            elif item[0] == "NET":
                for net in item[1:]:
                    fields = {f[0]: int(f[1]) for f in net[1:] if isinstance(f, list) and len(f) == 2}
                    name = net[0].replace("\\", "")
                    out[_canonical(".".join(scope), name)] = (fields.get("TC", 0),
                                                              float(fields.get("T1", 0) * scale))

    for item in root[1:]:
        if isinstance(item, list) and item:
            if item[0] == "TIMESCALE":
                m = re.fullmatch(r"(\d+)([a-z]+)", "".join(item[1:]))
                scale = Fraction(int(m.group(1)) * _UNITS_PS[m.group(2)])
            elif item[0] == "DURATION":
                duration = int(item[1])
            elif item[0] == "INSTANCE":
                instance(item, [item[1]])
    return float(duration * scale), out
