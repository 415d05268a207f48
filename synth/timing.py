"""Static timing analysis of a mapped netlist, and combinational input-to-output paths.

Two entry points the rest of the project (and the engineer fixing timing) uses:

* ``io_paths(component, top="top")``: the combinational paths from an input port to an output port of
  an Amaranth component. The component is exported to RTLIL, flattened and mapped to Yosys' generic
  gates (``synth -flatten -noabc``), and the gate graph is walked from every input bit; flip-flops cut
  the walk. Returns a sorted list of ``IoPath(input, output, depth)`` per port pair (``depth``: most
  gates on such a path). Example, from the repository root::

      python -c "from redmule_hdl.synth.timing import io_paths; from redmule_hdl import Config; \\
      from redmule_hdl.system.top import RedMulE; \\
      [print(p) for p in io_paths(RedMulE(Config(L=4, H=2, P=1)))]"

  or ``redmule-hdl synth --io-paths -L 4 -H 2 -P 1``.

* ``analyze(netlist, library)``: static timing of a netlist mapped to a liberty library (``Netlist``
  from Yosys' ``write_json`` of a flattened module; ``liberty.Library``). Nets with more than
  ``MAX_FANOUT`` sinks are first split by a tree of the library's strongest buffer (ABC buffers the
  logic it maps, but not the nets it sees as primary inputs or outputs: flip-flop outputs, enables of
  enabled flip-flops, ports), and the inserted buffers are counted in the area. Delays are the
  library's NLDM tables (``cell_rise``/``cell_fall`` by load and input slew, slews propagated), with
  rise and fall edges kept apart and unateness respected. The clock is ideal; inputs arrive at time 0
  with the library's default input slew (or the slew of its FO4 inverter), outputs drive
  ``output_load`` (default: four inverter inputs). Paths are reported by class: ``reg->reg`` (clock
  to Q, logic, setup: the minimum clock period), ``in->reg``, ``reg->out`` and ``in->out``; for each
  the worst path with its start point, end point, depth (cells on the path) and every step.

``synth.flow`` runs Yosys and ABC and calls ``analyze``; ``synth.flow.synthesize`` is the one-call
version for any Amaranth component (see there).
"""
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["IoPath", "io_paths", "io_paths_from_json", "Netlist", "Path", "TimingReport", "analyze",
           "MAX_FANOUT"]

#: Nets with more sinks than this are buffered before timing (tree of the strongest buffer).
MAX_FANOUT = 16
_BRANCH = 8          # sinks per buffer in the tree

RISE, FALL = 0, 1


# --------------------------------------------------------------------------------------------------------
# Netlist


def _best_name(names):
    """The most readable of a bit's net names: public before internal, then shortest."""
    return min(names, key=lambda n: (n[0], len(n[1]), n[1]))[1]


@dataclass
class Netlist:
    """One flattened module of a Yosys JSON netlist: cells with their pin -> bit connections, ports."""
    name: str
    cells: dict        # cell name -> (type, {pin: bit}, {pin: direction})
    ports: dict        # port name -> (direction, [bits])
    bit_names: dict    # bit -> readable name ("engine.wbuf.w_0[3]")

    @classmethod
    def from_json(cls, data, top):
        mods = data["modules"]
        name = top if top in mods else "\\" + top
        mod = mods[name]
        cells = {}
        for cname, c in mod["cells"].items():
            conns = {}
            for pin, bits in c["connections"].items():
                conns[pin] = bits if len(bits) != 1 else bits[0]
            cells[cname] = (c["type"].lstrip("\\"), conns, c.get("port_directions", {}))
        ports = {p: (v["direction"], v["bits"]) for p, v in mod["ports"].items()}
        cand = defaultdict(list)
        for net, v in mod["netnames"].items():
            hidden = 1 if (v.get("hide_name") or net.startswith("$")) else 0
            bits = v["bits"]
            for i, b in enumerate(bits):
                if isinstance(b, int):
                    cand[b].append((hidden, net if len(bits) == 1 else f"{net}[{i}]"))
        for p, (_, bits) in ports.items():
            for i, b in enumerate(bits):
                if isinstance(b, int):
                    cand[b].append((-1, p if len(bits) == 1 else f"{p}[{i}]"))
        bit_names = {b: _best_name(n) for b, n in cand.items()}
        return cls(name.lstrip("\\"), cells, ports, bit_names)

    def name_of(self, bit):
        return self.bit_names.get(bit, f"n{bit}")


