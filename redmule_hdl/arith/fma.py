"""FP16 fused multiply-add unit with a configurable, distributed pipeline.

The datapath is the classic single-path FMA: the 11x11-bit significand product stays in place and the
addend is aligned against it in a window of ``3*11 + 4 = 37`` bits (plus a carry bit and an 11-bit
sticky field), followed by one wide add, a leading-zero count, a normalizing left shift whose amount is
clamped so that tiny results come out as subnormals, and one round-to-nearest-even step. No fixed-point
accumulator over the whole exponent range is needed.

``FMA(fast=True)`` builds the same function with a datapath for a short clock at deep pipelines
(issue 21): the subtraction computes P - A and A - P side by side instead of negating afterwards,
the normalizing shift's subnormal limit is a marker bit in the value the leading-zero count reads
(no compare after the count), the rounding increment and the overflow test are prepared before the
rounding decision, and the wide adds, the rounding increment and the significand product are written
out as Kogge-Stone adders and a carry-save tree (``arith/adders.py``), whatever the flow (``synth``,
``generate``, the simulators and the FPGA flow all elaborate the same spelling). Its cut points are
``spec.pipeline.FAST_CUT_POINTS``. It costs area (measured in ``docs/results/clock-per-P.md``), so
a ``Config`` builds it by default only from P = 4 on, where the default datapath's registers stop
buying clock (``Config.fast_fma``). ``FMA(fast=True, fpga_arith=True)`` is that datapath
for an FPGA (``Config.fpga_arith``): the product is one ``*`` (a multiplier block) and each wide add
and the rounding increment one ``+`` (a carry chain, cut in two halves at "add_low"), which an FPGA
builds faster and smaller than the written-out trees; the default datapath already uses ``+`` and
``*`` throughout, so ``fpga_arith`` only moves its registers at P = 2 and 3.

Why the window is enough (all positions below in window bits, product LSB at bit 2):

* addend much larger than the product: the addend is clamped to bits 26..36, two zero bits above the
  product (bits 2..23); the product then only ever acts as a non-zero tail below the round bit, so its
  exact distance does not matter, and the result exponent is taken from the addend;
* addend much smaller: its bits below bit 0 are ORed into a sticky bit. This only happens when one
  factor is normal and the product is non-zero (a zero product is aligned as if it had the smallest
  exponent, so a lone addend is never shifted out), so the result keeps its leading one at window bit 11
  or above and its round bit at bit 0 or above. For the same reason an effective subtraction that
  produces sticky bits always has a positive result, so ``P + ~A + !sticky`` followed by an optional
  two's complement negation is exact.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.adders import (block_add, carry_save, csa_multiply, prefix_add,
                                     prefix_distances, prefix_levels, prefix_start, prefix_sum)
from redmule_hdl.config import check_bool
from redmule_hdl.spec.formats import FP16, FP16_NEG_ZERO, FP16_ONE, fp_layout
from redmule_hdl.spec.ops import FmaMode
from redmule_hdl.spec.pipeline import (CUT_POINTS, FAST_CUT_POINTS, check_pipeline,
                                      register_placement)

__all__ = ["FMA"]


# Datapath geometry, derived from the FP16 format.
_MAN = FP16.man_bits                # 10 stored mantissa bits
_SIG = _MAN + 1                     # 11 significand bits, hidden bit included
_EXP = FP16.exp_bits                # 5
_PROD = 2 * _SIG                    # 22-bit significand product
_GUARD = 2                          # window bits below the product LSB
_ADD_LSB = _GUARD + _PROD + 2       # 26: addend LSB at zero shift (two zero bits above the product)
_WIN = _ADD_LSB + _SIG              # 37 = 3*11 + 4 window bits
_SUM = _WIN + 1                     # 38: window plus carry
_SHIFT_MAX = _WIN                   # 37: addend entirely in the sticky field
_LZC_WIDTH = 1 << (_SUM - 1).bit_length()   # 64: power-of-two width of the LZC tree
# Exponent bookkeeping, with effective exponents ee = max(exp, 1) and esum = eea + eeb:
# addend shift right  s = esum - eec + _S_OFS (clamped to 0.._SHIFT_MAX),
# window exponent     X = max(esum + _X_OFS_PROD, eec + _X_OFS_ADD): the normalizing shift limit that
#                     puts the result LSB at the subnormal LSB; the packed exponent field is X - shift.
_S_OFS = (_ADD_LSB - _GUARD) - (FP16.bias + _MAN)
_X_OFS_PROD = _SUM - _SIG - 1 - FP16.bias - _MAN - _GUARD
_X_OFS_ADD = _SUM - _SIG - 1 - _ADD_LSB
_ESUM_MIN = 2                       # smallest esum: both effective exponents at 1
# The fast datapath: the product's carry-save rows, the compressor levels before the "unpack" cut
# (11 rows -> 8 -> 6 -> 4), Kogge-Stone steps before the "add_low" cut (of 6).
_PROD_ROWS = _SUM - _GUARD
_CSA_LEVELS_FIRST = 3
_PREFIX_LOW = 4
# With fpga_arith: the wide adds' low halves (bits below _CHAIN_LOW) go before the "add_low" cut.
_CHAIN_LOW = _SUM // 2


def _window_exponents(m, esum, ec, *, fpga_arith):
    """``(shift, x_win)``: the addend's right shift, clamped to 0.._SHIFT_MAX, and the window
    exponent, from the product's exponent sum ``esum`` and the addend's effective exponent ``ec``.
    With ``fpga_arith`` every add of ``esum`` is one carry chain beside the others, its other term
    (a constant minus ``ec``) ready before ``esum``, and the clamp and the maximum read the chains'
    signs, instead of a subtract, an add and a compare one after the other."""
    if not fpga_arith:
        s_raw = esum - ec + _S_OFS
        shift = Mux(s_raw[-1], 0, Mux(s_raw > _SHIFT_MAX, _SHIFT_MAX, s_raw[:-1]))
        x_prod = esum + _X_OFS_PROD
        x_add = ec + _X_OFS_ADD
        return shift[:_SHIFT_MAX.bit_length()], Mux(x_prod > x_add, x_prod, x_add)[:_EXP + 1]

    def esum_plus(name, offset):
        """``esum + offset - ec`` as a signed signal (``offset - ec`` first, ``esum`` last)."""
        term = Signal(range(offset - FP16.exp_max, offset + 1), name=f"{name}_term")
        total = Signal(range(offset - FP16.exp_max, offset + 2 * FP16.exp_max + 1), name=name)
        m.d.comb += [term.eq(offset - ec), total.eq(esum + term)]
        return total

    s_raw = esum_plus("shift_raw", _S_OFS)                          # esum - ec + _S_OFS
    s_over = esum_plus("shift_over", _S_OFS - _SHIFT_MAX - 1)       # >= 0: s_raw > _SHIFT_MAX
    prod_wins = esum_plus("prod_wins", _X_OFS_PROD - _X_OFS_ADD - 1)  # >= 0: x_prod > x_add
    x_prod = Signal(_EXP + 1, name="x_prod")
    m.d.comb += x_prod.eq(esum + _X_OFS_PROD)
    shift = Mux(s_raw[-1], 0, Mux(s_over[-1], s_raw, _SHIFT_MAX))
    return shift[:_SHIFT_MAX.bit_length()], Mux(prod_wins[-1], ec + _X_OFS_ADD, x_prod)[:_EXP + 1]


def _chain_low(m, name, x, y, cin, width):
    """The first half of ``x + y + cin`` at ``width`` bits as carry chains (``fpga_arith``): the low
    ``_CHAIN_LOW`` bits' sum with its carry out on top, and the high bits of ``x`` and ``y``."""
    x, y = (Cat(v, Const(0, width))[:width] for v in (x, y))
    low = block_add(m, f"{name}_low", x[:_CHAIN_LOW], y[:_CHAIN_LOW], cin, _CHAIN_LOW, chain=True)
    return {"low": low, "x": x[_CHAIN_LOW:], "y": y[_CHAIN_LOW:]}


