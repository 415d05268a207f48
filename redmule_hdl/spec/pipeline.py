"""Where the FMA's pipeline registers go: its natural cut points and the placement rule.

Shared facts: ``Config`` limits P with ``MAX_PIPELINE``, the FMA (``arith/fma.py``) places its
registers with ``register_placement``, and the min/max unit and the computing element validate their
``pipeline`` parameter with ``check_pipeline``.
"""

__all__ = ["CUT_POINTS", "MAX_PIPELINE", "check_pipeline", "register_placement"]


#: Natural cut points of the FMA datapath, in datapath order. A register at a cut point registers
#: every value that is live there.
CUT_POINTS = (
    "unpack",     # after mode forcing, operand unpack, special-case detection and exponent compare
    "multiply",   # after the 11x11-bit significand product
    "align",      # after the addend alignment shifter (window + sticky)
    "add",        # after the wide add / subtract and the conditional negation
    "lzc",        # after the leading-zero count and the subnormal clamp of the shift
    "normalize",  # after the normalizing left shift
    "round",      # after round/sticky extraction, before the rounding increment and packing
)

#: Largest accepted ``pipeline`` value (more registers than cut points double up at cut points).
MAX_PIPELINE = len(CUT_POINTS) + 1

_PLACEMENT_RULE = (f"pipeline must be an int in 0..{MAX_PIPELINE}; the registers are spread evenly over "
                   f"the {len(CUT_POINTS) + 1} logic segments separated by the cut points "
                   f"{', '.join(CUT_POINTS)}")


def check_pipeline(pipeline):
    """Validate a ``pipeline`` parameter (number of register stages); TypeError/ValueError otherwise."""
    if isinstance(pipeline, bool) or not isinstance(pipeline, int):
        raise TypeError(f"{_PLACEMENT_RULE}; got {pipeline!r}")
    if not 0 <= pipeline <= MAX_PIPELINE:
        raise ValueError(f"{_PLACEMENT_RULE}; got {pipeline!r}")
    return pipeline


def register_placement(pipeline):
    """Registers at each cut point (a tuple aligned with :data:`CUT_POINTS`) for ``pipeline`` stages.

    The ``len(CUT_POINTS)`` cut points split the datapath into ``S = len(CUT_POINTS) + 1`` logic
    segments. Register ``i`` (1-based) is placed after segment ``round(i * S / (pipeline + 1))``
    (halves round up), so the ``pipeline + 1`` resulting stages hold equally many segments, give or
    take one. With ``pipeline = S`` two registers share one cut point.
    """
    check_pipeline(pipeline)
    segments = len(CUT_POINTS) + 1
    counts = [0] * len(CUT_POINTS)
    for i in range(1, pipeline + 1):
        boundary = (2 * i * segments + pipeline + 1) // (2 * (pipeline + 1))
        counts[boundary - 1] += 1
    return tuple(counts)
