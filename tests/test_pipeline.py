"""Register placement by delay: every added pipeline register buys clock.

The FMA is mapped to the project's library in its standard-cell spelling (``synth.flow``,
``technology.STANDARD_CELLS``) with a register on each port (``synth.clock.Registered``), and its
minimum clock period (FO4) compared across pipeline depths. ``python -m redmule_hdl.synth.clock``
prints the whole table, P = 0..8, with OpenSTA on a real library beside it.
"""
from redmule_hdl.arith.fma import FMA
from redmule_hdl.synth.clock import fo4_period


def test_each_register_buys_clock():
    """P = 3 (the default) well below the 61 FO4 the FMA had before issue 21 (when P = 4 and 6
    were no faster than P = 3), and each of P = 4 and 6 faster again (0.79x and 0.78x of P = 3;
    spec.pipeline.PLACEMENTS)."""
    period = {P: fo4_period("fma", P)[0] for P in (3, 4, 6)}
    print("FMA clock period (FO4), P = 3, 4, 6:", period)
    assert period[3] <= 45, period
    assert period[4] <= 0.85 * period[3], period
    assert period[6] < period[4] < period[3], period


def test_computing_element_operand_paths():
    """At P = 3 (the default) the CE's paths from its operand ports (x, acc: registers of the
    engine; x_next, w_next: into the CE's operand registers) plus a clock-to-Q are no longer than
    its slowest stage. That stage is the CE's output stage (the FMA's last segment, the output
    comparator and the result multiplexer), not the FMA's wide add as before issue 21; the FMA
    alone is faster (``test_each_register_buys_clock``)."""
    from redmule_hdl.engine.ce import ComputeElement
    from redmule_hdl.synth.flow import synthesize

    ce = synthesize(ComputeElement(3), "ce").timing
    clock_to_q = ce.critical.steps[0].arrival
    assert ce.paths["in->reg"].delay + clock_to_q <= ce.critical.delay, (ce.paths["in->reg"], ce.critical)
    assert ce.critical.end.startswith("z"), ce.critical
