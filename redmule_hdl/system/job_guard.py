"""The job guard: byte ranges of the head job against the running job's Z and against its own Z."""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.adders import block_add
from redmule_hdl.config import check_bool
from redmule_hdl.interfaces import StreamerJob
from redmule_hdl.spec.regmap import ADDR_BITS, DIM_BITS

__all__ = ["ByteRange", "JobGuard"]

#: Bits of a range's span: ``(rows-1)*pitch < 2**31`` plus a row.
SPAN_BITS = 33
#: Bits of a range's row in bytes: a row of ``DIM_BITS`` elements of up to 2 bytes, and one bit of
#: margin.
ROW_BITS = DIM_BITS + 2
#: The registered stages of a ``ByteRange``, in order: the operands, the product (two carry-save
#: rows with the row size, or one multiply), the span, the end.
RANGE_STAGES = ("operands", "product", "span", "end")


def _carry_save(m, terms, width):
    """Two signals whose sum is the sum of ``terms`` modulo ``2**width``: a tree of 3:2 compressors
    (full adders side by side, no carry chain), combinational in ``m``.

    The same function as ``arith.adders.carry_save``, kept apart on purpose: built with that one (its
    rows packed into a signal per level), the 12x4x3 top in flip-flops stops Yosys 0.70's
    ``synth_ecp5`` (``redmule-hdl fpga``) with an assertion in ABC9's reintegration
    (``GetSize(conn.first) == GetSize(conn.second)``, kernel/rtlil.cc)."""
    def named(value):
        # Each compressor uses its inputs three times: as expressions, the tree would be copied
        # at every level (3**depth times in the netlist); a signal is emitted once.
        s = Signal(width)
        m.d.comb += s.eq(value)
        return s

    terms = [named(t[:width]) for t in terms]
    while len(terms) > 2:
        reduced = []
        while len(terms) >= 3:
            a, b, c = terms.pop(), terms.pop(), terms.pop()
            reduced += [named(a ^ b ^ c), named(((a & b) | (a & c) | (b & c)) << 1)]
        terms = reduced + terms
    return terms


def _add(m, name, base, span, chain):
    """``base + span`` (``SPAN_BITS + 1`` bits, no wrap) as ``arith.adders.block_add``: as ``+``
    ABC mapped it to a ripple chain (62 FO4), and as a Kogge-Stone add written out in this module
    to a near-chain too (49.9 FO4 in the 12x4x4 top); ``chain``: one ``+`` (an FPGA's carry chain).
    Its blocks are driven by ``m.d.comb`` statements: called under an ``m.If``, they would be
    conditional (inputs 0 otherwise)."""
    return block_add(m, name, base, span, 0, SPAN_BITS, chain=chain)


def _less(m, name, a, b, chain):
    """``a < b`` (unsigned, up to ``SPAN_BITS + 1`` bits): the borrow of ``a - b``, from the carry of
    ``a + ~b + 1`` (``arith.adders.block_add``, carries only)."""
    width = SPAN_BITS + 1
    return ~block_add(m, name, a, ~b.as_unsigned()[:width] if len(b) >= width else
                      ~Cat(b, Const(0, width - len(b))), 1, width, sums=False, chain=chain)


