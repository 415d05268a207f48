"""Zero-delay gate-level simulation of a mapped netlist, cycle by cycle, with numpy.

``simulate(netlist, top, library, inputs, cycles)`` evaluates the flattened Yosys JSON netlist (cells
of ``library``, functions from the liberty's ``function`` and ``next_state``) for ``cycles`` clock
cycles: ``inputs`` maps an input port to one integer per cycle (held during the cycle), every
flip-flop starts at 0 and takes its next state at the end of each cycle. Returns ``{bit: bool array
of the net's value in each cycle}``. Combinational cells are evaluated for all cycles at once in
topological order (a truth-table lookup per cell); the flip-flop outputs are then shifted by one
cycle and the whole is repeated until nothing changes (as many rounds as the deepest register
chain, plus one).

This is the reference ``synth.power`` measures its probabilistic propagation against
(``toggle_activity``): the same stimulus, every net's zero-delay toggles counted.
"""
import numpy as np

from .power import cell_truth_table

__all__ = ["simulate", "toggle_activity"]


def _ff_function(library, ctype):
    """``(next_state function text, pins it reads)`` of a flip-flop cell, ``IQ`` its state."""
    g = next(g for g in library.root.find("cell") if g.args[0] == ctype)
    ff = g.find("ff")[0]
    return ff.attrs["next_state"].strip('"'), ff.attrs.get("clocked_on", "").strip('"')


def simulate(netlist, top, library, inputs, cycles, *, max_rounds=64):
    """See the module docstring."""
    mods = netlist["modules"]
    mod = mods[top] if top in mods else mods["\\" + top]
    lib = library.cells
    values = {}
    for port, p in mod["ports"].items():
        if p["direction"] != "input":
            continue
        seq = np.asarray(inputs.get(port, np.zeros(cycles, dtype=np.int64)), dtype=object)
        for i, b in enumerate(p["bits"]):
            if isinstance(b, int):
                values[b] = np.array([(int(v) >> i) & 1 for v in seq], dtype=bool)
    comb, ffs, driver = [], [], {}
    for cname, c in mod["cells"].items():
        ctype = c["type"].lstrip("\\")
        if ctype not in lib:
            continue
        lc = lib[ctype]
        conns = c["connections"]
        if lc.is_ff:
            ffs.append((ctype, conns))
        else:
            comb.append((cname, ctype, conns))
        for p in lc.outputs():
            for b in conns.get(p.name, ()):
                driver[b] = cname
    comb_names = {c[0] for c in comb}
    # topological order
    deps = {}
    for cname, ctype, conns in comb:
        deps[cname] = {driver[b] for p in lib[ctype].inputs() for b in conns.get(p.name, ())
                       if isinstance(b, int) and driver.get(b) in comb_names}
    order, done = [], set()
    by_name = {c[0]: c for c in comb}
    for start in by_name:
        stack = [(start, False)]
        while stack:
            n, expanded = stack.pop()
            if n in done:
                continue
            if expanded:
                done.add(n)
                order.append(by_name[n])
                continue
            stack.append((n, True))
            stack.extend((d, False) for d in deps[n] if d not in done)
    tables = {}

    def const(b):
        return np.full(cycles, b == "1", dtype=bool)

    def get(b):
        return values[b] if isinstance(b, int) else const(b)

    ff_specs = []
    for ctype, conns in ffs:
        fn, clk = _ff_function(library, ctype)
        pins = [p.name for p in lib[ctype].inputs() if p.name != clk]
        tt = cell_truth_table(fn, pins + ["IQ"])
        q = [b for p in lib[ctype].outputs() for b in conns.get(p.name, ())]
        qn = [p.name for p in lib[ctype].outputs()]
        ff_specs.append((conns, pins, np.array(tt, dtype=bool), q, qn, lib[ctype]))
        for b in q:
            values[b] = np.zeros(cycles, dtype=bool)
    for _ in range(max_rounds):
        for cname, ctype, conns in order:
            lc = lib[ctype]
            for op in lc.outputs():
                key = (ctype, op.name)
                if key not in tables:
                    ins = [p.name for p in lc.inputs()]
                    tables[key] = (ins, np.array(cell_truth_table(op.function, ins), dtype=bool))
                ins, tt = tables[key]
                idx = np.zeros(cycles, dtype=np.int64)
                for i, p in enumerate(ins):
                    idx |= get(conns[p][0]).astype(np.int64) << i
                for b in conns.get(op.name, ()):
                    values[b] = tt[idx]
        changed = False
        for conns, pins, tt, q, qn, lc in ff_specs:
            ins = [get(conns[p][0]) for p in pins]
            state = np.zeros(cycles, dtype=bool)
            idx_base = np.zeros(cycles, dtype=np.int64)
            for i, v in enumerate(ins):
                idx_base |= v.astype(np.int64) << i
            iq_bit = 1 << len(pins)
            if np.array_equal(tt[idx_base], tt[idx_base | iq_bit]):
                state[1:] = tt[idx_base][:-1]          # next state does not depend on IQ
            else:
                s = False
                for t in range(cycles - 1):
                    s = bool(tt[idx_base[t] | (iq_bit if s else 0)])
                    state[t + 1] = s
            for b, name in zip(q, qn):
                fn = lc.pins[name].function or "IQ"
                new = ~state if fn.replace(" ", "") in ("IQN", "!IQ", "IQ'") else state
                if not np.array_equal(values[b], new):
                    values[b] = new
                    changed = True
        if not changed:
            return values
    raise RuntimeError(f"gate-level simulation did not settle in {max_rounds} rounds")


def toggle_activity(values, start=0):
    """``{bit: (toggles, cycles at 1)}`` of ``simulate``'s values from cycle ``start`` on."""
    out = {}
    for b, v in values.items():
        w = v[start:]
        out[b] = (int(np.count_nonzero(w[1:] != w[:-1])), int(np.count_nonzero(w)))
    return out