def _chain_high(m, name, low, width):
    """``x + y + cin`` (``width + 1`` bits) from the values of ``_chain_low``."""
    high = block_add(m, f"{name}_high", low["x"], low["y"], low["low"][-1], width - _CHAIN_LOW,
                     chain=True)
    return Cat(low["low"][:_CHAIN_LOW], high)


def _lzc(value):
    """Leading-zero count of ``value`` (a power-of-two width, not all zero) as a balanced Mux tree."""
    if len(value) == 1:
        return Const(0, 0)
    half = len(value) // 2
    hi_zero = value[half:] == 0
    return Cat(Mux(hi_zero, _lzc(value[:half]), _lzc(value[half:])), hi_zero)


class FMA(wiring.Component):
    """FP16 fused multiply-add: ``z = RNE(a*b + c)`` with a single rounding.

    Full IEEE binary16 behaviour with round-to-nearest-even: subnormal inputs and outputs (no flush to
    zero), overflow to +-Inf, any NaN operand or an invalid operation (Inf*0, Inf-Inf) gives the
    canonical quiet NaN 0x7E00, an exact zero result is +0 unless both ``a*b`` and ``c`` are -0.

    Parameters
    ----------
    pipeline : int
        Register stages, 0..8 (0 = purely combinational). They are distributed over the cut points
        :data:`CUT_POINTS` by :func:`register_placement`, chosen by measured delay (the table
        ``spec.pipeline.PLACEMENTS``): 1 -> add; 2 -> align, add; 3 -> align, add, round;
        7 -> every cut point; 8 -> every cut point, two at add. With ``fast``: the cut points
        :data:`FAST_CUT_POINTS` and the table ``FAST_PLACEMENTS``.
    fast : bool
        The datapath for a short clock (module docstring): bit- and cycle-identical, larger.
    fpga_arith : bool
        With ``fast``: its product as ``*`` and its adds as ``+``, for an FPGA's multiplier blocks
        and carry chains (module docstring), and registers placed by FPGA delay
        (``FPGA_PLACEMENTS``); without: only P = 2's and 3's registers move
        (``FPGA_SMALL_PLACEMENTS``).
        Bit- and cycle-identical.

    Attributes
    ----------
    latency : int
        Cycles from an operand set to its result (equal to ``pipeline``).
    placement : tuple of int
        Registers at each cut point.

    Ports
    -----
    a, b, c : In(16)
        FP16 operands.
    mode : In(FmaMode)
        :class:`FmaMode`: FMA = ``a*b + c``; ADD = ``a + c`` (``b`` forced to 1.0); MUL = ``a*b``
        (``c`` forced to -0). The unused value 3 behaves as FMA.
    en : In(1), init 1
        Clock enable: while low, every pipeline register holds its value (the pipeline freezes).
    z : Out(16)
        FP16 result, ``latency`` cycles after its operands (counting enabled cycles only).
    """

    a: In(16)
    b: In(16)
    c: In(16)
    mode: In(FmaMode)
    en: In(1, init=1)
    z: Out(16)

    def __init__(self, pipeline=0, *, fast=False, fpga_arith=False):
        check_pipeline(pipeline)
        self.pipeline = pipeline
        self.fast = check_bool("fast", fast)
        self.fpga_arith = check_bool("fpga_arith", fpga_arith)
        self.latency = pipeline
        self.placement = register_placement(pipeline, fast=fast, fpga_arith=fpga_arith)
        super().__init__()

    def _cutter(self, m):
        points = FAST_CUT_POINTS if self.fast else CUT_POINTS

        def cut(point, **values):
            """Register every live value as many times as there are registers at ``point``."""
            index = points.index(point)
            for stage in range(self.placement[index]):
                regs = {name: Signal.like(value, name=f"{point}{stage}_{name}")
                        for name, value in values.items()}
                with m.If(self.en):
                    m.d.sync += [regs[name].eq(value) for name, value in values.items()]
                values = regs
            return values
        return cut

    def _operands(self):
        """Segment 0, shared by both datapaths: mode forcing, unpack, special cases."""
        a = data.View(fp_layout(FP16), self.a)
        b = data.View(fp_layout(FP16), Mux(self.mode == FmaMode.ADD, FP16_ONE, self.b))
        c = data.View(fp_layout(FP16), Mux(self.mode == FmaMode.MUL, FP16_NEG_ZERO, self.c))

        def unpack(x):
            """Significand with hidden bit, effective exponent max(exp, 1), class flags."""
            normal = x.exp != 0
            top = x.exp == FP16.exp_max
            mant_zero = x.mant == 0
            return dict(sig=Cat(x.mant, normal), eexp=x.exp | ~normal, zero=~normal & mant_zero,
                        inf=top & mant_zero, nan=top & ~mant_zero)

        ua, ub, uc = unpack(a), unpack(b), unpack(c)
        sign_p = a.sign ^ b.sign
        eff_sub = sign_p ^ c.sign
        prod_inf = ua["inf"] | ub["inf"]
        invalid = ((ua["inf"] & ub["zero"]) | (ub["inf"] & ua["zero"]) | (prod_inf & uc["inf"] & eff_sub))
        # A zero product is aligned as if its exponent were the smallest one: the addend then never
        # shifts into the sticky field.
        esum = Mux(ua["zero"] | ub["zero"], _ESUM_MIN, ua["eexp"] + ub["eexp"])
        return dict(ua=ua, ub=ub, uc=uc, esum=esum, sign_p=sign_p, eff_sub=eff_sub,
                    zero_sign=sign_p & c.sign, nan=ua["nan"] | ub["nan"] | uc["nan"] | invalid,
                    inf=prod_inf | uc["inf"], inf_sign=Mux(prod_inf, sign_p, c.sign))

    def elaborate(self, platform):
        if self.fast:
            return self._elaborate_fast()
        m = Module()
        cut = self._cutter(m)
        # Intermediate values are plain expressions unless they fan out widely: every combinational
        # signal in a chain costs the Python simulator one more evaluation pass of the whole module.

        # ---- segment 0: mode forcing, unpack, special cases, exponent compare ----------------------
        o = self._operands()
        ua, ub, uc, esum = o["ua"], o["ub"], o["uc"], o["esum"]
        shift, x_win = _window_exponents(m, esum, uc["eexp"], fpga_arith=False)
        v = cut("unpack", ma=ua["sig"], mb=ub["sig"], mc=uc["sig"],
                shift=shift, x_win=x_win,
                **{k: o[k] for k in ("sign_p", "eff_sub", "zero_sign", "nan", "inf", "inf_sign")})

        # ---- segment 1: significand product -------------------------------------------------------
        v = cut("multiply", product=(v.pop("ma") * v.pop("mb"))[:_PROD], **v)

        # ---- segment 2: addend alignment ----------------------------------------------------------
        aligned = ((v.pop("mc") << _WIN) >> v.pop("shift"))[:_WIN + _SIG]
        v = cut("align", addend=aligned[_SIG:], sticky=aligned[:_SIG] != 0, **v)

        # ---- segment 3: wide add / subtract, magnitude and sign -----------------------------------
        total = ((v["product"] << _GUARD) + Mux(v["eff_sub"], ~v["addend"], v["addend"])
                 + (v["eff_sub"] & ~v["sticky"]))[:_SUM]
        negative = v["eff_sub"] & ~total[-1]     # subtraction without carry out: addend was larger
        magnitude = Signal(_SUM)
        m.d.comb += magnitude.eq(Mux(v["eff_sub"], Mux(negative, -total, total)[:_WIN], total))
        v = cut("add", magnitude=magnitude, sign=Mux(v["inf"], v["inf_sign"], v["sign_p"] ^ negative),
                **{k: v[k] for k in ("sticky", "x_win", "zero_sign", "nan", "inf")})

        # ---- segment 4: leading-zero count, subnormal clamp ---------------------------------------
        padded = Cat(Const(1 << (_LZC_WIDTH - _SUM - 1), _LZC_WIDTH - _SUM), v["magnitude"])
        lzc = _lzc(padded)                  # a magnitude of 0 counts _SUM thanks to the padding 1
        exact_zero = v["magnitude"] == 0    # the sticky bit is never set then (see module docstring)
        norm_shift = Signal(range(_SUM + 1))
        m.d.comb += norm_shift.eq(Mux(lzc > v["x_win"], v["x_win"], lzc))
        v = cut("lzc", magnitude=v["magnitude"], norm_shift=norm_shift,
                exp_field=Mux(exact_zero, 0, v["x_win"] - norm_shift)[:_EXP + 1],
                sign=Mux(exact_zero & ~v["inf"], v["zero_sign"], v["sign"]),
                **{k: v[k] for k in ("sticky", "nan", "inf")})

        # ---- segment 5: normalizing shift ---------------------------------------------------------
        v = cut("normalize", normalized=(v.pop("magnitude") << v.pop("norm_shift"))[:_SUM], **v)

        # ---- segment 6: round and sticky bits -----------------------------------------------------
        n = v["normalized"]
        significand = n[_SUM - _SIG:]
        round_bit = n[_SUM - _SIG - 1]
        sticky = (n[:_SUM - _SIG - 1] != 0) | v["sticky"]
        # The hidden bit adds one to the exponent field: subnormals (hidden bit 0) keep field 0.
        v = cut("round", truncated=((v["exp_field"] << _MAN) + significand)[:16],
                round_up=round_bit & (sticky | significand[0]),
                sign=v["sign"], nan=v["nan"], inf=v["inf"])

        # ---- segment 7: rounding increment, overflow, specials, pack ------------------------------
        rounded = v["truncated"] + v["round_up"]
        overflow = v["inf"] | (rounded >= FP16.inf)
        m.d.comb += self.z.eq(Mux(v["nan"], FP16.canonical_nan,
                                  Cat(Mux(overflow, FP16.inf, rounded[:15]), v["sign"])))
        return m

    def _elaborate_fast(self):
        m = Module()
        cut = self._cutter(m)
        # ---- segment 0: mode forcing, unpack, special cases, exponent sum; the product starts ------
        o = self._operands()
        ua, ub, uc, esum = o["ua"], o["ub"], o["uc"], o["esum"]
        # The significand product starts at the ports, beside the exponent logic: its partial
        # products are reduced to carry-save rows (_CSA_LEVELS_FIRST compressor levels here, the
        # rest in segment 1) that are summed only in the wide add.
        # With fpga_arith the significands wait for segment 1's multiplier block instead.
        rows = ([ua["sig"], ub["sig"]] if self.fpga_arith
                else csa_multiply(m, "mul", ua["sig"], ub["sig"], _PROD_ROWS, _CSA_LEVELS_FIRST))
        v = cut("unpack", **{f"prod{i}": row for i, row in enumerate(rows)}, esum=esum,
                ec=uc["eexp"], mc=uc["sig"],
                **{k: o[k] for k in ("sign_p", "eff_sub", "zero_sign", "nan", "inf", "inf_sign")})

        # ---- segment 1: addend shift amount, window exponent; the product's last compressors ------
        esum, ec = v.pop("esum"), v.pop("ec")
        shift, x_win = _window_exponents(m, esum, ec, fpga_arith=self.fpga_arith)
        rows = [v.pop(f"prod{i}") for i in range(len(rows))]
        # The product as rows whose sum it is: one with fpga_arith (``prod_s``), else two.
        rows = ([(rows[0] * rows[1])[:_PROD]] if self.fpga_arith
                else carry_save(m, "mul_last", rows, _PROD_ROWS))
        v = cut("exponent", **dict(zip(("prod_s", "prod_c"), rows)), shift=shift, x_win=x_win, **v)

        # ---- segment 2: addend alignment; LZC marker -----------------------------------------------
        aligned = ((v.pop("mc") << _WIN) >> v.pop("shift"))[:_WIN + _SIG]
        # The normalizing shift is limited to x_win (tiny results stay subnormal): a one at window
        # position _SUM - 1 - x_win, ORed into the value the LZC counts, stops the count there.
        marker = Signal(_SUM, name="lzc_marker")
        m.d.comb += marker.eq(Mux(v["x_win"] < _SUM, Const(1 << (_SUM - 1), _SUM) >> v["x_win"], 0))
        v = cut("align", addend=aligned[_SIG:], sticky=aligned[:_SIG] != 0, marker=marker, **v)

        # ---- segments 3 and 4: wide add / subtract, both signs computed side by side ---------------
        # Effective addition: P + A. Effective subtraction: P - A (with a sticky tail below the
        # window: P + ~A, the tail's borrow) and A - P; the first is negative when it has no carry
        # out, and then the sticky tail is empty (module docstring), so A - P is exact. The product
        # is carry-save rows S + C (modulo 2**_PROD_ROWS, so modulo 2**_SUM in the window): one 3:2
        # compressor level adds A, and A - P = A + ~S + ~C + 2. Kogge-Stone adders, cut halfway
        # (between two prefix steps) by a register at "add_low".
        # With fpga_arith the product is one row and each add x + y + cin two carry chains, the low
        # half before the "add_low" cut and the high half after it.
        keep = ("sticky", "x_win", "sign_p", "zero_sign", "nan", "inf", "inf_sign", "eff_sub", "marker")
        a_, sub = v["addend"], v["eff_sub"]
        ps = Cat(Const(0, _GUARD), v.pop("prod_s"), Const(0, _SUM))[:_SUM]
        width = {"first": _SUM, "second": _WIN}
        if self.fpga_arith:
            low = {"first": _chain_low(m, "first", ps, Mux(sub, ~a_, a_), sub & ~v["sticky"], _SUM),
                   "second": _chain_low(m, "second", a_, ~ps[:_WIN], 1, _WIN)}
        else:
            pc = Cat(Const(0, _GUARD), v.pop("prod_c"))[:_SUM]
            first_s, first_c = carry_save(m, "first", [ps, pc, Mux(sub, ~a_, a_)], _SUM)
            second_s, second_c = carry_save(m, "second", [a_, ~ps[:_WIN], ~pc[:_WIN]], _WIN)
            gp = {"first": prefix_start(m, "first", first_s, first_c, sub & ~v["sticky"], _SUM),
                  # A - P: the compressor's carry row has bit 0 free for one of the two ones
                  "second": prefix_start(m, "second", second_s, second_c | 1, 1, _WIN)}
            steps = {name: prefix_distances(width[name]) for name in gp}
            low = {name: prefix_levels(m, name, x, steps[name][:_PREFIX_LOW]) for name, x in gp.items()}
        v = cut("add_low", **{f"{name}_{k}": x for name, d in low.items() for k, x in d.items()},
                **{k: v[k] for k in keep})
        low_done = {name: {k: v[f"{name}_{k}"] for k in low[name]} for name in low}
        if self.fpga_arith:
            total, reverse = (_chain_high(m, name, low_done[name], width[name]) for name in low)
        else:
            total, reverse = (prefix_sum(prefix_levels(m, f"{name}_high", low_done[name],
                                                       steps[name][_PREFIX_LOW:]))
                              for name in low)
        total, reverse = total[:_SUM], reverse[:_WIN]
        negative = v["eff_sub"] & ~total[-1]     # subtraction without carry out: addend was larger
        # The result is the sum of an addition, else P - A (carry dropped) or A - P. With fpga_arith
        # both candidates go on, and segment 5 counts the leading zeros of each while ``negative``
        # (the end of a carry chain) picks one: the count does not wait for the choice.
        if self.fpga_arith:
            forward = Signal(_SUM)
            m.d.comb += forward.eq(Mux(v["eff_sub"], total[:_WIN], total))
            result = dict(forward=forward, reverse=reverse, negative=negative)
        else:
            magnitude = Signal(_SUM)
            m.d.comb += magnitude.eq(Mux(v["eff_sub"], Mux(negative, reverse, total[:_WIN]), total))
            result = dict(magnitude=magnitude)
        v = cut("add", **result,
                sign=Mux(v["inf"], v["inf_sign"], v["sign_p"] ^ negative),
                **{k: v[k] for k in ("sticky", "x_win", "zero_sign", "nan", "inf", "marker")})

        # ---- segment 5: leading-zero count, limited by the marker ---------------------------------
        def count(value):
            """min(leading zeros of ``value``, x_win); _SUM for 0 (the padding 1)."""
            return _lzc(Cat(Const(1 << (_LZC_WIDTH - _SUM - 1), _LZC_WIDTH - _SUM), value | v["marker"]))

        norm_shift = Signal(range(_SUM + 1))
        if self.fpga_arith:
            magnitude = Signal(_SUM, name="chosen_magnitude")
            m.d.comb += [magnitude.eq(Mux(v["negative"], v["reverse"], v["forward"])),
                         norm_shift.eq(Mux(v["negative"], count(v["reverse"]), count(v["forward"])))]
        else:
            magnitude = v["magnitude"]
            m.d.comb += norm_shift.eq(count(magnitude))
        exact_zero = magnitude == 0         # the sticky bit is never set then (see module docstring)
        v = cut("lzc", magnitude=magnitude, norm_shift=norm_shift, exact_zero=exact_zero,
                sign=Mux(exact_zero & ~v["inf"], v["zero_sign"], v["sign"]),
                **{k: v[k] for k in ("sticky", "nan", "inf", "x_win")})

        # ---- segment 6: normalizing shift, exponent field -----------------------------------------
        v = cut("normalize", normalized=(v["magnitude"] << v["norm_shift"])[:_SUM],
                exp_field=Mux(v["exact_zero"], 0, v["x_win"] - v["norm_shift"])[:_EXP + 1],
                **{k: v[k] for k in ("sticky", "nan", "inf", "sign")})

        # ---- segment 7: round and sticky bits; both rounding candidates ---------------------------
        n = v["normalized"]
        significand = n[_SUM - _SIG:]
        round_bit = n[_SUM - _SIG - 1]
        sticky = (n[:_SUM - _SIG - 1] != 0) | v["sticky"]
        # The hidden bit adds one to the exponent field: subnormals (hidden bit 0) keep field 0.
        truncated = ((v["exp_field"] << _MAN) + significand)[:16]
        # With fpga_arith a second carry chain from the same terms, beside the first, not after it.
        incremented = (block_add(m, "incremented", v["exp_field"] << _MAN, significand, 1, 16, chain=True)
                       if self.fpga_arith else prefix_add(m, "incremented", truncated, Const(0, 16), 1, 16))
        v = cut("round", truncated=truncated, incremented=incremented[:16],
                round_up=round_bit & (sticky | significand[0]),
                sign=v["sign"], nan=v["nan"], inf=v["inf"])

        # ---- segment 8: choice of the rounded value, overflow, specials, pack ---------------------
        rounded = Mux(v["round_up"], v["incremented"], v["truncated"])
        # rounded >= Inf, decided beside the choice rather than after it
        overflow = (v["inf"] | (v["truncated"] >= FP16.inf)
                    | (v["round_up"] & (v["truncated"] == FP16.inf - 1)))
        v = cut("pack", z=Mux(v["nan"], FP16.canonical_nan,
                              Cat(Mux(overflow, FP16.inf, rounded[:15]), v["sign"])))
        m.d.comb += self.z.eq(v["z"])
        return m
