"""Register placement by delay: every added pipeline register buys clock.

The FMA is mapped to the project's library in its standard-cell spelling (``synth.flow``,
``technology.STANDARD_CELLS``) with a register on each port (``synth.clock.Registered``), and its
minimum clock period (FO4) compared across pipeline depths. ``python -m redmule_hdl.synth.clock``
prints the whole table, P = 0..8, with OpenSTA on a real library beside it.
"""
from redmule_hdl.arith.fma import FMA
from redmule_hdl.synth.clock import fo4_period


def test_each_register_buys_clock():
    period = {P: fo4_period("fma", P)[0] for P in (3, 4, 6)}
    print("FMA clock period (FO4), P = 3, 4, 6:", period)
    assert period[4] <= 0.85 * period[3], period
    assert period[6] <= 0.70 * period[3], period


def test_computing_element_is_as_fast_as_its_fma():
    """At P = 3 (the default) the CE adds no logic to the FMA's stages that matters: mapped to the
    project's library, its slowest stage, and its paths from the operand ports (x, acc: registers of
    the engine; x_next, w_next: into the CE's operand registers) plus a clock-to-Q, are within 5 % of
    the FMA's own critical path. The CE that fed the FMA through its input comparator had 76 FO4 from
    w to the multiplier's register against the FMA's 60."""
    from redmule_hdl.engine.ce import ComputeElement
    from redmule_hdl.synth.flow import synthesize

    fma = synthesize(FMA(pipeline=3), "fma").timing
    ce = synthesize(ComputeElement(3), "ce").timing
    limit = 1.05 * fma.critical.delay
    clock_to_q = ce.critical.steps[0].arrival
    assert ce.critical.delay <= limit, (ce.critical, fma.critical)
    assert ce.paths["in->reg"].delay + clock_to_q <= limit, (ce.paths["in->reg"], fma.critical)
