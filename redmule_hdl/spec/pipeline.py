"""Where the FMA's pipeline registers go: its natural cut points and the placement rule.

Shared facts: ``Config`` limits P with ``MAX_PIPELINE``, the FMA (``arith/fma.py``) places its
registers with ``register_placement``, and the min/max unit and the computing element validate their
``pipeline`` parameter with ``check_pipeline``.
"""

__all__ = ["CUT_POINTS", "FAST_CUT_POINTS", "FAST_FROM_P", "FAST_PLACEMENTS", "FPGA_PLACEMENTS",
           "FPGA_SMALL_PLACEMENTS", "MAX_PIPELINE", "PLACEMENTS", "check_pipeline", "register_placement"]


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

#: Registers at each cut point for each ``pipeline`` value, chosen by delay. Each row was measured
#: by synthesizing the FMA for every placement of that many registers (one register per cut point at
#: most; 127 netlists, Yosys ``synth -flatten`` with ABC mapping to 2-input gates and MUX2) and taking
#: the placement whose slowest stage has the fewest gate levels, ties broken by the next-slowest stage
#: (levels sorted, slowest first):
#:
#: ==========  ====================================  ==============================
#: pipeline    registers after                       gate levels per stage
#: ==========  ====================================  ==============================
#: 0           (none)                                185
#: 1           add                                   98, 51
#: 2           align, add                            64, 53, 44
#: 3           align, add, round                     63, 44, 33, 19
#: 4           unpack, align, add, normalize         63, 42, 27, 26, 25
#: 5           unpack, multiply, align, add, round   63, ... (see below)
#: 6           all but normalize                     63, 42, 24, 22, 18, 13, 11
#: 7           every cut point                       63, 42, 27, 23, 19, 10, 8, 6
#: 8           every cut point, two after add        (as 7)
#: ==========  ====================================  ==============================
#:
#: The wide add with its conditional negation (63 levels) is one segment that no register can split,
#: so from 3 registers on the FMA's slowest stage stays at 63 levels: an extra register never makes
#: the FMA slower (``tests/test_pipeline.py`` re-measures it).
#:
#: Row 5 was "unpack, multiply, align, add, lzc" (63, 41, 27, 25, 24, 10 levels), but in the CE its
#: last stage (normalizing shift, rounding, packing, output comparator) took 73.6 FO4 against 61.2
#: at P = 4; with registers after unpack, multiply, align, add and round the CE takes 60.5 FO4
#: (alternatives with 63 levels: "multiply, align, add, normalize, round" 62.3, "align, add, lzc,
#: normalize, round" 62.1; "unpack, align, add, normalize, round" has 64 levels), set by the wide
#: add like every P >= 3 (``docs/results/clock-per-P.md``).
#:
#: For 3 registers the rule ties between "align, add, normalize" (63, 44, 27, 26) and "align, add,
#: round" (63, 44, 33, 19) up to the third stage, and the row takes the second: in the computing
#: element the FMA's last stage also carries the output comparator and the result multiplexer, so
#: the CE wants it short. Mapped to ``redmule_ge``, that stage of the CE takes 55 to 58 FO4 instead
#: of 60 to 63 (``redmule-hdl synth --block ce``; 56.6 instead of 65.7 in the 12x4x3 top), below the
#: wide add's 60 to 62; the round cut also registers 28 bits fewer.
PLACEMENTS = (
    (0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 1, 0, 0, 0),
    (0, 0, 1, 1, 0, 0, 0),
    (0, 0, 1, 1, 0, 0, 1),
    (1, 0, 1, 1, 0, 1, 0),
    (1, 1, 1, 1, 0, 0, 1),
    (1, 1, 1, 1, 1, 0, 1),
    (1, 1, 1, 1, 1, 1, 1),
    (1, 1, 1, 2, 1, 1, 1),
)
assert all(len(p) == len(CUT_POINTS) and sum(p) == n for n, p in enumerate(PLACEMENTS))

