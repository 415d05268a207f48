"""The component tree of RedMulE, generated from the elaborated design (``docs/components.txt``).

``tree(config)`` elaborates ``RedMulE(config)`` (simulation mode: every CE a ``ComputeElement``) and
returns its submodules as ``Node``s: name, class and, for a ``wiring.Component``, the members of its
signature (``name In|Out shape-or-interface``). Under each parent, ``connections`` lists the direct
port-to-port assignments (as ``wiring.connect`` makes them) between its children and its own ports
(written without a prefix), one line per pair of members, from the side that sends the most bits.
Siblings whose names differ only in digits and that are the same hardware (the CEs) are shown once,
with ``*`` for the digits and a count.
``text(node)`` renders the tree as indented text, ``dot(node)`` as a Graphviz graph.

Regenerate the committed file with ``python -m redmule_hdl.diagram > docs/components.txt``
(``--dot`` prints the Graphviz graph instead; ``-L``, ``-H``, ... choose another configuration).
"""
import re
import sys
import textwrap
from dataclasses import dataclass, field

from amaranth.hdl import Fragment, Instance, Module, Shape, Signal, Value
from amaranth.lib import data, stream, wiring

from redmule_hdl.config import Config, check_config

__all__ = ["Node", "tree", "text", "dot", "main"]


@dataclass
class Node:
    """One submodule: ``ports`` are ``(member, "In"|"Out", description)``, ``connections``
    ``"a.x -> b.y"`` lines between children (or this node's own ports), ``count`` the siblings it
    stands for."""
    name: str
    cls: str
    ports: list
    children: list = field(default_factory=list)
    connections: list = field(default_factory=list)
    count: int = 1


def _shape(shape):
    width = Shape.cast(shape).width
    if isinstance(shape, type):
        return f"{shape.__name__} ({width}b)"
    if isinstance(shape, data.ArrayLayout):
        return f"{shape.length} x {_shape(shape.elem_shape)}"
    if isinstance(shape, data.Layout):
        return f"struct ({width}b)"
    return f"{width}b"


def _interface(signature):
    if isinstance(signature, wiring.FlippedSignature):
        signature = signature.flip()
    if isinstance(signature, stream.Signature):
        return f"stream({_shape(signature.members['payload'].shape)})"
    return type(signature).__name__


def _component(fragment):
    return next((o for o in (fragment.origins or ()) if isinstance(o, wiring.Component)), None)


def _class_name(fragment):
    if isinstance(fragment, Instance):
        return f"Instance({fragment.type})"
    origins = [o for o in (fragment.origins or ()) if not isinstance(o, Module)]
    return type(origins[0]).__name__ if origins else "Fragment"


def _ports(component):
    if component is None:
        return []
    return [(name, member.flow.name, _shape(member.shape) if member.is_port else _interface(member.signature))
            for name, member in component.signature.members.items()]


def _port_signals(component, owner, table):
    """Enter every port signal of ``component`` in ``table`` (by ``id``: signals are not hashable)
    as ``(owner, top-level member)``."""
    if component is None:
        return
    for path, _flow, value in component.signature.flatten(component):
        value = Value.cast(value)
        if isinstance(value, Signal):
            table[id(value)] = (owner, path[0])


def _body(node):
    """The lines of ``node`` without its name (equal for siblings that are the same hardware)."""
    lines = []
    if node.ports:
        ports = "; ".join(f"{n} {flow} {d}" for n, flow, d in node.ports)
        lines += textwrap.wrap(f"ports: {ports}", 96, subsequent_indent="  ", break_on_hyphens=False)
    for child in node.children:
        lines += _lines(child)
    if node.connections:
        lines.append("connections:")
        lines += [f"  {c}" for c in node.connections]
    return lines


def _lines(node):
    count = f"  (x{node.count})" if node.count > 1 else ""
    return [f"{node.name}: {node.cls}{count}"] + [f"  {line}" for line in _body(node)]


