"""The package's layering: imports only go downwards, and there are no import cycles.

Layers, lowest first: the facts and parameters (``spec``, ``config``), the contracts between blocks
(``interfaces``), arithmetic units (``arith``), the engine (``engine``), the system around it
(``system``), the tooling (``sim``, ``synth``, ``config_args``, ``diagram``, ...), the command line
(``cli``). A module may import from its own layer or below, never from above: hardware never imports
simulation or tooling.
"""
import ast
from pathlib import Path

import redmule_hdl
import redmule_hdl.sim
import redmule_hdl.synth

LAYERS = [("spec", "config"), ("interfaces",), ("arith",), ("engine",), ("system",),
          ("sim", "synth", "config_args", "runtime", "examples", "export", "wrapper", "sweep", "power",
           "diagram"), ("cli",)]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _modules():
    """``{dotted name: path}`` of every module of the installed package (sim and synth included)."""
    roots = {"redmule_hdl": redmule_hdl, "redmule_hdl.sim": redmule_hdl.sim,
             "redmule_hdl.synth": redmule_hdl.synth}
    found = {}
    for prefix, package in roots.items():
        root = Path(package.__file__).parent
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if prefix == "redmule_hdl" and parts[0] in ("sim", "synth"):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((prefix, *parts))] = path
    return found


def _imports(name, path):
    """Project modules imported by module ``name`` (absolute and relative imports)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("redmule_hdl")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("redmule_hdl"):
                out.add(module)
                out |= {f"{module}.{a.name}" for a in node.names}
    return out


def _layer(module):
    parts = module.split(".")
    return RANK.get(parts[1]) if len(parts) > 1 else None


def test_every_module_has_a_layer():
    unplaced = [m for m in _modules() if m != "redmule_hdl" and _layer(m) is None]
    assert not unplaced, f"modules outside the layers {LAYERS}: {unplaced}"


def test_imports_only_go_downwards():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        if name == "redmule_hdl":
            continue
        for target in _imports(name, path):
            if target in modules and target != "redmule_hdl" and _layer(target) > _layer(name):
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that go up a layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    modules = _modules()
    graph = {name: {t for t in _imports(name, path) if t in modules and t != name}
             for name, path in modules.items()}
    # A package imports its submodules to re-export them; a submodule importing a sibling through
    # the package is the same edge, so package -> own submodule edges are left out.
    graph = {n: {t for t in ts if not t.startswith(n + ".")} for n, ts in graph.items()}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_no_top_level_sim_or_synth_names():
    """The testbenches and flows are installed under the project's name only."""
    assert redmule_hdl.sim.__name__ == "redmule_hdl.sim"
    for path in _modules().values():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not any(n.split(".")[0] in ("sim", "synth") for n in names), (path.name, names)