# --------------------------------------------------------------------------------------------------------
# Combinational input -> output paths (generic gates)


@dataclass(frozen=True, order=True)
class IoPath:
    """A combinational path from input port ``input`` to output port ``output``; ``depth`` is the
    largest number of gates on any such path (bit level), ``example`` one such pair of bits."""
    input: str
    output: str
    depth: int = 0
    example: str = ""

    def __str__(self):
        return f"{self.input} -> {self.output} ({self.depth} gates; e.g. {self.example})"


def _port_label(name):
    # Amaranth flattens interface members with "__": tcdm__r_valid -> tcdm.r_valid
    return name.replace("__", ".")


def io_paths_from_json(data, top):
    """``io_paths`` on a Yosys JSON netlist of a flattened module of generic gates or liberty cells
    (every cell that is not a flip-flop is taken as combinational from all its inputs to all its
    outputs)."""
    nl = Netlist.from_json(data, top)
    from .yosys import is_flip_flop, is_latch
    fanout = defaultdict(list)      # bit -> [(out bits of a combinational cell)]
    for ctype, conns, dirs in nl.cells.values():
        if is_flip_flop("$" + ctype.lstrip("$")) or is_latch("$" + ctype.lstrip("$")) or \
                ctype.startswith("$dff") or ctype.startswith("$sdff") or ctype.startswith("$adff") \
                or _is_ff_name(ctype):
            continue
        ins, outs = [], []
        for pin, bits in conns.items():
            bl = bits if isinstance(bits, list) else [bits]
            (outs if dirs.get(pin) == "output" else ins).extend(b for b in bl if isinstance(b, int))
        for b in ins:
            fanout[b].append(outs)
    out_bits = {}
    for p, (d, bits) in nl.ports.items():
        if d == "output":
            for i, b in enumerate(bits):
                if isinstance(b, int):
                    out_bits.setdefault(b, []).append(f"{p}[{i}]" if len(bits) > 1 else p)
    found = {}
    for p, (d, bits) in nl.ports.items():
        if d != "input":
            continue
        for i, b in enumerate(bits):
            if not isinstance(b, int):
                continue
            # longest-path-in-gates BFS over a DAG: relax depth while it grows
            depth = {b: 0}
            frontier = [b]
            while frontier:
                nxt = []
                for x in frontier:
                    for outs in fanout.get(x, ()):
                        for o in outs:
                            if depth.get(o, -1) < depth[x] + 1:
                                depth[o] = depth[x] + 1
                                nxt.append(o)
                frontier = nxt
            src = f"{p}[{i}]" if len(bits) > 1 else p
            for o, dpt in depth.items():
                for oname in out_bits.get(o, ()):
                    key = (_port_label(p), _port_label(oname.split("[")[0]))
                    if key not in found or dpt > found[key].depth:
                        found[key] = IoPath(*key, dpt, f"{_port_label(src)} -> {_port_label(oname)}")
    return sorted(found.values())


def _is_ff_name(ctype):
    return bool(re.match(r"^(DFF|SDFF|DFFE|LATCH|DLAT)", ctype.upper()))


def io_paths(component, top="top", *, workdir=None):
    """Combinational paths from an input port to an output port of ``component`` (see the module
    docstring); an empty list when every output is registered or driven by logic of registers only."""
    from .yosys import rtlil_design, run_script
    design = rtlil_design(component, top) if not isinstance(component, str) else component
    data = run_script(design, top, [f"synth -flatten -noabc -top {top}", "opt_clean -purge",
                                    "write_json netlist.json"], outputs=("netlist.json",),
                      workdir=workdir)["netlist.json"]
    return io_paths_from_json(json.loads(data), top)


# --------------------------------------------------------------------------------------------------------
# Static timing analysis


@dataclass
class Step:
    cell: str          # cell type ("DFFX1", "NAND2X1", "input")
    pin: str           # output pin and net: "Y -> engine.en"
    net: str
    edge: str          # "r" or "f"
    arrival: float     # ns (library time)


