"""Logarithmic-depth adders and a carry-save multiplier, written out (the fast FMA datapath,
``FMA(fast=True)``).

Yosys and ABC map ``a + b`` to a ripple-carry chain and ``a * b`` to an array of them, so the delay
of every add in the FMA grew with its width. These functions build the parallel-prefix
(Kogge-Stone) and carry-save (Wallace) structures explicitly; all values are unsigned and wrap
modulo ``2**width``.

* ``prefix_start(m, name, x, y, cin, width)``: generate/propagate vectors of ``x + y + cin`` (``cin`` enters
  as the generate of an extra bit 0);
* ``prefix_levels(m, name, gp, distances)``: Kogge-Stone combine steps (distances 1, 2, 4 ...); a
  pipeline register may sit between two calls (``prefix_distances`` lists the steps of a width);
* ``prefix_sum(gp)``: the ``width + 1``-bit sum (carry on top) once every step is done;
* ``prefix_add(m, name, x, y, cin, width)``: all of the above at once;
* ``block_add(m, name, x, y, cin, width)``: ``x + y + cin`` from blocks of ``BLOCK_BITS`` bits, each a
  module of its own (``BlockSums``: the block's sum for a carry in of 0 and of 1), joined by a
  chain of carry-selects. Yosys keeps the hierarchy and ABC maps each module alone, so it cannot
  fold the blocks into one chain as it does every adder written in one module (a 32-bit add
  between registers, alone: ``+`` 59.0 FO4, ``prefix_add`` 44.1, a carry-select add of two ripple
  halves 49.1, eight 8-bit blocks in one module 47.1, as ``block_add`` 29.9): the streamer's address
  adds, the tile walks' steps and the controller's counts, the job guard's range ends and
  comparisons. (Before it, those adds were Kogge-Stone or carry-select adds, which ABC rebuilt as
  chains wherever the add ended in a late-selected multiplexer: 85 and 56 FO4 instead of 62 and 54.)
* ``carry_save(m, name, rows, width)``: 3:2 compressor levels until two rows remain (one signal
  per level, so that the simulator evaluates each level once);
* ``csa_multiply(m, name, a, b, width, levels=None)``: the partial products of ``a * b`` reduced to two rows.

Every prefix step and compressor level is a signal: each reads the previous one two or three times,
and Amaranth copies a shared subexpression into every place that reads it (a 34-bit add as
expressions was some 400 copies of its first step in the netlist, and the job guard, with twenty
such adds, 26,000 lines of Verilog).
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["prefix_start", "prefix_levels", "prefix_distances", "prefix_sum", "prefix_add",
           "BLOCK_BITS", "BlockSums", "block_add", "carry_save", "csa_multiply"]

#: Bits of one block of ``block_add`` (measured alone, 32 bits: blocks of 4 35.9 FO4, 6 32.9, 8 29.9).
BLOCK_BITS = 8


def prefix_distances(width):
    """The Kogge-Stone combine distances of a ``width``-bit add (with the carry-in bit)."""
    d, out = 1, []
    while d < width + 1:
        out.append(d)
        d *= 2
    return out


def prefix_start(m, name, x, y, cin, width):
    """``dict(g, p, half)`` of ``x + y + cin`` at ``width`` bits (one signal holds ``g`` and ``p``,
    so that the prefix steps, which read them many times, read no deeper expression)."""
    cin = Const(cin, 1) if isinstance(cin, int) else cin
    xs = Cat(cin, x.as_unsigned()[:width], Const(0, max(0, width - len(x))))
    ys = Cat(cin, y.as_unsigned()[:width], Const(0, max(0, width - len(y))))
    gp = Signal(2 * (width + 1), name=f"{name}_gp")
    m.d.comb += gp.eq(Cat(xs & ys, xs ^ ys))
    g, p = gp[:width + 1], gp[width + 1:]
    return {"g": g, "p": p, "half": p}


def prefix_levels(m, name, gp, distances):
    """Apply the Kogge-Stone steps ``distances`` to ``gp`` (from ``prefix_start``), one signal per step."""
    g, p = gp["g"], gp["p"]
    n = len(g)
    for d in distances:
        step = Signal(2 * n, name=f"{name}_gp{d}")
        m.d.comb += step.eq(Cat((g | (p & (g << d)[:n]))[:n], (p & (p << d)[:n])[:n]))
        g, p = step[:n], step[n:]
    return {"g": g, "p": p, "half": gp["half"]}


def prefix_sum(gp):
    """``x + y + cin`` (``width + 1`` bits) from completed prefix vectors: bit ``i`` of the sum is
    the half sum of bit ``i`` XOR the carry out of the bits below it."""
    g, half = gp["g"], gp["half"]
    n = len(g)
    return Cat((half ^ (g << 1)[:n])[1:n], g[n - 1])


def prefix_add(m, name, x, y, cin, width):
    """``x + y + cin`` (``width + 1`` bits) as a Kogge-Stone adder."""
    return prefix_sum(prefix_levels(m, name, prefix_start(m, name, x, y, cin, width), prefix_distances(width)))


class BlockSums(wiring.Component):
    """One block of ``block_add``: ``x + y`` and ``x + y + 1`` (``width + 1`` bits each, the carry out
    on top). A module of its own, so that ABC maps it alone (see ``block_add``). With
    ``sums=False`` only the two carries are given (``sum0``, ``sum1`` of 1 bit): a comparison.

    Ports: ``x``, ``y`` (in, ``width`` bits); ``sum0``, ``sum1`` (out). Combinational.
    """

    def __init__(self, width, *, sums=True):
        self.width, self.sums = width, sums
        out = width + 1 if sums else 1
        super().__init__({"x": In(width), "y": In(width), "sum0": Out(out), "sum1": Out(out)})

    def elaborate(self, platform):
        m = Module()
        sum0, sum1 = self.x + self.y, self.x + self.y + 1
        if not self.sums:
            sum0, sum1 = sum0[self.width], sum1[self.width]
        m.d.comb += [self.sum0.eq(sum0), self.sum1.eq(sum1)]
        return m


def block_add(m, name, x, y, cin, width, *, sums=True, chain=False):
    """``x + y + cin`` (``width + 1`` bits, the carry out on top; unsigned, ``cin`` 0, 1 or a 1-bit
    value) from ``BlockSums`` modules of ``BLOCK_BITS`` bits and a chain of carry-selects. With
    ``sums=False`` only the carry out (1 bit). With ``chain``, one ``+`` instead, which FPGA synthesis
    maps to its carry chain, smaller and faster there than the blocks (``Config.fpga_arith``). Call it
    outside ``m.If``/``m.Switch``: the blocks' inputs are ``m.d.comb`` statements of ``m``, which a
    condition would make conditional."""
    xs, ys = _fit(x.as_unsigned(), width), _fit(y.as_unsigned(), width)
    if chain:
        total = Signal(width + 1, name=f"{name}_sum")
        m.d.comb += total.eq(xs + ys + cin)
        return total if sums else total[-1]
    carry = Const(cin, 1) if isinstance(cin, int) else cin
    parts = []
    for lo in range(0, width, BLOCK_BITS):
        hi = min(width, lo + BLOCK_BITS)
        block = BlockSums(hi - lo, sums=sums)
        m.submodules[f"{name}_block{lo}"] = block
        m.d.comb += [block.x.eq(xs[lo:hi]), block.y.eq(ys[lo:hi])]
        picked = Signal(len(block.sum0), name=f"{name}_sum{lo}")
        m.d.comb += picked.eq(Mux(carry, block.sum1, block.sum0))
        if sums:
            parts.append(picked[:hi - lo])
        carry = picked[-1]
    return Cat(*parts, carry)


def _fit(value, width):
    """``value`` zero-extended or truncated to exactly ``width`` bits."""
    return Cat(value, Const(0, max(0, width - len(value))))[:width]


def carry_save(m, name, rows, width, levels=None):
    """Reduce ``rows`` (summed modulo ``2**width``) with 3:2 compressors to two rows, or by at most
    ``levels`` compressor levels."""
    level = 0
    while len(rows) > 2 and (levels is None or level < levels):
        groups = len(rows) // 3
        packed = Signal(2 * groups * width, name=f"{name}_csa{level}")
        parts = []
        for i in range(groups):
            x, y, z = rows[3 * i:3 * i + 3]
            parts += [_fit(x ^ y ^ z, width), _fit(((x & y) | (x & z) | (y & z)) << 1, width)]
        m.d.comb += packed.eq(Cat(*parts))
        rows = [packed[k * width:(k + 1) * width] for k in range(2 * groups)] + rows[3 * groups:]
        level += 1
    return rows


def csa_multiply(m, name, a, b, width, levels=None):
    """Rows whose sum (modulo ``2**width``) is ``a * b`` (unsigned): two, or as many as remain
    after ``levels`` compressor levels (``carry_save`` continues)."""
    rows = [(Mux(b[j], a, 0) << j)[:width] for j in range(len(b))]
    return carry_save(m, name, rows, width, levels)
