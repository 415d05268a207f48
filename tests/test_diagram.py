"""The component tree: docs/components.txt is what ``python -m redmule_hdl.diagram`` prints now, and
the tree finds blocks, their ports and the connections between them in the elaborated design."""
from pathlib import Path

from redmule_hdl import diagram
from redmule_hdl.config import Config

DOC = Path(__file__).resolve().parents[1] / "docs" / "components.txt"


def test_committed_tree_is_current(capsys):
    assert diagram.main([]) == 0
    assert capsys.readouterr().out == DOC.read_text(), \
        "docs/components.txt is stale: python -m redmule_hdl.diagram > docs/components.txt"


def test_tree_of_a_small_config():
    config = Config(L=2, H=3, P=1)
    top = diagram.tree(config)
    assert (top.name, top.cls) == ("top", "RedMulE")
    assert [p[0] for p in top.ports] == ["tcdm", "periph", "evt", "busy"]
    children = {c.name: c for c in top.children}
    assert {"regfile", "controller", "streamer", "engine"} <= set(children)

    def count(node, cls, times=1):
        here = times * node.count
        return (here if node.cls == cls else 0) + sum(count(c, cls, here) for c in node.children)
    assert count(children["engine"], "ComputeElement") == config.L * config.H
    assert "regfile.head -> controller.head" in top.connections
    assert "engine.z -> streamer.z" in top.connections
    assert "streamer.tcdm -> tcdm" in top.connections
    text = diagram.text(top, config)
    assert text.startswith("# The component tree of RedMulE 2x3x1")
    graph = diagram.dot(top)
    assert graph.startswith("digraph") and '"top.regfile" -> "top.controller"' in graph