@dataclass
class Path:
    kind: str                  # "reg->reg", "in->reg", "reg->out", "in->out"
    delay: float               # ns, includes clock to Q and setup where they apply
    start: str
    end: str
    depth: int                 # cells on the path (the start flip-flop not counted)
    steps: list = field(default_factory=list)

    def as_dict(self, scale=1.0, unit="ns"):
        return {"kind": self.kind, "delay": self.delay * scale, "unit": unit, "start": self.start,
                "end": self.end, "depth": self.depth,
                "steps": [{"cell": s.cell, "net": s.net, "edge": s.edge, "arrival": s.arrival * scale}
                          for s in self.steps]}


@dataclass
class TimingReport:
    paths: dict                # kind -> Path (the worst of that kind), kinds without a path missing
    block_paths: dict = field(default_factory=dict)   # block -> worst reg->reg Path ending in it
    buffers_added: int = 0
    buffer_area: float = 0.0
    unknown_cells: dict = field(default_factory=dict)

    @property
    def critical(self):
        """The reg->reg critical path (None in a design without one)."""
        return self.paths.get("reg->reg")

    def min_period(self):
        p = self.critical
        return p.delay if p else None


class _Sta:
    def __init__(self, netlist, lib, output_load=None, input_slew=None):
        self.nl, self.lib = netlist, lib
        inv = _smallest_inverter(lib)
        self.output_load = output_load if output_load is not None else (4 * inv.inputs()[0].cap if inv else 0.0)
        if input_slew is None:
            input_slew = lib.default_slew or (_inverter_slew(lib, inv) if inv else 0.0)
        self.input_slew = input_slew
        self.unknown = defaultdict(int)
        self.added, self.added_area = 0, 0.0
        self._build()

    def _build(self):
        lib, nl = self.lib, self.nl
        self.driver = {}                       # bit -> (cell name, pin)
        self.sinks = defaultdict(list)         # bit -> [(cell name, pin)]
        self.ffs = []
        self.cells = {}                        # name -> (Cell, {pin: bit})
        for cname, (ctype, conns, dirs) in nl.cells.items():
            cell = lib.cells.get(ctype)
            if cell is None:
                self.unknown[ctype] += 1
                continue
            pins = {p: b for p, b in conns.items() if isinstance(b, int)}
            self.cells[cname] = (cell, pins)
            for p, b in pins.items():
                pin = cell.pins.get(p)
                if pin is None:
                    continue
                if pin.direction == "output":
                    self.driver[b] = (cname, p)
                elif pin.direction == "input":
                    self.sinks[b].append((cname, p))
            if cell.is_ff:
                self.ffs.append(cname)
        self.out_ports = defaultdict(list)
        self.in_bits = []
        for p, (d, bits) in nl.ports.items():
            for i, b in enumerate(bits):
                if not isinstance(b, int):
                    continue
                if d == "output":
                    self.out_ports[b].append(f"{p}[{i}]" if len(bits) > 1 else p)
                elif d == "input":
                    self.in_bits.append(b)

    # -- buffering ----------------------------------------------------------------------------------------
    def buffer_high_fanout(self, max_fanout=MAX_FANOUT, branch=_BRANCH):
        buf = _strongest_buffer(self.lib)
        if buf is None:
            return
        a = buf.inputs()[0].name
        y = buf.outputs()[0].name
        clocks = {b for cname in self.ffs for p, b in self.cells[cname][1].items()
                  if self.cells[cname][0].pins.get(p) and self.cells[cname][0].pins[p].clock}
        next_bit = max([b for b in self.nl.bit_names] + [b for _, (_, pins) in self.cells.items()
                                                         for b in pins.values()] + [0]) + 1
        for bit in list(self.sinks):
            sinks = self.sinks[bit]
            if bit in clocks or len(sinks) + len(self.out_ports.get(bit, ())) <= max_fanout:
                continue
            level = sinks
            while len(level) > max_fanout:
                groups = [level[i:i + branch] for i in range(0, len(level), branch)]
                new_level = []
                for g in groups:
                    nb = next_bit
                    next_bit += 1
                    name = f"$fanout_buf${nb}"
                    self.cells[name] = (buf, {a: bit, y: nb})
                    self.driver[nb] = (name, y)
                    self.sinks[nb] = list(g)
                    for cname, p in g:
                        self.cells[cname][1][p] = nb
                    self.nl.bit_names[nb] = f"{self.nl.name_of(bit)}~buf"
                    new_level.append((name, a))
                    self.added += 1
                    self.added_area += buf.area
                level = new_level
            self.sinks[bit] = level

    # -- timing -------------------------------------------------------------------------------------------
    def _load(self, bit):
        c = sum(self.cells[cn][0].pins[p].cap for cn, p in self.sinks.get(bit, ()))
        if bit in self.out_ports:
            c += self.output_load
        return c

    def _order(self):
        """Combinational cells in topological order (flip-flops excluded)."""
        indeg = {}
        users = defaultdict(list)
        for cname, (cell, pins) in self.cells.items():
            if cell.is_ff:
                continue
            n = 0
            for p, b in pins.items():
                pin = cell.pins.get(p)
                if pin is not None and pin.direction == "input":
                    d = self.driver.get(b)
                    if d is not None and not self.cells[d[0]][0].is_ff:
                        n += 1
                        users[d[0]].append(cname)
            indeg[cname] = n
        ready = [c for c, n in indeg.items() if n == 0]
        order = []
        while ready:
            c = ready.pop()
            order.append(c)
            for u in users[c]:
                indeg[u] -= 1
                if indeg[u] == 0:
                    ready.append(u)
        if len(order) != len(indeg):
            raise ValueError("combinational loop in the mapped netlist")
        return order

    def run(self, from_regs):
        arr = {}    # bit -> [(time, slew, pred) for rise, fall]; pred = (bit, edge, cell name) or start tag
        loads = {}

        def load(b):
            if b not in loads:
                loads[b] = self._load(b)
            return loads[b]

        if from_regs:
            for cname in self.ffs:
                cell, pins = self.cells[cname]
                for p, b in pins.items():
                    pin = cell.pins.get(p)
                    if pin is None or pin.direction != "output":
                        continue
                    arc = next((a for a in pin.arcs if a.kind in ("rising_edge", "falling_edge")), None)
                    if arc is None:
                        continue
                    C = load(b)
                    s = self.input_slew
                    arr[b] = [(arc.rise(C, s), (arc.rise_tran or arc.rise)(C, s), ("ff", cname)),
                              (arc.fall(C, s), (arc.fall_tran or arc.fall)(C, s), ("ff", cname))]
        else:
            for b in self.in_bits:
                arr[b] = [(0.0, self.input_slew, ("in", b)), (0.0, self.input_slew, ("in", b))]

        for cname in self._order_cache():
            cell, pins = self.cells[cname]
            for p, ob in pins.items():
                opin = cell.pins.get(p)
                if opin is None or opin.direction != "output":
                    continue
                best = [None, None]
                C = None
                for arc in opin.arcs:
                    if arc.kind not in ("combinational", "combinational_rise", "combinational_fall"):
                        continue
                    ib = pins.get(arc.related)
                    a = arr.get(ib)
                    if a is None:
                        continue
                    if C is None:
                        C = load(ob)
                    for out_edge, table, tran in ((RISE, arc.rise, arc.rise_tran), (FALL, arc.fall, arc.fall_tran)):
                        if table is None:
                            continue
                        if arc.sense == "positive_unate":
                            in_edges = (out_edge,)
                        elif arc.sense == "negative_unate":
                            in_edges = (1 - out_edge,)
                        else:
                            in_edges = (RISE, FALL)
                        for ie in in_edges:
                            t_in, s_in, _ = a[ie]
                            t = t_in + table(C, s_in)
                            if best[out_edge] is None or t > best[out_edge][0]:
                                s = (tran or table)(C, s_in)
                                best[out_edge] = (t, s, (ib, ie, cname))
                if best[0] is not None or best[1] is not None:
                    r = best[0] or best[1]
                    f = best[1] or best[0]
                    arr[ob] = [r, f]
        return arr

    def _order_cache(self):
        if not hasattr(self, "_order_list"):
            self._order_list = self._order()
        return self._order_list

    def endpoints(self, arr):
        """(kind suffix, delay, end name, bit, edge) of every reached endpoint."""
        out = []
        for cname in self.ffs:
            cell, pins = self.cells[cname]
            qname = None
            for p, b in pins.items():
                pin = cell.pins.get(p)
                if pin is not None and pin.direction == "output":
                    qname = self.nl.name_of(b)
            for p, b in pins.items():
                pin = cell.pins.get(p)
                if pin is None or pin.direction != "input" or b not in arr:
                    continue
                setup = next((a for a in pin.arcs if a.kind == "setup_rising"), None)
                for e in (RISE, FALL):
                    t, s, _ = arr[b][e]
                    su = 0.0
                    if setup is not None:
                        tab = setup.rise if e == RISE else setup.fall
                        su = tab(0.0, s, self.input_slew) if tab is not None else 0.0
                    out.append(("reg", t + su, f"{qname or cname} ({cell.name}.{p})", b, e))
        for b, names in self.out_ports.items():
            if b in arr:
                for e in (RISE, FALL):
                    out.append(("out", arr[b][e][0], names[0], b, e))
        return out

    def trace(self, arr, bit, edge):
        steps = []
        depth = 0
        start = None
        while True:
            t, s, pred = arr[bit][edge]
            if pred[0] == "ff":
                cell = self.cells[pred[1]][0]
                steps.append(Step(cell.name, "Q", self.nl.name_of(bit), "rf"[edge], t))
                start = f"{self.nl.name_of(bit)} ({cell.name})"
                break
            if pred[0] == "in":
                steps.append(Step("input", "", self.nl.name_of(bit), "rf"[edge], t))
                start = self.nl.name_of(bit)
                break
            ib, ie, cname = pred
            steps.append(Step(self.cells[cname][0].name, "", self.nl.name_of(bit), "rf"[edge], t))
            depth += 1
            bit, edge = ib, ie
        steps.reverse()
        return start, depth, steps