#: The default datapath's rows in an FPGA build (``FMA(fpga_arith=True)``): ``PLACEMENTS`` but for
#: P = 2 "align, lzc" and P = 3 "multiply, add, round", the best of every placement of 1, 2 and 3
#: registers on the ECP5. There the product is a multiplier block and the adds are carry chains, so
#: the stages are not the ASIC's: "align, add, round" leaves unpack, the product and the alignment
#: in one stage. One CE (``redmule-hdl fpga --block ce -P N --small-fma --fpga-arith``), median of
#: nextpnr seeds 1..3, commit 4707270: P = 3 68.1 MHz with "multiply, add, round" ("unpack, add,
#: normalize" 68.4, "unpack, add, round" 65.8, "multiply, add, normalize" 65.7, the ASIC's "align,
#: add, round" 58.0, the other 30 at most 55.6); P = 2 50.9 with "align, lzc" ("align, normalize"
#: 49.5, "align, round" 44.5, "add, round" 43.0, the former "add, lzc" 42.6); P = 1 keeps "add"
#: (38.5; the next 29.6). In the 8x4x3 top "multiply, add, round" reached 45.6 MHz and "unpack, add,
#: normalize" 39.9 (nextpnr's defaults, seed 1).
FPGA_SMALL_PLACEMENTS = PLACEMENTS[:2] + ((0, 0, 1, 0, 1, 0, 0), (0, 1, 0, 1, 0, 0, 1)) + PLACEMENTS[4:]
assert all(len(p) == len(CUT_POINTS) and sum(p) == n for n, p in enumerate(FPGA_SMALL_PLACEMENTS))

#: From this P on the FMA is built with the fast datapath unless told otherwise (``Config.fast_fma``
#: None): the default datapath's slowest stage from P = 3 on is its wide add with the conditional
#: negation, which no register splits, so more registers would buy it no clock.
FAST_FROM_P = 4

#: Cut points of the fast datapath (``FMA(fast=True)``, ``Config.fast_fma``), in datapath order.
FAST_CUT_POINTS = (
    "unpack",     # after operand unpack, special cases, the exponent sum and the first product stage
    "exponent",   # after the addend shift amount, the window exponent and the product's last stage
    "align",      # after the addend alignment shifter
    "add_low",    # after the low half of the wide adds (P + A or P - A, and A - P)
    "add",        # after their high half and the choice of the non-negative difference
    "lzc",        # after the leading-zero count and the subnormal clamp of the shift
    "normalize",  # after the normalizing left shift
    "round",      # after round/sticky extraction and the rounding increment
    "pack",       # after the rounding choice, overflow, specials and packing: the result
)

#: Registers at each cut point of the fast datapath for each ``pipeline`` value. Rows 0..4 are those
#: chosen on branch ``fpga`` (commit 60408e3) by mapping the placements a segment-delay estimate
#: ranked first, the FMA alone and inside the computing element, whose output comparator and
#: result multiplexer follow the FMA's last stage (the shortest CE period wins). From P = 4 on the
#: CE's output stage (rounding choice, packing, comparator, multiplexer) took 37.7 FO4 whatever came
#: before, so rows 5..8 put a register after packing ("pack"); row 7 was first "all but align and
#: add" (32.0 FO4, but 2.98 ns on osu018, slower than P = 6), now "all but add and round" (28.0 FO4,
#: 2.53 ns); row 5 was first P = 4's and "unpack" (38.0 FO4, 3.26 ns on osu018: the output stage
#: stayed), now P = 4's and "pack" (37.8 FO4, 3.18 ns, 10.02 kGE instead of 10.61; the first stage,
#: as long as P = 4's, sets it). Each row's CE delay: ``docs/results/clock-per-P.md``.
#:
#: ==========  ==============================================
#: pipeline    registers after
#: ==========  ==============================================
#: 0           (none)
#: 1           add
#: 2           add_low, normalize
#: 3           exponent, add_low, normalize
#: 4           exponent, add_low, lzc, round
#: 5           exponent, add_low, lzc, round, pack
#: 6           unpack, exponent, add_low, lzc, round, pack
#: 7           all but add and round
#: 8           all but add
#: ==========  ==============================================
FAST_PLACEMENTS = (
    (0, 0, 0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, 1, 0, 0, 0, 0),
    (0, 0, 0, 1, 0, 0, 1, 0, 0),
    (0, 1, 0, 1, 0, 0, 1, 0, 0),
    (0, 1, 0, 1, 0, 1, 0, 1, 0),
    (0, 1, 0, 1, 0, 1, 0, 1, 1),
    (1, 1, 0, 1, 0, 1, 0, 1, 1),
    (1, 1, 1, 1, 0, 1, 1, 0, 1),
    (1, 1, 1, 1, 0, 1, 1, 1, 1),
)
assert len(FAST_PLACEMENTS) == MAX_PIPELINE + 1
assert all(len(p) == len(FAST_CUT_POINTS) and sum(p) == n for n, p in enumerate(FAST_PLACEMENTS))