def _node(fragment, name):
    component = _component(fragment)
    node = Node(name, _class_name(fragment), _ports(component))
    # Children, with runs of siblings that are the same hardware shown once.
    label = {}
    for index, (sub, sub_name, _src) in enumerate(fragment.subfragments):
        sub_name = f"U${index}" if sub_name is None else sub_name
        child = _node(sub, sub_name)
        last = node.children[-1] if node.children else None
        starred = re.sub(r"\d+", "*", sub_name)
        if (last is not None and re.sub(r"\d+", "*", last.name) == starred and last.cls == child.cls
                and _body(last) == _body(child)):
            last.count += 1
            last.name = starred
            label[sub_name] = last
        else:
            node.children.append(child)
            label[sub_name] = child
    # Direct assignments between port signals of the children and of this node.
    owners = {}
    _port_signals(component, None, owners)
    for index, (sub, sub_name, _src) in enumerate(fragment.subfragments):
        _port_signals(_component(sub), f"U${index}" if sub_name is None else sub_name, owners)
    bits = {}
    for statements in fragment.statements.values():
        for stmt in statements:
            # An assignment (Amaranth 0.5 does not export ``Assign``): ``lhs.eq(rhs)``.
            lhs, rhs = getattr(stmt, "lhs", None), getattr(stmt, "rhs", None)
            if not (isinstance(lhs, Signal) and isinstance(rhs, Signal)):
                continue
            dst, src = owners.get(id(lhs)), owners.get(id(rhs))
            if dst is None or src is None or dst[0] == src[0]:
                continue
            dst = ("" if dst[0] is None else label[dst[0]].name, dst[1])
            src = ("" if src[0] is None else label[src[0]].name, src[1])
            bits[(src, dst)] = bits.get((src, dst), 0) + len(lhs)
    for (src, dst), n in bits.items():
        back = bits.get((dst, src), 0)
        line = " -> ".join(".".join(filter(None, end)) for end in (src, dst))
        if (n > back or (n == back and src < dst)) and line not in node.connections:
            node.connections.append(line)
    return node


def tree(config=None):
    """The component tree (``Node``) of ``RedMulE(config)`` (default ``Config()``)."""
    from redmule_hdl.system.top import RedMulE
    config = check_config(Config() if config is None else config)
    return _node(Fragment.get(RedMulE(config), None), "top")


def text(node, config=None):
    """``node`` as indented text; ``config`` names the configuration in the heading."""
    head = [f"# The component tree of RedMulE {config}, generated by python -m redmule_hdl.diagram"]
    return "\n".join((head if config else []) + _lines(node)) + "\n"


def dot(node):
    """``node`` as a Graphviz digraph: a box per submodule, a cluster per parent, an edge per
    connection between siblings or with the parent."""
    out = ["digraph redmule {", "  rankdir=LR; compound=true; node [shape=box, fontsize=10];"]

    def emit(n, path, indent):
        pad = "  " * indent
        ident = '"' + path + '"'
        count = f" (x{n.count})" if n.count > 1 else ""
        box = f'{pad}{ident} [label="{n.name}{count}\\n{n.cls}"];'
        if not n.children:
            out.append(box)
            return
        out.append(f'{pad}subgraph "cluster_{path}" {{')
        out.append(f'{pad}  label="{n.name}: {n.cls}";')
        out.append("  " + box)
        for child in n.children:
            emit(child, f"{path}.{child.name}", indent + 1)
        for c in n.connections:
            ends = [(path, e) if "." not in e else (f"{path}.{e.rsplit('.', 1)[0]}", e.rsplit(".", 1)[1])
                    for e in c.split(" -> ")]
            (ida, pa), (idb, pb) = ends
            out.append(f'{pad}  "{ida}" -> "{idb}" [label="{pa} -> {pb}", fontsize=8];')
        out.append(f"{pad}}}")

    emit(node, node.name, 1)
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv=None):
    from redmule_hdl.config_args import ArgumentParser, add_config_arguments, config_from_args
    parser = ArgumentParser(prog="python -m redmule_hdl.diagram",
                            description="Print RedMulE's component tree (docs/components.txt).")
    add_config_arguments(parser)
    parser.add_argument("--dot", action="store_true", help="print a Graphviz digraph instead of text")
    args = parser.parse_args(argv)
    config = config_from_args(args, parser)
    node = tree(config)
    sys.stdout.write(dot(node) if args.dot else text(node, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
