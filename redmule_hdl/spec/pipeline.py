"""Where the FMA's pipeline registers go: its natural cut points and the placement rule.

Shared facts: ``Config`` limits P with ``MAX_PIPELINE``, the FMA (``arith/fma.py``) places its
registers with ``register_placement``, and the min/max unit and the computing element validate their
``pipeline`` parameter with ``check_pipeline``.
"""

__all__ = ["CUT_POINTS", "MAX_PIPELINE", "PLACEMENTS", "check_pipeline", "register_placement"]


#: Natural cut points of the FMA datapath, in datapath order. A register at a cut point registers
#: every value that is live there.
CUT_POINTS = (
    "unpack",     # after operand unpack, special cases, the exponent sum and the first product stage
    "exponent",   # after the addend shift amount, the window exponent and the product's last stage
    "align",      # after the addend alignment shifter
    "add_low",    # after the low half of the wide adds (P + A or P - A, and A - P)
    "add",        # after their high half and the choice of the non-negative difference
    "lzc",        # after the leading-zero count and the subnormal clamp of the shift
    "normalize",  # after the normalizing left shift
    "round",      # after round/sticky extraction, before the rounding increment and packing
)

#: Largest accepted ``pipeline`` value: a register at every cut point.
MAX_PIPELINE = len(CUT_POINTS)

#: Registers at each cut point for each ``pipeline`` value, chosen by delay: for each P the
#: placements a segment-delay estimate ranked first (five per P; the FMA with a register at every
#: cut point, per segment) were mapped with the project's flow (``synth.flow``, the FMA in its
#: standard-cell spelling with registered ports, ``synth.clock.Registered``), and the row is the
#: one with the shortest clock period (FO4, issue 21; measured for issue 21):
#:
#: ==========  ==============================================  ========
#: pipeline    registers after                                 FO4
#: ==========  ==============================================  ========
#: 0           (none)                                          125.4
#: 1           add                                             86.1
#: 2           add_low, normalize                              59.9
#: 3           exponent, add_low, lzc                          35.9
#: 4           exponent, add_low, lzc, round                   33.6
#: 5           unpack, exponent, add_low, add, normalize       33.7
#: 6           all but add and round                           30.4
#: 7           all but add                                     28.0
#: 8           every cut point                                 23.2
#: ==========  ==============================================  ========
#:
#: Each segment between two cut points takes 16 to 23 FO4 with its registers (clock-to-Q and setup
#: included); from P = 4 on, the slowest stage is two segments, so P = 4 to 7 gain less than P = 3
#: did. A register at "add_low" matters most: without it the two wide adds with their compressor
#: level form one stage of about 50 FO4.
PLACEMENTS = (
    (0, 0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, 1, 0, 0, 0),
    (0, 0, 0, 1, 0, 0, 1, 0),
    (0, 1, 0, 1, 0, 1, 0, 0),
    (0, 1, 0, 1, 0, 1, 0, 1),
    (1, 1, 0, 1, 1, 0, 1, 0),
    (1, 1, 1, 1, 0, 1, 1, 0),
    (1, 1, 1, 1, 0, 1, 1, 1),
    (1, 1, 1, 1, 1, 1, 1, 1),
)
assert all(len(p) == len(CUT_POINTS) and sum(p) == n for n, p in enumerate(PLACEMENTS))

_PLACEMENT_RULE = (f"pipeline must be an int in 0..{MAX_PIPELINE}; the registers go to the cut points "
                   f"{', '.join(CUT_POINTS)} as the table PLACEMENTS says")


def check_pipeline(pipeline):
    """Validate a ``pipeline`` parameter (number of register stages); TypeError/ValueError otherwise."""
    if isinstance(pipeline, bool) or not isinstance(pipeline, int):
        raise TypeError(f"{_PLACEMENT_RULE}; got {pipeline!r}")
    if not 0 <= pipeline <= MAX_PIPELINE:
        raise ValueError(f"{_PLACEMENT_RULE}; got {pipeline!r}")
    return pipeline


def register_placement(pipeline):
    """Registers at each cut point (a tuple aligned with :data:`CUT_POINTS`) for ``pipeline`` stages:
    the row ``PLACEMENTS[pipeline]``, chosen by measured delay."""
    return PLACEMENTS[check_pipeline(pipeline)]
