"""How the generated hardware spells its arithmetic, chosen by the platform it is elaborated for.

* ``GENERIC`` (``platform=None``, the default, and every Amaranth FPGA platform): ``+`` and ``*``
  stay operators, and the synthesis tool picks the adder and multiplier: carry chains and DSP
  blocks on an FPGA (one MULT18X18D per FMA on an ECP5), its own adder library in a commercial
  ASIC flow; the simulators evaluate each in one step.
* ``STANDARD_CELLS``: the FMA's wide adds, its rounding increment and its significand product are
  written out as Kogge-Stone parallel-prefix adders and a carry-save (Wallace) tree
  (``arith/adders.py``). Yosys and ABC, the project's standard-cell flow (``synth/flow.py``,
  ``synth/clock.py``), map operators to ripple-carry chains whose delay grows with the width; these
  structures let each pipeline register of the FMA buy clock.

Elaborate with ``platform=STANDARD_CELLS`` (``amaranth.back.rtlil.convert(..., platform=...)``) or
give the FMA ``technology=`` directly. Both spellings are bit- and cycle-identical
(``tests/test_fma.py``).
"""
__all__ = ["Technology", "GENERIC", "STANDARD_CELLS", "technology_of"]


class Technology:
    """A target technology; passed to ``elaborate`` as the Amaranth platform."""

    def __init__(self, name, spelled_out_arithmetic):
        self.name = name
        self.spelled_out_arithmetic = spelled_out_arithmetic
        self.redmule_technology = self

    def __repr__(self):
        return f"Technology({self.name!r})"


GENERIC = Technology("generic", False)
STANDARD_CELLS = Technology("standard_cells", True)


def technology_of(platform):
    """The ``Technology`` of an elaboration platform (``GENERIC`` unless it names one)."""
    return getattr(platform, "redmule_technology", None) or GENERIC
