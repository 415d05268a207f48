"""The project's power figures against OpenSTA's (``synth.opensta``), on the same netlist and activity.

Netlists mapped to the OSU 0.18 um library (Debian ``qflow-tech-osu018``); the flip-flop outputs and
input ports get the same activity in both tools, ``synth.power.analyze_power`` and OpenSTA (Debian
``opensta``) each propagate it into the logic and price the netlist. The FMA (activity of a
gate-level simulation): totals within 15 %. One computing element split into the FMA, its input and
output stages and the rest (seeded activity): the same order of blocks. Skips, saying why, without ``sta`` or the library (``.ci/run`` installs both).
"""
import json
import random
import tempfile
from pathlib import Path

import pytest

from redmule_hdl.config import Config
from redmule_hdl.synth import blocks
from redmule_hdl.synth.flow import load_library, synthesize
from redmule_hdl.synth.opensta import opensta_power, sta_available
from redmule_hdl.synth.power import analyze_power

OSU018 = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")

pytestmark = [
    pytest.mark.skipif(sta_available() is None,
                       reason="OpenSTA (sta) is not installed: apt-get install opensta"),
    pytest.mark.skipif(not OSU018.is_file(),
                       reason=f"{OSU018} is missing: apt-get install qflow-tech-osu018"),
]


def _ours_without_clock_net(report, mhz):
    """mW per block as OpenSTA counts them: without the clock net (the flip-flops' clock pin
    capacitance), which its ``report_power`` leaves out."""
    return {b: report.power_mw(mhz, b) - report.clock_net.get(b, 0.0) * mhz * 1e-3 for b in report.blocks}


def _seeds(mod, lib):
    flops = {n for n, c in lib.cells.items() if c.is_ff}
    seeds = [c["connections"]["Q"][0] for c in mod["cells"].values() if c["type"] in flops]
    return seeds + [b for name, p in mod["ports"].items() if p["direction"] == "input" and name != "clk"
                    for b in p["bits"] if isinstance(b, int)]


@pytest.mark.parametrize("zeros", [False, True])
def test_fma_total_agrees_with_opensta(zeros):
    """The FMA with the register and port activity of a gate-level simulation (random FP16 operands,
    or all zeros): both tools propagate it into the logic; totals within 15 %."""
    from redmule_hdl.power import fma_netlist, fma_propagation_error
    from redmule_hdl.synth.gatesim import toggle_activity
    netlist = _fma_netlist(fma_netlist)
    lib, _, _ = load_library(OSU018)
    r = fma_propagation_error(1, cycles=300, zeros=zeros, liberty=OSU018, netlist=netlist)
    every = toggle_activity(r["values"], 5)
    mod = netlist["modules"]["fma"]
    activity = {b: every[b] for b in _seeds(mod, lib) if b in every}
    cycles = r["cycles"]
    sta = opensta_power(netlist, "fma", OSU018, activity, cycles, 10.0)
    ours = analyze_power(netlist, "fma", lib, {}, cycles, reference=False, bit_activity=activity)
    ours_total = sum(_ours_without_clock_net(ours, 100.0).values())
    sta_total = sum(sum(v.values()) for v in sta.values())
    assert sta_total > 0
    assert abs(ours_total / sta_total - 1) < 0.15, (ours_total, sta_total)


_FMA = {}


def _fma_netlist(make):
    if "netlist" not in _FMA:
        _FMA["netlist"] = make(1, OSU018)
    return _FMA["netlist"]


def test_block_order_agrees_with_opensta():
    """One computing element (P = 1) in four blocks, the FMA, the CE's input and output stages and the
    rest, every flip-flop output and input port with a seeded activity (toggle rate and duty): the
    blocks come in the same order in both tools."""
    top, design, _ = blocks.design(Config(L=2, H=2, P=1), "ce")
    group = {"fma": "FMA", "pre": "CE input stage", "post": "CE output stage", top: "rest of the CE"}
    with tempfile.TemporaryDirectory() as work:
        synthesize(None, top, liberty=OSU018, workdir=work, design=design, timing=False, netlist=True)
        netlist = json.loads(Path(work, "netlist.json").read_text())
    lib, _, _ = load_library(OSU018)
    mod = netlist["modules"][top]
    rng = random.Random(19)
    cycles = 1000
    activity = {}
    for b in _seeds(mod, lib):
        duty = rng.uniform(0.1, 0.9)
        activity[b] = (int(cycles * rng.uniform(0.0, 2 * min(duty, 1 - duty))), duty * cycles)
    sta = opensta_power(netlist, top, OSU018, activity, cycles, 10.0, group)
    ours = analyze_power(netlist, top, lib, {}, cycles, group=group, reference=False, bit_activity=activity)
    our_blocks = _ours_without_clock_net(ours, 100.0)
    sta_blocks = {b: sum(r.values()) for b, r in sta.items()}
    assert len(our_blocks) == 4
    assert sorted(our_blocks, key=our_blocks.get) == sorted(sta_blocks, key=sta_blocks.get), \
        (our_blocks, sta_blocks)