#: Registers at each cut point of the fast datapath built for an FPGA (``FMA(fast=True,
#: fpga_arith=True)``: a multiplier block and carry chains), chosen by ECP5 place and route of the
#: computing element (``redmule-hdl fpga --block ce --fast-fma --fpga-arith``, seed 1, commit
#: 9081f62 with the rounding increment's chain beside the truncation's). Its stages are not the
#: ASIC's: with 8 registers, every cut point but one, the CE's period was 9.7 ns without "unpack",
#: 9.9 without "exponent", 9.1 without "align", 8.1 without "add_low", 11.7 without "lzc", 9.3
#: without "normalize", 7.7 without "round" and 10.1 without "pack" (the rounding choice and packing
#: then meet the CE's comparator). So rows 6..8 leave out "round" and "add_low" first (the chains
#: are short there), then "unpack"; rows 0..5 are the fast datapath's own:
#:
#: ==========  ================================================  ==========
#: pipeline    registers after                                   CE ECP5 ns
#: ==========  ================================================  ==========
#: 3           exponent, add_low, normalize                      13.67
#: 4           exponent, add_low, lzc, round                     11.01
#: 5           exponent, add_low, lzc, round, pack               10.01
#: 6           exponent, align, add, lzc, normalize, pack         9.04
#: 7           all but add_low and round                          8.11
#: 8           all but round                                      7.73
#: ==========  ================================================  ==========
FPGA_PLACEMENTS = FAST_PLACEMENTS[:6] + (
    (0, 1, 1, 0, 1, 1, 1, 0, 1),
    (1, 1, 1, 0, 1, 1, 1, 0, 1),
    (1, 1, 1, 1, 1, 1, 1, 0, 1),
)
assert len(FPGA_PLACEMENTS) == MAX_PIPELINE + 1
assert all(len(p) == len(FAST_CUT_POINTS) and sum(p) == n for n, p in enumerate(FPGA_PLACEMENTS))

_PLACEMENT_RULE = (f"pipeline must be an int in 0..{MAX_PIPELINE}; the registers go to the cut points "
                   f"{', '.join(CUT_POINTS)} as the table PLACEMENTS says")


def check_pipeline(pipeline):
    """Validate a ``pipeline`` parameter (number of register stages); TypeError/ValueError otherwise."""
    if isinstance(pipeline, bool) or not isinstance(pipeline, int):
        raise TypeError(f"{_PLACEMENT_RULE}; got {pipeline!r}")
    if not 0 <= pipeline <= MAX_PIPELINE:
        raise ValueError(f"{_PLACEMENT_RULE}; got {pipeline!r}")
    return pipeline


def register_placement(pipeline, fast=False, fpga_arith=False):
    """Registers at each cut point (a tuple aligned with :data:`CUT_POINTS`, or with
    :data:`FAST_CUT_POINTS` for the fast datapath) for ``pipeline`` stages: the row
    ``PLACEMENTS[pipeline]`` (``FAST_PLACEMENTS[pipeline]``; with ``fpga_arith``
    ``FPGA_SMALL_PLACEMENTS[pipeline]`` and ``FPGA_PLACEMENTS[pipeline]``), chosen by measured delay."""
    if fast:
        table = FPGA_PLACEMENTS if fpga_arith else FAST_PLACEMENTS
    else:
        table = FPGA_SMALL_PLACEMENTS if fpga_arith else PLACEMENTS
    return table[check_pipeline(pipeline)]
