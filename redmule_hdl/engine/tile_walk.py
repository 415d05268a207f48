"""``TileWalk``: the hardware counter of the schedule's loop order (``spec.schedule``).

The engine's sequencer, its X fill and Y/Z phases, and each address generator of the streamer walk a
job in the same order: m-tile, k-tile, then some inner loops. They all use this one counter, so the
order is written once in hardware and once in Python (``spec.schedule.Schedule``).
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.adders import block_add
from redmule_hdl.spec.regmap import DIM_BITS

__all__ = ["TileWalk", "ROWS"]

#: Bound of an inner loop over the rows of the current m-tile (``min(L, M - m0)``).
ROWS = "rows"


class TileWalk(wiring.Component):
    """Counters walking a job: ``m0`` (step L, below M), ``k0`` (step D, below K), then ``inner``.

    ``inner`` lists ``(loop, step, bound)`` loops, outermost first; ``bound`` is ``ROWS`` or the name
    of an input port of the walk (for example ``"n"``: the job's N). Each loop runs ``0, step,
    2*step, ...`` while below its bound. ``config``: L, D, and ``fpga_arith`` (adds and comparisons
    as ``+``, an FPGA's carry chains, instead of ``block_add``'s blocks).

    Ports:
        m, k, and one input per named inner bound: the job's dimensions (constant during a walk).
        advance: step to the next position (after the last one, ``m0`` runs past M).
        restart: go back to the first position (wins over ``advance``).
        m0, k0, and each inner loop by name: the counters (registers).
        rows: rows of the current m-tile, ``min(L, M - m0)``.
        last: per loop, the loop is at its last value.
        steps: per loop, the next ``advance`` increments it (every loop inside it wraps to 0).
        is_last: every loop is at its last value: the next ``advance`` ends the walk.
    """

    def __init__(self, config, inner=()):
        self.L, self.D = config.L, config.D
        self.chain = config.fpga_arith     # adds as one ``+`` each (``block_add``'s ``chain``)
        self._inner = [(loop, step, bound) for loop, step, bound in inner]
        loops = ["m0", "k0", *(loop for loop, *_ in self._inner)]
        bounds = ["m", "k", *dict.fromkeys(b for *_, b in self._inner if b != ROWS)]
        names = [*bounds, *loops, "advance", "restart", "rows", "last", "steps", "is_last"]
        if len(set(names)) != len(names):
            raise ValueError(f"TileWalk: loop and bound names must be distinct, not {names}")
        flags = data.StructLayout({loop: 1 for loop in loops})
        super().__init__({
            **{bound: In(DIM_BITS) for bound in bounds},
            "advance": In(1), "restart": In(1),
            "m0": Out(DIM_BITS + 1), "k0": Out(DIM_BITS + 1),
            **{loop: Out(range(self.L) if bound == ROWS else DIM_BITS + 1)
               for loop, _, bound in self._inner},
            "rows": Out(range(self.L + 1)),
            "last": Out(flags), "steps": Out(flags), "is_last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.L
        # Each loop's next value, ``counter + step``, is a register of its own (``ahead``), so that
        # ``last`` (``ahead >= bound``) is one comparison, written as ``arith.adders.block_add``'s
        # carry for the job's dimensions: an add and a comparison in one module were one carry
        # chain after ABC (the Z drain's walk set the engine's control path at 49.2 FO4, 12x4x4).
        ahead = {}
        steps = {"m0": L, "k0": self.D, **{loop: step for loop, step, _ in self._inner}}
        for loop, step in steps.items():
            counter = getattr(self, loop)
            ahead[loop] = Signal(len(counter) + 1, name=f"{loop}_ahead", init=step)
        # Rows of the m-tile: L before the last m-tile; in the last one ``m - m0``, which is at
        # most L, so its low bits suffice (no carry chain across the dimension).
        last_m = self._at_least(m, "last_m0", ahead["m0"], self.m)
        low = L.bit_length()
        rows = Mux(last_m, (self.m[:low] - self.m0[:low])[:low], L)
        m.d.comb += self.rows.eq(rows)
        loops = [("m0", self.m0, L, self.m), ("k0", self.k0, self.D, self.k)]
        for loop, step, bound in self._inner:
            loops.append((loop, getattr(self, loop), step, rows if bound == ROWS else getattr(self, bound)))
        # A loop over the rows (``ROWS``) is at its last row when ``ahead >= rows``: ``ahead >= L``
        # before the last m-tile, and ``m0 + ahead >= M`` in it. ``m0 + ahead`` (the absolute row
        # ahead) is a register of its own (``row_ahead``, moved with the loop and ``m0``), so the
        # comparison does not wait for ``rows`` (a subtraction from the job's M and a select: the
        # Y generator's ``is_last`` came 24 FO4 after its job register, on the path through its
        # ``finish`` to its job copy, 40.4 FO4 at 12x4x4).
        self._row_ahead = {}
        for loop, counter, step, bound in loops:
            if loop == "m0":
                m.d.comb += self.last[loop].eq(last_m)
            elif bound is rows:
                row_ahead = Signal(len(ahead["m0"]) + 1, name=f"{loop}_row_ahead", init=step)
                self._row_ahead[loop] = row_ahead
                last_row = self._at_least(m, f"last_{loop}_row", row_ahead, self.m)
                m.d.comb += self.last[loop].eq(Mux(last_m, last_row, ahead[loop] >= L))
            else:
                m.d.comb += self.last[loop].eq(self._at_least(m, f"last_{loop}", ahead[loop], bound))
        self._ahead = ahead
        # The row registers' moves: ``row_ahead + step`` when their loop steps, ``m0 + step`` (the
        # first row of the tile; ``m0_row``, a register) when it wraps within the m-tile, and
        # ``m0_ahead + step`` when ``m0`` steps too.
        self._row_moves = {}
        for loop, row_ahead in self._row_ahead.items():
            step = steps[loop]
            width = len(row_ahead)
            m0_row = Signal(width, name=f"{loop}_m0_row", init=step)
            self._row_moves[loop] = {
                "row": row_ahead, "m0_row": m0_row, "step": step,
                "next": block_add(m, f"{loop}_row_next", row_ahead, Const(step, width), 0, width,
                                  chain=self.chain)[:width],
                "m0_next": block_add(m, f"{loop}_m0_row_next", ahead["m0"], Const(step, width), 0,
                                     width, chain=self.chain)[:width],
            }
        # ``ahead + step`` for each loop, built outside the conditions below as ``block_add``:
        # written as ``ahead + step`` under ``advance``, ABC folded the select into the add and
        # started a carry chain at ``advance`` (a grant, late in the cycle).
        self._ahead_next = {
            loop: block_add(m, f"{loop}_next", ahead[loop], Const(step, len(ahead[loop])), 0,
                            len(ahead[loop]), chain=self.chain)[:len(ahead[loop])]
            for loop, step in steps.items()}

        def all_last(first):
            result = 1
            for loop, *_ in loops[first:]:
                result = result & self.last[loop]
            return result

        for index, (loop, *_) in enumerate(loops):
            m.d.comb += self.steps[loop].eq(~self.last[loop] & all_last(index + 1))
        m.d.comb += self.is_last.eq(all_last(0))

        with m.If(self.restart):
            m.d.sync += [counter.eq(0) for _, counter, *_ in loops]
            m.d.sync += [ahead[loop].eq(step) for loop, _, step, _ in loops]
            for moves in self._row_moves.values():
                m.d.sync += [moves["row"].eq(moves["step"]), moves["m0_row"].eq(moves["step"])]
        with m.Elif(self.advance):
            self._advance(m, loops, len(loops) - 1)
        return m

    def _at_least(self, m, name, a, b):
        """``a >= b`` (unsigned): the carry of ``a + ~b + 1`` (``block_add``, carries only)."""
        width = max(len(a), len(b)) + 1
        return block_add(m, name, a, ~Cat(b, Const(0, width - len(b))), 1, width, sums=False,
                         chain=self.chain)

    def _advance(self, m, loops, index):
        loop, counter, step, _ = loops[index]
        ahead, ahead_next = self._ahead[loop], self._ahead_next[loop]
        if index == 0:                  # the outermost loop never wraps
            m.d.sync += [counter.eq(ahead), ahead.eq(ahead_next)]
            for moves in self._row_moves.values():      # m0 steps: every row loop is at its first
                m.d.sync += [moves["row"].eq(moves["m0_next"]), moves["m0_row"].eq(moves["m0_next"])]
            return
        with m.If(~self.last[loop]):
            m.d.sync += [counter.eq(ahead), ahead.eq(ahead_next)]
            if loop in self._row_moves:
                moves = self._row_moves[loop]
                m.d.sync += moves["row"].eq(moves["next"])
            # Every row loop inside this one wraps within the m-tile.
            for inner, *_ in loops[index + 1:]:
                if inner in self._row_moves:
                    moves = self._row_moves[inner]
                    m.d.sync += moves["row"].eq(moves["m0_row"])
        with m.Else():
            m.d.sync += [counter.eq(0), ahead.eq(step)]
            self._advance(m, loops, index - 1)
