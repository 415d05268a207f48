"""``arith.adders.block_add`` (the address generators', tile walks', counts' and job guard's adds)
against Python integers, with the carry out."""
import random

import pytest
from amaranth.hdl import Module, Signal

from redmule_hdl.arith.adders import BLOCK_BITS, block_add

from .helpers import run_testbench


@pytest.mark.parametrize("chain", [False, True])
@pytest.mark.parametrize("width,cin", [(32, 0), (34, 1)])
def test_block_add_matches_integers(width, cin, chain):
    """``block_add`` (the address generators' and the job guard's adds): the sum with the carry out,
    and the carry alone (``sums=False``), with a carry in of 0 and 1, across block boundaries; as
    blocks and as one ``+`` (``chain``, ``Config.fpga_arith``)."""
    m = Module()
    x, y = Signal(width), Signal(width)
    total, carry = Signal(width + 1), Signal()
    m.d.comb += [total.eq(block_add(m, "t", x, y, cin, width, chain=chain)),
                 carry.eq(block_add(m, "c", x, y, cin, width, sums=False, chain=chain))]
    rng = random.Random(width)
    top = (1 << width) - 1
    # A carry that ripples through every block, stops at each block boundary, or starts there.
    cases = [(0, 0), (top, 1), (top, top), (top, 0), (0, top)]
    cases += [((1 << b) - 1, 1) for b in range(BLOCK_BITS, width, BLOCK_BITS)]
    cases += [(1 << b, top - (1 << b)) for b in range(BLOCK_BITS, width, BLOCK_BITS)]
    cases += [(rng.getrandbits(width), rng.getrandbits(width)) for _ in range(300)]

    async def bench(ctx):
        for a, b in cases:
            ctx.set(x, a)
            ctx.set(y, b)
            assert ctx.get(total) == a + b + cin, (a, b)
            assert ctx.get(carry) == (a + b + cin) >> width, (a, b)

    run_testbench(m, bench, clocked=False)