def _smallest_inverter(lib):
    from .liberty import _is_inv
    invs = [c for c in lib.cells.values() if _is_inv(c) and not c.dont_use]
    return min(invs, key=lambda c: c.area) if invs else None


def _inverter_slew(lib, inv):
    a = inv.inputs()[0]
    arc = inv.outputs()[0].arcs[0]
    load, slew = 4 * a.cap, 0.0
    for _ in range(8):
        slew = 0.5 * ((arc.rise_tran or arc.rise)(load, slew) + (arc.fall_tran or arc.fall)(load, slew))
    return slew


def _strongest_buffer(lib):
    bufs = []
    for c in lib.cells.values():
        ins, outs = c.inputs(), c.outputs()
        if c.is_ff or c.dont_use or len(ins) != 1 or len(outs) != 1:
            continue
        f = re.sub(r"[\s()]", "", outs[0].function or "")
        if f == ins[0].name and outs[0].arcs:
            bufs.append(c)
    if not bufs:
        return None
    # the buffer with the least delay driving 8 copies of its own input: the strongest useful one
    def d(c):
        arc = c.outputs()[0].arcs[0]
        load = _BRANCH * c.inputs()[0].cap * 4
        return arc.rise(load, 0.0) + arc.fall(load, 0.0)
    return min(bufs, key=d)


