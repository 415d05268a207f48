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

#: Registers at each cut point for each ``pipeline`` value, chosen by delay (issue 21): for each P
#: the placements that a segment-delay estimate ranked first (four or five per P) were mapped with
#: the project's flow (``synth.flow``, standard-cell spelling, ports registered by
#: ``synth.clock.Registered``), the FMA alone and inside the computing element, whose output
#: comparator and result multiplexer follow the FMA's last stage. The rows take the shortest CE
#: period (the engine's clock), then the shortest FMA period (FO4):
#:
#: ==========  ==============================================  =======  =======
#: pipeline    registers after                                 FMA      CE
#: ==========  ==============================================  =======  =======
#: 0           (none)                                          125.4    156.1
#: 1           add                                             86.1     92.9
#: 2           add_low, normalize                              59.9     63.8
#: 3           exponent, add_low, normalize                    42.7     54.6
#: 4           exponent, add_low, lzc, round                   33.6     37.7
#: 5           unpack, exponent, add_low, lzc, round           33.7     37.8
#: 6           all but align and add                           33.2     37.7
#: 7           all but add                                     28.0     36.1
#: 8           every cut point                                 23.4     37.4
#: ==========  ==============================================  =======  =======
#:
#: Each segment between two cut points takes 16 to 23 FO4 with its registers (clock-to-Q and setup
#: included). In the CE, a stage that ends at the output needs a register at "round": from P = 4 on
#: the CE's clock is its output stage (rounding choice, packing, comparator, multiplexer: 36 to 38
#: FO4) while the FMA alone keeps shrinking. A register at "add_low" matters most: without it the
#: two wide adds with their compressor level form one stage of about 50 FO4. For P = 3 the FMA alone
#: would be faster with registers after exponent, add_low and lzc (35.9 FO4), but its CE slower
#: (58.9).
PLACEMENTS = (
    (0, 0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, 1, 0, 0, 0),
    (0, 0, 0, 1, 0, 0, 1, 0),
    (0, 1, 0, 1, 0, 0, 1, 0),
    (0, 1, 0, 1, 0, 1, 0, 1),
    (1, 1, 0, 1, 0, 1, 0, 1),
    (1, 1, 0, 1, 0, 1, 1, 1),
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
