"""Computing element: one FMA and two min/max comparators, executing one step of any GEMM-Op."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.fma import FMA
from redmule_hdl.arith.minmax import MinMax
from redmule_hdl.config import check_bool
from redmule_hdl.interfaces import REPLICA, CeControl
from redmule_hdl.spec.formats import FP16_NEG_ZERO, FP16_ONE
from redmule_hdl.spec.ops import FmaMode
from redmule_hdl.spec.pipeline import check_pipeline

__all__ = ["ComputeElement", "CE_SIGNATURE"]

#: The ports of a computing element (the same for every P), also those of the ``Instance`` the
#: engine uses in export mode.
CE_SIGNATURE = wiring.Signature({
    "x": In(16), "x_next": In(16), "w_next": In(16), "acc": In(16),
    "ctrl": In(CeControl), "pad": In(1), "en": In(1, init=1),
    "z": Out(16),
})


class ComputeElement(wiring.Component):
    """One step ``acc' = step(x, w, acc)`` of the job's GEMM-Op, latency ``P + 1``.

    Every op has the same latency, so a ring of CEs is schedule-independent of the op:

    * MATMUL, GEMM: ``fma(x, w, acc)`` in the FMA.
    * ADDMAX/ADDMIN, MULMAX/MULMIN: ``x + w`` (as ``fma(1.0, w, x)``) or ``x * w`` (``fma(x, w,
      -0)``) in the FMA; ``acc`` travels beside the FMA pipeline and meets its result in the output
      comparator.
    * MAXMIN/MINMAX: ``max/min(x, w)`` passes the FMA as ``fma(x, 1.0, -0)`` or ``fma(1.0, w, -0)``
      (exact for every value; a NaN leaves as the canonical NaN, as the comparator would give it),
      then the output comparator.
    * ``pad``: identity step (padded reduction slot), ``acc' = acc`` bit for bit, for every op.

    The FMA's operands come from registers of the CE, not through the W broadcast: the input
    comparator and the operand selection work one cycle ahead, on ``x_next`` and ``w_next``, and
    their result is registered with ``w`` (``w_r``) and the choice between ``x``, ``w`` and 1.0 for
    each multiplicand (``a_one_r``, ``b_one_r``). Only a force-to-constant gate stays in front of the
    multiplier, so the CE's first stage is as long as the FMA's (docs/architecture.md, "Timing
    model"). The comparator's choice is exact: when both are NaN it keeps ``x``, which the FMA turns
    into the canonical NaN.

    Ports:
        x: the step's X operand (FP16), constant while the engine feeds the column's D outputs.
        x_next, w_next: X and W as they will be in the next cycle in which ``en`` is high (the values
            the engine's X register and the W-buffer take at the end of an enabled cycle).
        acc: the addend (FP16), from the previous CE of the ring or the Z-buffer.
        ctrl: ``interfaces.CeControl``, decoded from the op by the controller, constant during a job;
            ``compare_first`` is decoded with mode MUL only (``interfaces.ce_control``).
        pad: the step is a padded slot.   en: low freezes every register.
        z: FP16 result, registered, ``P + 1`` enabled cycles after ``x``, ``w`` and ``acc``.
    Parameters: ``P`` pipeline registers inside the FMA; ``fast_fma``: its datapath for a short clock
    (``FMA(fast=True)``, same results and latency); ``fpga_arith``: the FMA built for an FPGA
    (``FMA(fpga_arith=True)``: the fast datapath with a multiplier block and carry chains, the
    small one with P = 2's and P = 3's registers moved).
    """

    def __init__(self, P, *, fast_fma=False, fpga_arith=False):
        self.P = check_pipeline(P)
        self.fast_fma = check_bool("fast_fma", fast_fma)
        self.fpga_arith = check_bool("fpga_arith", fpga_arith)
        self.latency = P + 1
        super().__init__(CE_SIGNATURE)

    @classmethod
    def of(cls, config):
        """The CE of ``config`` (a ``Config``: ``P``, ``fast_datapath``, ``fpga_arith``)."""
        return cls(config.P, fast_fma=config.fast_datapath, fpga_arith=config.fpga_arith)

    def elaborate(self, platform):
        m = Module()
        m.submodules.fma = fma = FMA(pipeline=self.P, fast=self.fast_fma, fpga_arith=self.fpga_arith)
        m.submodules.pre = pre = MinMax()
        m.submodules.post = post = MinMax()

        ctrl = self.ctrl
        is_fma = ctrl.mode == FmaMode.FMA
        is_add = ctrl.mode == FmaMode.ADD
        is_cmp = ctrl.compare_first

        # Operand registers, one cycle ahead: w_r follows the W-buffer's element 0 exactly. Those
        # that hold the same bits in every CE of a column (or of the array) are replicas: each CE
        # keeps its own, next to its FMA.
        w = Signal(16, name="w_r", attrs=REPLICA)
        a_one = Signal(name="a_one_r")             # the multiplicand x is replaced by 1.0
        b_one = Signal(name="b_one_r")             # the multiplicand w is replaced by 1.0
        c_x = Signal(name="c_x_r", attrs=REPLICA)  # the addend is x (ADD), else -0 (MUL) or acc
        c_neg_zero = Signal(name="c_neg_zero_r", attrs=REPLICA)
        m.d.comb += [
            pre.a.eq(self.x_next), pre.b.eq(self.w_next),
            pre.op.eq(Mux(ctrl.inner_max, MinMax.MAX, MinMax.MIN)),
        ]
        with m.If(self.en):
            m.d.sync += [
                w.eq(self.w_next),
                a_one.eq(is_add | (is_cmp & ~pre.take_a)),
                b_one.eq(is_cmp & pre.take_a),
                c_x.eq(is_add),
                c_neg_zero.eq(ctrl.mode == FmaMode.MUL),
            ]
        m.d.comb += [
            fma.en.eq(self.en),
            fma.a.eq(Mux(a_one, FP16_ONE, self.x)),
            fma.b.eq(Mux(b_one, FP16_ONE, w)),
            fma.c.eq(Mux(c_x, self.x, Mux(c_neg_zero, FP16_NEG_ZERO, self.acc))),
            fma.mode.eq(FmaMode.FMA),
        ]

        # acc and pad travel beside the FMA pipeline.
        acc_d, pad_d = self.acc, self.pad
        for i in range(self.P):
            acc_r = Signal(16, name=f"acc_d{i}")
            pad_r = Signal(name=f"pad_d{i}", attrs=REPLICA)
            with m.If(self.en):
                m.d.sync += [acc_r.eq(acc_d), pad_r.eq(pad_d)]
            acc_d, pad_d = acc_r, pad_r

        m.d.comb += [
            post.a.eq(fma.z), post.b.eq(acc_d),
            post.op.eq(Mux(ctrl.outer_max, MinMax.MAX, MinMax.MIN)),
        ]
        with m.If(self.en):
            m.d.sync += self.z.eq(Mux(pad_d, acc_d, Mux(is_fma, fma.z, post.z)))
        return m