class ByteRange(wiring.Component):
    """The byte range ``[base, base + (rows-1)*pitch + row)`` of a matrix, in registered stages.

    Parameters: ``fpga_arith`` (``Config.fpga_arith``): the product ``(rows-1)*pitch`` as one
    multiply, which FPGA synthesis maps to its multiplier blocks (ECP5: two MULT18X18D), and the adds
    as ``+`` (carry chains); otherwise carry-save rows (no carry chain) and ``block_add`` adds, which
    one stage of an ASIC's clock holds.

    Ports:
        base, rows, pitch, row (in): first byte, rows (>= 1), bytes from a row to the next, bytes
            of a row. Sampled every cycle.
        first (out): ``base`` as sampled (one register).
        span (out): ``(rows-1)*pitch + row`` (three registers after the inputs).
        span_overrun (out, with ``span``): the product might reach 2**31, so ``span`` may be wrong.
        end (out): ``first + span``, end exclusive (four registers).
        overrun (out, with ``end``): ``span_overrun`` one cycle later.
    One register stage each of ``RANGE_STAGES``; without ``fpga_arith`` every stage has at most one
    carry chain. Below 2**31 the product and a row below 2**18 keep the span exact in ``SPAN_BITS`` bits.
    """

    def __init__(self, *, fpga_arith=False):
        self.fpga_arith = check_bool("fpga_arith", fpga_arith)
        super().__init__({
            "base": In(ADDR_BITS), "rows": In(DIM_BITS), "pitch": In(ADDR_BITS), "row": In(ROW_BITS),
            "first": Out(ADDR_BITS), "span": Out(SPAN_BITS), "span_overrun": Out(1),
            "end": Out(SPAN_BITS + 1), "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        r, p, w = Signal(DIM_BITS), Signal(ADDR_BITS), Signal(ROW_BITS)
        # Two values whose sum is the span (modulo 2**SPAN_BITS), added in the next stage.
        save_sum, save_carry = Signal(SPAN_BITS), Signal(SPAN_BITS)
        if self.fpga_arith:
            product = [save_sum.eq(r * p), save_carry.eq(w)]
        else:
            terms = [w, *(Mux(r[j], p << j, 0) for j in range(len(r)))]
            product = [Cat(save_sum, save_carry).eq(Cat(*_carry_save(m, terms, SPAN_BITS)))]
        # Conservative: some r[j]*p*2**j >= 2**31, so the product might not fit in 32 bits.
        product_overrun = Signal()
        stages = {
            "operands": [self.first.eq(self.base), r.eq(self.rows - 1), p.eq(self.pitch),
                         w.eq(self.row)],
            "product": [
                *product,
                product_overrun.eq(Cat(*(r[j] & p[ADDR_BITS - 1 - j:].any()
                                         for j in range(len(r)))).any()),
            ],
            "span": [self.span.eq(block_add(m, "span", save_sum, save_carry, 0, SPAN_BITS,
                                            chain=self.fpga_arith)[:SPAN_BITS]),
                     self.span_overrun.eq(product_overrun)],
            "end": [self.end.eq(_add(m, "end", self.first, self.span, self.fpga_arith)),
                    self.overrun.eq(self.span_overrun)],
        }
        assert tuple(stages) == RANGE_STAGES
        for statements in stages.values():
            m.d.sync += statements
        return m


class JobGuard(wiring.Component):
    """Checks the head job's byte ranges against the Z range of the job started last and of its own.

    Byte ranges, end exclusive: Z of the job started last ``[z, z + (M-1)*pitch + K*size)`` against
    the head's X, W and (if read) Y; and the head's own Z against its X, W and (if read from another
    address than Z) Y. Each of the head's ranges goes through a ``ByteRange``; Y and Z of a job have
    the same span, so both Z ranges come from the Y pipeline. None of this is on the path from the
    register file to the start of a job. A range whose ``(rows-1)*pitch`` might reach 2 GiB, or
    whose end passes 2**32 (its addresses wrap around to 0), counts as overlapping.

    Parameters: ``fpga_arith``, multiplies and carry chains for an FPGA (``ByteRange``), also in the
    comparisons and the Z range ends.

    Ports:
        head (in, ``StreamerJob``): the job at the head of the queue (a queued job cannot change).
        valid (in): ``head`` is presented. take (in): the head is taken in this cycle.
        checked (out): the results below are valid for the head: it has been presented for
            ``LATENCY`` cycles since the last take.
        beside_ok (out): checked, and the head reads nothing that the job started last writes
            (meaningful while exactly that job runs).
        self_overlap (out): the head's own Z range shares a byte with its X or W range, or with its
            Y range when Y is read from another address than Z.
    Latency: ``LATENCY`` cycles from a new head to ``checked``; the Z range of the job taken in
    cycle t is complete from t + 4, before a next job's check can end (t + 6).
    """

    #: Cycles from a new head to its result: one per stage of a ``ByteRange``, then the comparison.
    LATENCY = len(RANGE_STAGES) + 1
    #: Formal only: ``lemmas(m, **registers)``, set by a property harness to add assertions over
    #: internal registers (k-induction); hardware never sets it.
    lemmas = None

    def __init__(self, *, fpga_arith=False):
        self.fpga_arith = check_bool("fpga_arith", fpga_arith)
        super().__init__({
            "head": In(StreamerJob),
            "valid": In(1),
            "take": In(1),
            "checked": Out(1),
            "beside_ok": Out(1),
            "self_overlap": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        head, chain = self.head, self.fpga_arith

        def row_bytes(count, fmt):
            return Mux(fmt.wide, count << 1, count)

        ranges = []
        for name, operands in (
                ("x_range", (head.x_addr, head.m, head.x_pitch, row_bytes(head.n, head.in_fmt))),
                ("w_range", (head.w_addr, head.n, head.w_pitch, row_bytes(head.k, head.in_fmt))),
                ("y_range", (head.y_addr, head.m, head.z_pitch, row_bytes(head.k, head.out_fmt)))):
            m.submodules[name] = byte_range = ByteRange(fpga_arith=self.fpga_arith)
            for port, value in zip(("base", "rows", "pitch", "row"), operands):
                m.d.comb += getattr(byte_range, port).eq(value)
            ranges.append(byte_range)
        y = ranges[2]
        # The head's own Z range: Z_ADDR plus the Y span, in step with the Y pipeline.
        own_z, own_z_end, y_apart = Signal(ADDR_BITS), Signal(SPAN_BITS + 1), Signal()
        m.d.sync += [own_z.eq(head.z_addr), own_z_end.eq(_add(m, "own_z_end", own_z, y.span, chain)),
                     y_apart.eq(head.y_addr != head.z_addr)]
        # The Z range of the job started last: its Z_ADDR at the take, its span from the Y pipeline
        # (the head's operands were sampled in the take cycle t, the span is there in t + 3).
        z_lo, z_hi, z_over = Signal(ADDR_BITS), Signal(SPAN_BITS + 1), Signal()
        taken = Signal(RANGE_STAGES.index("span") + 1)     # take, delayed by 1, 2, ... cycles
        m.d.sync += taken.eq(Cat(self.take, taken[:-1]))
        with m.If(self.take):
            m.d.sync += z_lo.eq(head.z_addr)
        z_hi_next = _add(m, "z_hi", z_lo, y.span, chain)     # (outside the condition: see ``_add``)
        with m.If(taken[-1]):
            m.d.sync += [z_hi.eq(z_hi_next), z_over.eq(y.span_overrun)]
        # A range past the top of the address space wraps around to 0 (the streamer's addresses count
        # modulo 2**32): like an overrun, it counts as overlapping (found by formal's guard_beside).
        def wraps(end):
            return end > (1 << ADDR_BITS)
        overlaps = [r.overrun | wraps(r.end) | z_over | wraps(z_hi)
                    | (_less(m, f"below_z_hi{i}", r.first, z_hi, chain)
                       & _less(m, f"z_lo_below{i}", z_lo, r.end, chain))
                    for i, r in enumerate(ranges)]
        own = [r.overrun | wraps(r.end) | y.overrun | wraps(own_z_end)
               | (_less(m, f"below_own_end{i}", r.first, own_z_end, chain)
                  & _less(m, f"own_below{i}", own_z, r.end, chain))
               for i, r in enumerate(ranges)]
        uses_y, hazard = Signal(), Signal()
        m.d.sync += [uses_y.eq(head.uses_y),
                     hazard.eq(overlaps[0] | overlaps[1] | (uses_y & overlaps[2])),
                     self.self_overlap.eq(own[0] | own[1] | (uses_y & y_apart & own[2]))]
        age = Signal(range(self.LATENCY + 1))
        with m.If(self.take | ~self.valid):
            m.d.sync += age.eq(0)
        with m.Elif(age != self.LATENCY):
            m.d.sync += age.eq(age + 1)
        m.d.comb += [self.checked.eq(age == self.LATENCY), self.beside_ok.eq(self.checked & ~hazard)]
        if self.lemmas is not None:
            self.lemmas(m, z_lo=z_lo, z_hi=z_hi, z_over=z_over, taken=taken, age=age)
        return m
