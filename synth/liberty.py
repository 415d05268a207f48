"""Liberty (.lib) reader: the parts of a standard-cell library that area and timing need.

``parse(text)`` returns the raw group tree; ``Library.load(path_or_text)`` the model used by
``synth.timing``: per cell its area, pins (direction, capacitance, function), combinational arcs
(``related_pin``, ``timing_sense``, NLDM tables ``cell_rise``/``cell_fall`` and
``rise_transition``/``fall_transition``), clock-to-output arcs (``timing_type : rising_edge``) and setup
constraints (``setup_rising``), and whether it is a flip-flop (an ``ff`` group). Units: ``time_unit``
and ``capacitive_load_unit`` are read, and every delay is converted to ns and every capacitance to pF.

Tables are looked up by bilinear interpolation, extrapolating linearly beyond the index range (as
OpenSTA does). Index variables are taken from the table's template (``lu_table_template``): which of
``index_1``/``index_2`` is the output load and which the input transition differs between libraries.
Scalar tables (``scalar``) and one-dimensional tables are supported.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Group", "parse", "check_header", "Table", "Arc", "Pin", "Cell", "Library"]


@dataclass
class Group:
    """A liberty group ``kind (args) { attrs; subgroups }``."""
    kind: str
    args: list
    attrs: dict = field(default_factory=dict)      # simple attribute -> value (string)
    complex: dict = field(default_factory=dict)    # complex attribute -> list of argument lists
    groups: list = field(default_factory=list)

    def find(self, kind):
        return [g for g in self.groups if g.kind == kind]


_TOKEN = re.compile(r'\s*(?:(/\*.*?\*/)|(//[^\n]*)|(\\\n)|("(?:[^"\\]|\\.)*")|([{}();:,])|([^\s{}();:,"]+))',
                    re.S)


def _tokens(text):
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip() == "":
                return
            raise ValueError(f"liberty: cannot read at offset {pos}: {text[pos:pos + 40]!r}")
        pos = m.end()
        if m.group(1) or m.group(2) or m.group(3):
            continue
        tok = m.group(4) or m.group(5) or m.group(6)
        if tok is None:
            continue
        yield tok


def _unquote(tok):
    return tok[1:-1].replace("\\\n", "") if tok.startswith('"') else tok


def parse(text):
    """The liberty text as a tree of ``Group``; returns the outermost group (``library``)."""
    toks = list(_tokens(text))
    i = 0

    def group(kind):
        nonlocal i
        # at '(' of the group's arguments
        args, i = _args(toks, i)
        g = Group(kind, args)
        assert toks[i] == "{", toks[i]
        i += 1
        while toks[i] != "}":
            name = toks[i]
            i += 1
            if toks[i] == ":":
                i += 1
                value = []
                while toks[i] not in (";", "}"):
                    if value and toks[i + 1] == ":":     # the next attribute (no ';' before it)
                        break
                    value.append(toks[i])
                    i += 1
                if toks[i] == ";":
                    i += 1
                g.attrs[name] = _unquote(" ".join(value))
            elif toks[i] == "(":
                args, j = _args(toks, i)
                if j < len(toks) and toks[j] == "{":
                    sub = group(name)
                    g.groups.append(sub)
                else:
                    i = j
                    if i < len(toks) and toks[i] == ";":
                        i += 1
                    g.complex.setdefault(name, []).append(args)
            else:
                raise ValueError(f"liberty: unexpected {toks[i]!r} after {name!r}")
        i += 1
        return g

    if toks[:2] != ["library", "("]:
        raise ValueError(f"liberty: expected 'library (' at the start, not {' '.join(toks[:2])!r}")
    i = 1
    try:
        return group("library")
    except (IndexError, AssertionError):
        raise ValueError("liberty: the library group is not complete") from None


def check_header(path):
    """Raise ``ValueError`` unless the file ``path`` starts (after comments) with ``library (``: a
    cheap check before a long run; ``parse`` reads the rest."""
    with open(path, errors="replace") as f:
        head = f.read(1 << 16)
    toks = []
    try:
        for tok in _tokens(head):
            toks.append(tok)
            if len(toks) == 2:
                break
    except ValueError:
        pass
    if toks != ["library", "("]:
        raise ValueError(f"not a liberty file (it must start with 'library (', not "
                         f"{' '.join(toks)[:40]!r})")


def _args(toks, i):
    assert toks[i] == "(", toks[i]
    i += 1
    args = []
    while toks[i] != ")":
        if toks[i] != ",":
            args.append(_unquote(toks[i]))
        i += 1
    return args, i + 1


def _floats(text):
    return [float(v) for v in re.split(r"[,\s]+", text.strip()) if v]


@dataclass
class Table:
    """An NLDM table over up to two of the roles ``load`` (pF), ``slew`` (the input or constrained
    pin's transition, ns) and ``clock`` (the related clock pin's transition, ns); values in ns."""
    roles: tuple          # role of index_1 and of index_2 ("" where the table has no such index)
    index: tuple          # (index_1, index_2) in pF or ns
    values: list          # values[i1][i2]

    def __call__(self, load=0.0, slew=0.0, clock=0.0):
        arg = {"load": load, "slew": slew, "clock": clock, "": 0.0}
        i1 = self.index[0] or [0.0]
        i2 = self.index[1] or [0.0]
        return _bilinear(i1, i2, self.values, arg[self.roles[0]], arg[self.roles[1]])


def _segment(index, x):
    if len(index) == 1:
        return 0, 0, 0.0
    k = 0
    while k < len(index) - 2 and x > index[k + 1]:
        k += 1
    x0, x1 = index[k], index[k + 1]
    return k, k + 1, (x - x0) / (x1 - x0) if x1 != x0 else 0.0


def _bilinear(li, si, v, load, slew):
    a0, a1, ta = _segment(li, load)
    b0, b1, tb = _segment(si, slew)
    top = v[a0][b0] + (v[a0][b1] - v[a0][b0]) * tb
    bot = v[a1][b0] + (v[a1][b1] - v[a1][b0]) * tb
    return top + (bot - top) * ta


@dataclass
class Arc:
    """A timing arc from ``related`` to the pin that owns it."""
    related: str
    sense: str             # positive_unate, negative_unate, non_unate
    kind: str              # combinational, rising_edge, setup_rising, ...
    rise: Table = None     # cell_rise (delay arcs) or rise_constraint (checks)
    fall: Table = None
    rise_tran: Table = None
    fall_tran: Table = None


@dataclass
class Pin:
    name: str
    direction: str
    cap: float = 0.0       # pF
    function: str = None
    clock: bool = False
    arcs: list = field(default_factory=list)


@dataclass
class Cell:
    name: str
    area: float
    pins: dict
    is_ff: bool = False
    dont_use: bool = False

    def inputs(self):
        return [p for p in self.pins.values() if p.direction == "input"]

    def outputs(self):
        return [p for p in self.pins.values() if p.direction == "output"]


_TIME = {"1ps": 1e-3, "10ps": 1e-2, "100ps": 1e-1, "1ns": 1.0, "10ns": 10.0, "100ns": 100.0}
_CAP = {"ff": 1e-3, "pf": 1.0, "nf": 1e3}


class Library:
    """The cells of a liberty file with delays in ns and capacitances in pF (see the module docstring)."""

    def __init__(self, root, path=None):
        self.root = root
        self.name = root.args[0] if root.args else "library"
        self.path = path
        self.time_scale = _TIME.get(root.attrs.get("time_unit", "1ns").replace(" ", "").lower(), 1.0)
        cap = root.complex.get("capacitive_load_unit", [["1", "pf"]])[0]
        self.cap_scale = float(cap[0]) * _CAP.get(cap[1].lower(), 1.0)
        self.templates = {}
        for kind in ("lu_table_template", "power_lut_template"):
            for t in root.find(kind):
                tmpl = dict(t.attrs)
                tmpl.update({k: ",".join(v[0]) for k, v in t.complex.items() if k.startswith("index_")})
                self.templates[t.args[0] if t.args else ""] = tmpl
        self.default_slew = float(root.attrs.get("default_input_transition", 0)) * self.time_scale
        self.cells = {}
        for g in root.find("cell"):
            cell = self._cell(g)
            if cell is not None:
                self.cells[cell.name] = cell

    @classmethod
    def load(cls, source):
        """A ``Library`` from a path (``str`` or ``Path`` of an existing file) or from liberty text."""
        if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                        and Path(source).is_file()):
            path = Path(source)
            return cls(parse(path.read_text(errors="replace")), path=path)
        return cls(parse(source))

    def _table(self, g):
        if g is None:
            return None
        tmpl = self.templates.get(g.args[0] if g.args else "", {})
        roles, index = [], []
        for k in ("index_1", "index_2"):
            src = g.complex.get(k) or ([[tmpl[k]]] if k in tmpl else None)
            var = tmpl.get(f"variable_{k[-1]}", "")
            if not src or not var:
                roles.append("")
                index.append([])
                continue
            role = ("load" if "capacitance" in var else "clock" if var.startswith("related_pin")
                    else "slew" if "transition" in var else "")
            scale = self.cap_scale if role == "load" else self.time_scale
            roles.append(role)
            index.append([x * scale for x in _floats(",".join(src[0]))])
        rows = [_floats(r) for r in g.complex.get("values", [[]])[0]]
        flat = [x * self.time_scale for r in rows for x in r]
        if not flat:
            return None
        n1, n2 = max(1, len(index[0])), max(1, len(index[1]))
        if len(flat) != n1 * n2:
            return Table(("", ""), ([], []), [[flat[0]]])
        return Table(tuple(roles), tuple(index), [flat[i * n2:(i + 1) * n2] for i in range(n1)])

    def _cell(self, g):
        area = float(g.attrs.get("area", 0))
        pins = {}
        for pg in g.find("pin"):
            for name in pg.args:
                pin = Pin(name, pg.attrs.get("direction", ""),
                          float(pg.attrs.get("capacitance", 0) or 0) * self.cap_scale,
                          pg.attrs.get("function"), pg.attrs.get("clock", "false") == "true")
                for t in pg.find("timing"):
                    tables = {tg.kind: tg for tg in t.groups}
                    kind = t.attrs.get("timing_type", "combinational")
                    rel = t.attrs.get("related_pin", "").split()
                    for r in rel:
                        pin.arcs.append(Arc(
                            r, t.attrs.get("timing_sense", "non_unate"), kind,
                            self._table(tables.get("cell_rise") or tables.get("rise_constraint")),
                            self._table(tables.get("cell_fall") or tables.get("fall_constraint")),
                            self._table(tables.get("rise_transition")),
                            self._table(tables.get("fall_transition"))))
                pins[name] = pin
        if g.find("bus") or g.find("bundle"):
            return None
        return Cell(g.args[0], area, pins, is_ff=bool(g.find("ff")),
                    dont_use=g.attrs.get("dont_use", "false") == "true")

    # Figures used to express results in technology-independent units.
    def nand2_area(self):
        """Area of the smallest 2-input NAND (the gate equivalent, GE), or None."""
        areas = [c.area for c in self.cells.values() if _is_nand2(c)]
        return min(areas) if areas else None

    def fo4_delay(self):
        """Delay of the smallest inverter driving four copies of itself (ns), averaged over rise and
        fall, at the slew it produces itself in such a chain (a few iterations); None without an
        inverter."""
        invs = [c for c in self.cells.values() if _is_inv(c)]
        if not invs:
            return None
        inv = min(invs, key=lambda c: c.area)
        a = inv.inputs()[0]
        arc = next((x for x in inv.outputs()[0].arcs if x.related == a.name), None)
        if arc is None or arc.rise is None:
            return None
        load, slew = 4 * a.cap, 0.0
        for _ in range(8):
            slew = 0.5 * ((arc.rise_tran or arc.rise)(load, slew) + (arc.fall_tran or arc.fall)(load, slew))
        return 0.5 * (arc.rise(load, slew) + arc.fall(load, slew))


def _norm_func(f):
    return re.sub(r"\s+", "", (f or "")).replace("*", "&").replace("+", "|")


def _is_inv(cell):
    ins, outs = cell.inputs(), cell.outputs()
    if len(ins) != 1 or len(outs) != 1 or cell.is_ff:
        return False
    f = _norm_func(outs[0].function).strip("()")
    return f in (f"!{ins[0].name}", f"{ins[0].name}'", f"!({ins[0].name})")


def _is_nand2(cell):
    ins, outs = cell.inputs(), cell.outputs()
    if len(ins) != 2 or len(outs) != 1 or cell.is_ff:
        return False
    a, b = ins[0].name, ins[1].name
    f = _norm_func(outs[0].function)
    # "(!(A B))", "!(A&B)", "(A&B)'", "!A|!B" ...
    forms = {f"!({a}{b})", f"!({b}{a})", f"(!({a}{b}))", f"(!({b}{a}))", f"!({a}&{b})", f"!({b}&{a})",
             f"({a}&{b})'", f"({b}&{a})'", f"(!({a}&{b}))", f"(!({b}&{a}))", f"!{a}|!{b}", f"!{b}|!{a}"}
    return f in forms
