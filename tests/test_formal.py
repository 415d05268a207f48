"""The formal flow (sim/formal.py) on the smallest harnesses: each property family holds to a small
BMC depth, and a deliberately broken design gives a counterexample with a VCD trace.

The full run (k-induction, deeper BMC, every cover) is ``redmule-hdl formal``; README "Formal".
"""
import pytest

from redmule_hdl.sim import formal

CASES = [
    # block, property, mutant, depth
    ("job_slots", "slots_put_only_free", "slots_ignore_full", 4),
    ("regfile", "periph_id", "periph_wrong_id", 3),
    ("streamer", "tcdm_hold", "tcdm_add_drops_hold", 4),
    ("streamer", "tcdm_no_request_after_reset", "tcdm_req_in_reset", 3),
    ("top", "evt_per_job", "evt_double", 6),
    ("x_addr", "x_address", "address_skips_row", 5),       # an X beat one row pitch off
]


@pytest.mark.parametrize("block,prop,mutant,depth", CASES, ids=lambda v: str(v))
def test_property_holds_and_its_mutant_is_caught(tmp_path, block, prop, mutant, depth):
    good = formal.check(block, prop, mode="bmc", depth=depth, workdir=tmp_path / "good")
    assert good.status == "bounded", good.log[-2000:]
    bad = formal.check(block, prop, mode="bmc", depth=depth, mutant=mutant, workdir=tmp_path / "bad")
    assert bad.status == "counterexample", bad.log[-2000:]
    assert bad.trace is not None and bad.trace.read_text().startswith("$")


@pytest.mark.parametrize("block,prop,mutant,depth", [
    ("streamer", "window_write", "z_write_past_end", 8),     # a store one element past its row
    ("job_guard", "guard_beside_sound", "guard_short", 6),   # the guard's result one cycle early
], ids=lambda v: str(v))
def test_window_and_guard_mutants_are_caught(tmp_path, block, prop, mutant, depth):
    """The address-window and job-guard properties (their unbroken runs take a minute or more:
    README "Formal") give a counterexample on a design broken on purpose."""
    bad = formal.check(block, prop, mode="bmc", depth=depth, mutant=mutant, workdir=tmp_path)
    assert bad.status == "counterexample", bad.log[-2000:]
    assert bad.trace is not None and bad.trace.read_text().startswith("$")


def test_the_controller_keeps_the_guard_by_induction(tmp_path):
    """With the job guard abstracted to its contract, the controller starts a job beside a running
    one only on the guard's word: proven by 2-induction with the controller's lemmas; a guard that
    passes every head gives a counterexample."""
    r = formal.check("controller", "guard_beside_kept", mode="prove", depth=2, workdir=tmp_path / "good")
    assert r.status == "proven", r.log[-2000:]
    bad = formal.check("controller", "guard_beside_kept", mode="bmc", depth=5, mutant="guard_passes_all",
                       workdir=tmp_path / "bad")
    assert bad.status == "counterexample", bad.log[-2000:]


def test_a_job_finishes_and_an_overlap_is_refused(tmp_path):
    """Covers: a job's last store granted (streamer), ERROR reading OVERLAP after an evt (controller),
    a job queued behind another walked to its end (an address generator)."""
    for block, prop, depth in (("streamer", "job_stored", 10), ("controller", "overlap_refused", 9),
                               ("w_addr", "w_queued_job_done", 6)):
        r = formal.check(block, prop, mode="cover", depth=depth, workdir=tmp_path / prop)
        assert r.status == "reached", r.log[-2000:]


def test_peripheral_response_is_proven_by_induction(tmp_path):
    r = formal.check("regfile", "periph_response", mode="prove", depth=3, workdir=tmp_path)
    assert r.status == "proven", r.log[-2000:]


@pytest.mark.parametrize("block,prop", [("streamer", "tcdm_outstanding"), ("job_slots", "slots_bounded")])
def test_lemmas_make_the_induction_close(tmp_path, block, prop):
    """With the lemmas over the blocks' internal registers (README "Formal"; without them the
    induction step fails at any depth: "bounded"), 1-induction proves the property, lemmas included."""
    r = formal.check(block, prop, mode="prove", depth=1, workdir=tmp_path)
    assert r.status == "proven", r.log[-2000:]


def test_a_counterexample_replays_in_simulation(tmp_path):
    """The solver's trace, replayed in Amaranth's simulator: the mutant's property fails at the
    step the solver reported; the unbroken design, given the same inputs, keeps it."""
    bad = formal.check("regfile", "periph_id", mode="bmc", depth=3, mutant="periph_wrong_id",
                       workdir=tmp_path)
    assert bad.status == "counterexample" and bad.failed_step is not None, bad.log[-2000:]
    mutant = formal.replay("regfile", "periph_id", bad.trace, mutant="periph_wrong_id")
    assert (mutant.failed_at, mutant.assumption_broken_at) == (bad.failed_step, None)
    unbroken = formal.replay("regfile", "periph_id", bad.trace)
    assert (unbroken.failed_at, unbroken.assumption_broken_at) == (None, None)


def test_unknown_block_and_property():
    with pytest.raises(ValueError, match="block must be"):
        formal.check("nope", "x")
    with pytest.raises(ValueError, match="no property"):
        formal.check("regfile", "tcdm_hold")
    with pytest.raises(ValueError, match="cover"):
        formal.check("regfile", "periph_read", mode="bmc")
    for jobs in (0, -1, 1.5, True):     # refused before any check runs
        with pytest.raises(ValueError, match="jobs must be a positive int"):
            formal.run(jobs=jobs, out=lambda line: None)


def test_the_blocks_carry_no_property(tmp_path):
    """The properties live in the harnesses only: the accelerator itself elaborates without a single
    Assert/Assume/Cover cell, so exported Verilog and simulation netlists are what they were."""
    from amaranth.back import rtlil

    from redmule_hdl.system.top import RedMulE
    top = RedMulE(formal.SMALL)
    text = rtlil.convert(top, ports=None)
    assert "$check" not in text
    harness = formal.BLOCKS["regfile"](formal.SMALL, formal.Properties())
    assert "$check" in rtlil.convert(harness, ports=harness.ports)
