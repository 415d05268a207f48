"""Power of a mapped netlist from switching activity: dynamic (internal + switching) and leakage.

``analyze_power(netlist_json, top, library, activity, cycles, ...)`` takes the flattened netlist that
``synth.flow.synthesize`` maps (Yosys ``write_json``), the liberty ``Library`` it was mapped to and the
activity of a simulation (``{net bit name: (toggles, cycles at 1)}`` over ``cycles`` clock cycles,
e.g. ``sim.trace.read_saif`` of an RTL run) and returns a ``PowerReport``: energy per cycle and power
per block and in total.

How activity reaches every net (counted in ``PowerReport.nets_measured`` / ``nets_estimated``):

* measured: a net bit whose name (any public Yosys name of it) is in ``activity`` takes its toggle
  rate and probability of being 1 from there. That is every flip-flop output (register names survive
  mapping), the ports, and the named combinational nets that survive.
* estimated: every other net (the logic ABC made) by probabilistic propagation in topological order
  from the measured nets, as OpenSTA and Najm's transition density do: with independent inputs of
  probability ``p_i`` and toggle density ``d_i`` (transitions per cycle), a cell output has
  ``P(y) = sum over input minterms of y`` and ``d(y) = sum_i P(dy/dx_i) d_i`` (Boolean difference),
  capped at ``2 min(P, 1 - P)`` (at most one functional transition per cycle). Flip-flops without a
  measured output take ``p`` of their D input and ``d = 2 p (1 - p)``. Zero-delay (no glitches);
  ``propagation_error`` in ``redmule_hdl.power`` measures the error against a gate-level simulation.

Energy model, per clock cycle:

* ``library=None`` (the project's library ``synth.cells``, capacitances in units of the unit
  inverter's input capacitance ``C_inv``): a cell output transition costs ``C V^2 / 2`` with ``C`` =
  the cell's parasitic (diffusion) capacitance, which logical effort gives as its parasitic delay
  ``p`` in the same unit (Sutherland, Sproull, Harris, *Logical Effort*, 1999, ch. 1: ``p`` is the
  ratio of a gate's diffusion capacitance to the unit inverter's input capacitance; ``p_inv = 1``),
  plus the input capacitance of every pin the net drives (``g`` of each, as in ``synth.cells``; an
  output port drives four inverter inputs, as timing assumes). A flip-flop's clock costs per cycle
  ``(C_CLK + CLOCK_INTERNAL) V^2``: its clock pin (2 units) and the internal clock node of the
  tristate-inverter flip-flop of ``synth.cells`` (its local clock inverter, ``p = 1``, driving the
  clock transistors of the four tristate inverters, one unit each: 5 units), charged and
  discharged once per cycle. Leakage: ``leak_nw_per_ge`` times the cell's area in GE. ``Node`` holds
  ``C_inv``, ``V`` and the leakage per GE; ``DEFAULT_NODE`` takes them from the OSU 0.18 um library
  (the node whose FO4 delay ``sweep``'s ``--fo4-ps`` default was measured on).
* a real liberty: output pins' ``internal_power`` tables (rise and fall energy per transition,
  averaged, looked up at the net's load and the library's FO4 slew, averaged over related pins), input
  pins' ``internal_power`` (clock pins: two transitions per cycle), ``C V^2 / 2`` per transition
  with ``C`` the driven pins' capacitances (and four inverter inputs per output port), and each
  cell's ``cell_leakage_power``; voltage from ``nom_voltage``.

Not modelled: wires (no placement), glitches, the clock tree (only the flip-flops' clock pins and the
nets driving them). Input ports are driven from outside: their nets' switching is left out.
"""
import re
from dataclasses import dataclass, field
from itertools import product

__all__ = ["Node", "DEFAULT_NODE", "DEFAULT_FO4_PS", "PowerReport", "analyze_power", "cell_truth_table", "block_of_cell",
           "CLOCK_INTERNAL", "OUTPUT_LOAD_INVERTERS"]

#: Internal clock capacitance of a flip-flop of the project's library, in C_inv (see the docstring).
CLOCK_INTERNAL = 5.0
#: An output port drives this many unit inverter inputs (as synth.timing assumes).
OUTPUT_LOAD_INVERTERS = 4