def analyze(netlist, library, *, output_load=None, input_slew=None, buffer=True, block_of=None):
    """``TimingReport`` of a ``Netlist`` mapped to the cells of ``library`` (see the module docstring).
    ``block_of(name)`` maps the name of an end point (register or output port) to a block: the report
    then also has the worst reg->reg path ending in each block."""
    sta = _Sta(netlist, library, output_load, input_slew)
    if buffer:
        sta.buffer_high_fanout()
    paths, per_block = {}, {}
    for from_regs, src in ((True, "reg"), (False, "in")):
        arr = sta.run(from_regs)
        worst, blocks = {}, {}
        for dst, delay, end, bit, edge in sta.endpoints(arr):
            kind = f"{src}->{dst}"
            if kind not in worst or delay > worst[kind][0]:
                worst[kind] = (delay, end, bit, edge)
            if block_of is not None and kind == "reg->reg":
                b = block_of(end.split(" (")[0]) or "other"
                if b not in blocks or delay > blocks[b][0]:
                    blocks[b] = (delay, end, bit, edge)
        for kind, (delay, end, bit, edge) in worst.items():
            start, depth, steps = sta.trace(arr, bit, edge)
            paths[kind] = Path(kind, delay, start, end, depth, steps)
        for b, (delay, end, bit, edge) in sorted(blocks.items(), key=lambda kv: -kv[1][0]):
            start, depth, steps = sta.trace(arr, bit, edge)
            per_block[b] = Path("reg->reg", delay, start, end, depth, steps)
    return TimingReport(paths, per_block, sta.added, sta.added_area, dict(sta.unknown))
