"""Computing element: one FMA and two min/max comparators, executing one step of any GEMM-Op."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.fma import FMA
from redmule_hdl.arith.minmax import MinMax
from redmule_hdl.interfaces import CeControl
from redmule_hdl.spec.formats import FP16_ONE
from redmule_hdl.spec.ops import FmaMode
from redmule_hdl.spec.pipeline import check_pipeline

__all__ = ["ComputeElement", "CE_SIGNATURE"]

#: The ports of a computing element (the same for every P), also those of the ``Instance`` the
#: engine uses in export mode.
CE_SIGNATURE = wiring.Signature({
    "x": In(16), "w": In(16), "acc": In(16),
    "ctrl": In(CeControl), "pad": In(1), "en": In(1, init=1),
    "z": Out(16),
})


class ComputeElement(wiring.Component):
    """One step ``acc' = step(x, w, acc)`` of the job's GEMM-Op, latency ``P + 1``.

    Every op has the same latency, so a ring of CEs is schedule-independent of the op:

    * MATMUL, GEMM: ``fma(x, w, acc)`` in the FMA.
    * ADDMAX/ADDMIN, MULMAX/MULMIN: ``x + w`` or ``x * w`` in the FMA; ``acc`` travels beside the FMA
      pipeline and meets its result in the output comparator.
    * MAXMIN/MINMAX: ``max/min(x, w)`` in the input comparator, passed through the FMA as ``v * 1.0``
      (exact for every value, NaN is already canonical), then the output comparator.
    * ``pad``: identity step (padded reduction slot), ``acc' = acc`` bit for bit, for every op.

    Ports: ``x``, ``w``, ``acc`` (FP16 in), ``ctrl`` (``interfaces.CeControl``, decoded from the op by
    the controller, constant during a job), ``pad``, ``en`` (low freezes every register), ``z`` (FP16
    out, registered).
    Parameters: ``P`` pipeline registers inside the FMA.
    """

    def __init__(self, P):
        self.P = check_pipeline(P)
        self.latency = P + 1
        super().__init__(CE_SIGNATURE)

    def elaborate(self, platform):
        m = Module()
        m.submodules.fma = fma = FMA(pipeline=self.P)
        m.submodules.pre = pre = MinMax()
        m.submodules.post = post = MinMax()

        ctrl = self.ctrl
        is_fma = ctrl.mode == FmaMode.FMA
        is_add = ctrl.mode == FmaMode.ADD
        is_cmp = ctrl.compare_first
        m.d.comb += [
            pre.a.eq(self.x), pre.b.eq(self.w),
            pre.op.eq(Mux(ctrl.inner_max, MinMax.MAX, MinMax.MIN)),
            fma.en.eq(self.en),
            fma.a.eq(Mux(is_cmp, pre.z, self.x)),
            fma.b.eq(Mux(is_cmp, FP16_ONE, self.w)),
            fma.c.eq(Mux(is_add, self.w, self.acc)),
            fma.mode.eq(ctrl.mode),
        ]

        # acc and pad travel beside the FMA pipeline.
        acc_d, pad_d = self.acc, self.pad
        for i in range(self.P):
            acc_r = Signal(16, name=f"acc_d{i}")
            pad_r = Signal(name=f"pad_d{i}")
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