@dataclass(frozen=True)
class Node:
    """A technology node for the project's library: ``cinv_ff`` the unit inverter's input capacitance
    (fF), ``vdd`` (V), ``leak_nw_per_ge`` leakage per gate equivalent (nW), each with its source."""
    cinv_ff: float
    vdd: float
    leak_nw_per_ge: float
    source: str = ""


#: FO4 delay (ps) of the OSU 0.18 um library as this project's flow measures it (``Library.fo4_delay``
#: of osu018_stdcells.lib): converts the project's FO4 periods to a clock at the default node.
DEFAULT_FO4_PS = 99.5

#: OSU 0.18 um standard cells (Oklahoma State University, Debian package qflow-tech-osu018,
#: osu018_stdcells.lib): INVX1 pin A capacitance 0.00932456 pF, nom_voltage 1.8 V, NAND2X1
#: cell_leakage_power 0.0393659 nW (1 GE = one NAND2X1).
DEFAULT_NODE = Node(9.32456, 1.8, 0.0393659,
                    "OSU 0.18 um (qflow-tech-osu018): INVX1.A 9.32 fF, nom_voltage 1.8 V, "
                    "NAND2X1 leakage 0.0394 nW")


@dataclass
class PowerReport:
    """Energy per cycle (pJ) per block and kind, and how activity reached the nets."""
    cycles: float
    blocks: dict                      # block -> {"internal": pJ/cycle, "switching": ..., "leakage_mw": ...}
    nets_measured: int = 0
    nets_estimated: int = 0
    nets_constant: int = 0
    library: str = ""
    unit_note: str = ""
    flip_flop_clock: dict = field(default_factory=dict)   # block -> pJ/cycle of clock pins (in internal)
    clock_net: dict = field(default_factory=dict)   # block -> pJ/cycle of the clock pins' capacitance

    def dynamic_pj_per_cycle(self, block=None):
        rows = [self.blocks[block]] if block else self.blocks.values()
        return sum(r["internal"] + r["switching"] for r in rows)

    def leakage_mw(self, block=None):
        rows = [self.blocks[block]] if block else self.blocks.values()
        return sum(r["leakage_mw"] for r in rows)

    def power_mw(self, clock_mhz, block=None):
        """Dynamic + leakage power (mW) at ``clock_mhz``."""
        return self.dynamic_pj_per_cycle(block) * clock_mhz * 1e-3 + self.leakage_mw(block)


# ---- cell functions ------------------------------------------------------------------------------------

