"""FP16 minimum / maximum unit (the non-FMA function of a computing element)."""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.spec.formats import FP16, fp_layout
from redmule_hdl.spec.pipeline import check_pipeline

__all__ = ["MinMax"]


class MinMax(wiring.Component):
    """IEEE 754-2008 ``minNum`` / ``maxNum`` on FP16, ordering -0 below +0.

    One NaN operand returns the other operand with its bits unchanged; two NaNs give the canonical
    NaN 0x7E00. Equal operands return ``a``.

    Parameters
    ----------
    pipeline : int
        Register stages at the output, 0..8 (same rule and latency as :class:`~redmule_hdl.fma.FMA`).

    Attributes
    ----------
    latency : int
        Cycles from operands to result (equal to ``pipeline``).
    MIN, MAX : int
        Values of ``op``.

    Ports
    -----
    a, b : In(16)
        FP16 operands.
    op : In(1)
        :data:`MIN` (0) or :data:`MAX` (1).
    en : In(1), init 1
        Clock enable: while low, every pipeline register holds its value.
    z : Out(16)
        FP16 result, ``latency`` enabled cycles after its operands.
    take_a : Out(1)
        The choice behind ``z``, with the same latency: 1 when ``z`` is ``a`` or both operands are
        NaN (``z`` is then the canonical NaN), 0 when ``z`` is ``b``. ``Mux(take_a, a, b)`` is a
        cheaper result wherever a NaN is canonicalized downstream anyway (the FMA does).
    """

    MIN = 0
    MAX = 1

    a: In(16)
    b: In(16)
    op: In(1)
    en: In(1, init=1)
    z: Out(16)
    take_a: Out(1)

    def __init__(self, pipeline=0):
        check_pipeline(pipeline)
        self.pipeline = pipeline
        self.latency = pipeline
        super().__init__()

    def elaborate(self, platform):
        m = Module()

        a = data.View(fp_layout(FP16), self.a)
        b = data.View(fp_layout(FP16), self.b)

        def is_nan(x):
            return (x.exp == FP16.exp_max) & (x.mant != 0)

        # The order of non-NaN values, -0 below +0, from one compare of the magnitudes: of different
        # signs the positive one is larger; of two negatives the smaller magnitude. (An order key
        # per operand, sign-flipped, and a >= and a <= of the keys cost a third more LUTs and area.)
        mag_a, mag_b = self.a[:15], self.b[:15]
        mag_ge, mag_eq, same_sign = mag_a >= mag_b, mag_a == mag_b, a.sign == b.sign
        a_ge_b = Mux(same_sign, Mux(a.sign, ~mag_ge | mag_eq, mag_ge), b.sign)
        a_le_b = ~a_ge_b | (same_sign & mag_eq)
        a_nan, b_nan = is_nan(a), is_nan(b)
        pick_a = Mux(self.op == self.MAX, a_ge_b, a_le_b)
        take_a = b_nan | (~a_nan & pick_a)
        result = Mux(a_nan & b_nan, FP16.canonical_nan, Mux(take_a, self.a, self.b))

        for stage in range(self.pipeline):
            reg = Signal(16, name=f"out{stage}")
            take_reg = Signal(name=f"take_a{stage}")
            with m.If(self.en):
                m.d.sync += [reg.eq(result), take_reg.eq(take_a)]
            result, take_a = reg, take_reg
        m.d.comb += [self.z.eq(result), self.take_a.eq(take_a)]
        return m