_TOK = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_\[\]]*|[!'()&|^*+]|0|1)")


def _parse_function(text):
    """A liberty function as a Python callable of a dict of pin values (0/1)."""
    toks = _TOK.findall(text)
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def primary():
        t = take()
        if t == "!":
            f = primary()
            node = lambda v, f=f: 1 - f(v)
        elif t == "(":
            node = expr()
            take()
        elif t in ("0", "1"):
            node = lambda v, c=int(t): c
        else:
            node = lambda v, n=t: v[n]
        while peek() == "'":
            take()
            node = lambda v, f=node: 1 - f(v)
        return node

    def term():            # AND: &, * or juxtaposition
        node = primary()
        while peek() is not None and peek() not in ("|", "+", "^", ")"):
            if peek() in ("&", "*"):
                take()
            right = primary()
            node = lambda v, a=node, b=right: a(v) & b(v)
        return node

    def xor():
        node = term()
        while peek() == "^":
            take()
            right = term()
            node = lambda v, a=node, b=right: a(v) ^ b(v)
        return node

    def expr():
        node = xor()
        while peek() in ("|", "+"):
            take()
            right = xor()
            node = lambda v, a=node, b=right: a(v) | b(v)
        return node

    return expr()


def cell_truth_table(function, pins):
    """The truth table of ``function`` over ``pins``: a list of 0/1 indexed by the minterm (bit i of the
    index is ``pins[i]``)."""
    f = _parse_function(function)
    return [f({p: (m >> i) & 1 for i, p in enumerate(pins)}) for m in range(1 << len(pins))]


def _propagate(table, ps, ds):
    """``(P(y), d(y))`` of a cell with truth ``table`` and independent inputs (probabilities ``ps``,
    densities ``ds``)."""
    n = len(ps)
    weights = []
    for m in range(1 << n):
        w = 1.0
        for i in range(n):
            w *= ps[i] if (m >> i) & 1 else 1.0 - ps[i]
        weights.append(w)
    p = sum(w for m, w in enumerate(weights) if table[m])
    d = 0.0
    for i in range(n):
        if ds[i] == 0.0:
            continue
        bit = 1 << i
        # P(dy/dx_i): over the other inputs, y differs between x_i = 0 and 1
        sens = 0.0
        for m in range(1 << n):
            if not m & bit and table[m] != table[m | bit]:
                denom = 1.0 - ps[i]
                w = weights[m] / denom if denom > 0 else _weight_without(m, i, ps)
                sens += w
        d += sens * ds[i]
    return p, min(d, 2.0 * min(p, 1.0 - p))


def _weight_without(m, skip, ps):
    w = 1.0
    for i, p in enumerate(ps):
        if i != skip:
            w *= p if (m >> i) & 1 else 1.0 - p
    return w


# ---- blocks ---------------------------------------------------------------------------------------------

def block_of_cell(cell_name, group, top="top"):
    """The report block of a flattened cell (``$flatten\\engine.\\array.\\ce_0_0.$abc$...``) by the
    longest prefix of ``group`` (``synth.blocks.synth_groups``); "control" without a match."""
    if not group:
        return top
    path = cell_name.replace("$flatten\\", "").replace("\\", "")
    best, best_len = group.get(top, "control"), -1
    for prefix, block in group.items():
        if prefix != top and path.startswith(prefix + ".") and len(prefix) > best_len:
            best, best_len = block, len(prefix)
    return best


# ---- the analysis --------------------------------------------------------------------------------------

def _bit_names(mod):
    names = {}
    for net, v in mod["netnames"].items():
        if v.get("hide_name") or net.startswith("$"):
            continue
        bits = v["bits"]
        for i, b in enumerate(bits):
            if isinstance(b, int):
                names.setdefault(b, []).append(net if len(bits) == 1 else f"{net}[{i}]")
    return names


class _LibertyPower:
    """Per-cell energies of a real liberty (see the module docstring)."""

    def __init__(self, lib):
        from .timing import _inverter_slew, _smallest_inverter
        self.lib = lib
        root = lib.root
        volt = root.find("operating_conditions")
        self.vdd = float(root.attrs.get("nom_voltage", volt[0].attrs.get("voltage", 1.0) if volt else 1.0))
        lk = root.attrs.get("leakage_power_unit", "1nW").replace('"', "").strip()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([munpf]?)W", lk)
        self.leak_mw = float(m.group(1)) * {"m": 1, "u": 1e-3, "n": 1e-6, "p": 1e-9, "f": 1e-12, "": 1e3}[m.group(2)]
        # energy unit of internal_power tables: capacitive_load_unit * voltage_unit^2 (pJ for pF, V)
        self.energy_pj = lib.cap_scale
        inv = _smallest_inverter(lib)
        self.slew = _inverter_slew(lib, inv) if inv is not None else lib.default_slew
        self.cells = {}
        self._tables = {}
        self._pins = {}
        for g in root.find("cell"):
            self.cells[g.args[0]] = g

    def _lookup(self, tg, load):
        key = id(tg)
        if key not in self._tables:
            self._tables[key] = self._parse_table(tg)
        idx, roles, vals = self._tables[key]
        if not idx:
            return vals[0] * self.energy_pj
        x = [load if r == "load" else self.slew for r in roles]
        if len(idx) == 1:
            return _interp1(idx[0], vals, x[0]) * self.energy_pj
        n2 = len(idx[1])
        grid = [vals[i * n2:(i + 1) * n2] for i in range(len(idx[0]))]
        return _interp2(idx[0], idx[1], grid, x[0], x[1]) * self.energy_pj

    def _parse_table(self, tg):
        """``(index lists, their roles, values)`` of an energy table (parsed once per table)."""
        from .liberty import _floats
        tmpl = self.lib.templates.get(tg.args[0] if tg.args else "", {})
        idx, roles = [], []
        for k in ("index_1", "index_2"):
            src = tg.complex.get(k) or ([[tmpl[k]]] if k in tmpl else None)
            var = tmpl.get(f"variable_{k[-1]}", "")
            if not src or not var:
                continue
            role = "load" if "capacitance" in var else "slew"
            scale = self.lib.cap_scale if role == "load" else self.lib.time_scale
            idx.append([x * scale for x in _floats(",".join(src[0]))])
            roles.append(role)
        rows = [_floats(r) for r in tg.complex.get("values", [[]])[0]]
        return idx, roles, [x for r in rows for x in r]

    def pin_energy(self, cell, pin, load):
        """pJ per transition of ``pin`` of ``cell`` (internal power; outputs at ``load`` pF)."""
        key = (cell, pin)
        if key not in self._pins:      # the internal_power groups of the pin: [(rise, fall) tables]
            g = self.cells.get(cell)
            groups = []
            for pg in (g.find("pin") if g is not None else ()):
                if pin in pg.args:
                    for ip in pg.find("internal_power"):
                        tables = {t.kind: t for t in ip.groups}
                        ts = [tables[k] for k in ("rise_power", "fall_power") if k in tables]
                        if ts:
                            groups.append(ts)
            self._pins[key] = groups
        groups = self._pins[key]
        if not groups:
            return 0.0
        return sum(sum(self._lookup(t, load) for t in ts) / len(ts) for ts in groups) / len(groups)

    def leakage(self, cell):
        g = self.cells.get(cell)
        if g is None:
            return 0.0
        if "cell_leakage_power" in g.attrs:
            return float(g.attrs["cell_leakage_power"]) * self.leak_mw
        vals = [float(lp.attrs.get("value", 0)) for lp in g.find("leakage_power")]
        return (sum(vals) / len(vals) if vals else 0.0) * self.leak_mw


def _interp1(xs, ys, x):
    if len(xs) == 1:
        return ys[0]
    i = max(0, min(len(xs) - 2, next((k for k in range(len(xs) - 1) if x <= xs[k + 1]), len(xs) - 2)))
    t = (x - xs[i]) / (xs[i + 1] - xs[i])
    return ys[i] + t * (ys[i + 1] - ys[i])


def _interp2(x1, x2, grid, a, b):
    col = [_interp1(x2, row, b) for row in grid]
    return _interp1(x1, col, a)


def analyze_power(netlist, top, library, activity, cycles, *, group=None, node=DEFAULT_NODE,
                  reference=True, clock="clk", cell_specs=None, bit_activity=None):
    """A ``PowerReport`` of the Yosys JSON ``netlist`` (dict, flattened module ``top``) mapped to
    ``library`` (``synth.liberty.Library``; ``reference``: it is the project's library, priced with
    ``node``), with ``activity`` ``{bit name: (toggles, cycles at 1)}`` over ``cycles`` cycles.
    ``group``: block prefixes (``synth.blocks.synth_groups``); ``clock``: the clock port.
    ``bit_activity``: ``{bit: (toggles, cycles at 1)}`` by net bit instead of by name (e.g. every
    net of a gate-level simulation, ``synth.gatesim.toggle_activity``)."""
    mods = netlist["modules"]
    mod = mods[top] if top in mods else mods["\\" + top]
    names = _bit_names(mod)
    ports = mod["ports"]
    clock_bits = set(ports[clock]["bits"]) if clock in ports else set()
    input_bits = {b for p in ports.values() if p["direction"] == "input" for b in p["bits"]}
    output_bits = [b for p in ports.values() if p["direction"] == "output" for b in p["bits"]]
    cells = {}
    for cname, c in mod["cells"].items():
        ctype = c["type"].lstrip("\\")
        if ctype in library.cells:        # ($scopeinfo and such are no hardware)
            cells[cname] = (ctype, c["connections"], c.get("port_directions", {}))
    lib_cells = library.cells

    # ---- activity: measured, constant, or estimated ----------------------------------------------------
    prob, dens = {}, {}
    measured = set()
    for b, ns in names.items():
        for n in ns:
            if n in activity:
                tc, high = activity[n]
                prob[b], dens[b] = min(max(high / cycles, 0.0), 1.0), tc / cycles
                measured.add(b)
                break
    for b, (tc, high) in (bit_activity or {}).items():
        prob[b], dens[b] = min(max(high / cycles, 0.0), 1.0), tc / cycles
        measured.add(b)
    for b in clock_bits:
        prob[b], dens[b] = 0.5, 2.0
        measured.add(b)
    drivers = {}       # bit -> (cell, output pin)
    sinks = {}         # bit -> [(cell, input pin)]
    for cname, (ctype, conns, dirs) in cells.items():
        lc = lib_cells.get(ctype)
        for pin, bits in conns.items():
            d = dirs.get(pin) or (lc.pins[pin].direction if lc and pin in lc.pins else "input")
            for b in bits:
                if not isinstance(b, int):
                    continue
                if d == "output":
                    drivers[b] = (cname, pin)
                else:
                    sinks.setdefault(b, []).append((cname, pin))

    def value(b):
        if isinstance(b, str):            # constant "0", "1", "x", "z"
            return (1.0 if b == "1" else 0.0), 0.0
        return prob.get(b, 0.5), dens.get(b, 0.0)

    tables = {}

    def table(ctype, out_pin):
        key = (ctype, out_pin)
        if key not in tables:
            lc = lib_cells[ctype]
            ins = [p.name for p in lc.inputs()]
            fn = lc.pins[out_pin].function
            tables[key] = (ins, cell_truth_table(fn, ins)) if fn else (ins, None)
        return tables[key]

    ffs = [c for c, (t, _, _) in cells.items() if lib_cells.get(t) is not None and lib_cells[t].is_ff]
    ff_set = set(ffs)
    comb = [c for c in cells if c not in ff_set]
    # topological order of the combinational cells
    order, indeg, users = [], {}, {}
    for c in comb:
        ctype, conns, dirs = cells[c]
        lc = lib_cells[ctype]
        deps = set()
        for p in lc.inputs():
            for b in conns.get(p.name, ()):
                if isinstance(b, int) and b in drivers and drivers[b][0] not in ff_set:
                    deps.add(drivers[b][0])
        indeg[c] = len(deps)
        for dcell in deps:
            users.setdefault(dcell, []).append(c)
    ready = [c for c in comb if indeg[c] == 0]
    while ready:
        c = ready.pop()
        order.append(c)
        for u in users.get(c, ()):
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    if len(order) != len(comb):
        raise ValueError(f"{top}: the netlist has a combinational loop")

    def ff_q_estimate():
        for c in ffs:
            ctype, conns, _ = cells[c]
            q = [b for p in lib_cells[ctype].outputs() for b in conns.get(p.name, ())]
            dbits = conns.get("D", [])
            pd = value(dbits[0])[0] if dbits else 0.5
            for b in q:
                if isinstance(b, int) and b not in measured:
                    prob[b], dens[b] = pd, 2.0 * pd * (1.0 - pd)

    for c in ffs:     # first pass: unmeasured flip-flop outputs at p = 0.5, d = 0.5
        ctype, conns, _ = cells[c]
        for p in lib_cells[ctype].outputs():
            for b in conns.get(p.name, ()):
                if isinstance(b, int) and b not in measured:
                    prob[b], dens[b] = 0.5, 0.5
    for _ in range(2):
        for c in order:
            ctype, conns, _ = cells[c]
            lc = lib_cells[ctype]
            for op in lc.outputs():
                for b in conns.get(op.name, ()):
                    if not isinstance(b, int) or b in measured:
                        continue
                    ins, tt = table(ctype, op.name)
                    if tt is None:
                        prob[b], dens[b] = 0.5, 0.0
                        continue
                    vals = [value(conns[p][0]) if conns.get(p) else (0.0, 0.0) for p in ins]
                    prob[b], dens[b] = _propagate(tt, [v[0] for v in vals], [v[1] for v in vals])
        ff_q_estimate()
    all_bits = set(drivers) | set(sinks)
    constant = sum(1 for b in all_bits if dens.get(b, 0.0) == 0.0 and b not in measured)

    # ---- energy ----------------------------------------------------------------------------------------
    blocks = {}
    ffclk = {}
    cell_block = {c: block_of_cell(c, group, top) for c in cells}

    def row(block):
        return blocks.setdefault(block, {"internal": 0.0, "switching": 0.0, "leakage_mw": 0.0})

    out_load_bits = {}
    for b in output_bits:
        out_load_bits[b] = out_load_bits.get(b, 0) + 1
    if reference:
        # pJ per transition per unit (C_inv) of capacitance; the library's capacitances are in C_inv
        # written as fF, which Library reads as pF * 1e-3: ``cap_unit`` turns them back into C_inv.
        half_cv2 = 0.5 * node.cinv_ff * 1e-3 * node.vdd ** 2
        cap_unit = 1.0 / library.cap_scale
        specs = cell_specs or _reference_specs()
        inv_cap = library.cap_scale
    else:
        lp = _LibertyPower(library)
        half_cv2 = 0.5 * lp.vdd ** 2        # pJ per pF per transition
        cap_unit = 1.0
        from .timing import _smallest_inverter
        inv = _smallest_inverter(library)
        inv_cap = inv.inputs()[0].cap if inv is not None else 0.0
    for b in all_bits:
        if b in input_bits:
            continue
        d = dens.get(b, 0.0)
        if d == 0.0 or b not in drivers:
            continue
        cap = sum(lib_cells[cells[c][0]].pins[p].cap for c, p in sinks.get(b, ())
                  if p in lib_cells[cells[c][0]].pins)
        cap += OUTPUT_LOAD_INVERTERS * inv_cap * out_load_bits.get(b, 0)
        cname, pin = drivers[b]
        r = row(cell_block[cname])
        r["switching"] += d * cap * cap_unit * half_cv2
        ctype = cells[cname][0]
        if reference:
            r["internal"] += d * specs.get(ctype, (0.0, 0.0))[0] * half_cv2
        else:
            r["internal"] += d * lp.pin_energy(ctype, pin, cap)
    for cname, (ctype, conns, _) in cells.items():
        r = row(cell_block[cname])
        lc = lib_cells[ctype]
        if reference:
            r["leakage_mw"] += lc.area * node.leak_nw_per_ge * 1e-6
            if cname in ff_set:
                e = 2.0 * specs.get(ctype, (0.0, CLOCK_INTERNAL))[1] * half_cv2
                r["internal"] += e
                ffclk[cell_block[cname]] = ffclk.get(cell_block[cname], 0.0) + e
        else:
            r["leakage_mw"] += lp.leakage(ctype)
            for p in lc.inputs():
                bits = [b for b in conns.get(p.name, ()) if isinstance(b, int)]
                if not bits:
                    continue
                d = dens.get(bits[0], 0.0)
                e = d * lp.pin_energy(ctype, p.name, 0.0)
                if e:
                    r["internal"] += e
                    if p.clock:
                        ffclk[cell_block[cname]] = ffclk.get(cell_block[cname], 0.0) + e
    # the clock pins' capacitance (the clock net is switched by the clock port, an input)
    clock_net = {}
    for b in clock_bits:
        for cname, p in sinks.get(b, ()):
            e = 2.0 * lib_cells[cells[cname][0]].pins[p].cap * cap_unit * half_cv2
            row(cell_block[cname])["switching"] += e
            ffclk[cell_block[cname]] = ffclk.get(cell_block[cname], 0.0) + e
            clock_net[cell_block[cname]] = clock_net.get(cell_block[cname], 0.0) + e
    return PowerReport(cycles, blocks, nets_measured=len(measured & all_bits),
                       nets_estimated=len(all_bits - measured) - constant, nets_constant=constant,
                       library=library.name, flip_flop_clock=ffclk, clock_net=clock_net,
                       unit_note=(node.source if reference else f"liberty {library.name}, {half_cv2 * 2:g} V^2"))


def _reference_specs():
    """Project library: cell -> (parasitic capacitance per output transition in C_inv, clock internal
    capacitance per cycle in C_inv), from ``synth.cells.CELLS``."""
    from .cells import CELLS
    out = {}
    for c in CELLS:
        if c.ff:
            _, p, _ = c.inputs["CLK"]
            out[c.name] = (float(p), CLOCK_INTERNAL)
        else:
            out[c.name] = (max(float(p) for _, p, _ in c.inputs.values()), 0.0)
    return out
