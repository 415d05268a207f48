"""``TileWalk``: the hardware counter of the schedule's loop order (``spec.schedule``).

The engine's sequencer, its X fill and Y/Z phases, and each address generator of the streamer walk a
job in the same order: m-tile, k-tile, then some inner loops. They all use this one counter, so the
order is written once in hardware and once in Python (``spec.schedule.Schedule``).
"""
from amaranth.hdl import Mux, Signal

from redmule_hdl.spec.regmap import DIM_BITS

__all__ = ["TileWalk", "ROWS"]

#: Bound of an inner loop over the rows of the current m-tile (``min(L, M - m0)``).
ROWS = "rows"


class TileWalk:
    """Registers walking a job: ``m0`` (step L, below M), ``k0`` (step D, below K), then ``inner``.

    ``inner`` lists ``(name, step, bound)`` loops, outermost first; ``bound`` is a value of the job
    (for example its N) or ``ROWS``. Each loop runs ``0, step, 2*step, ...`` while below its bound.
    Not a component: its registers belong to the module of the block that walks (``m``), so an
    ``advance()`` takes effect in the same cycle as the logic around it.

    Attributes: ``m0``, ``k0`` and each inner loop by name (registers); ``rows`` (rows of the current
    m-tile); ``valid`` (the walk has not run past the last tile); ``is_last`` (every loop is at its
    last value: the next ``advance`` ends the walk).
    """

    def __init__(self, m, name, config, job, inner=()):
        self._m = m
        L, D = config.L, config.D
        self.m0 = Signal(DIM_BITS + 1, name=f"{name}_m0")
        self.k0 = Signal(DIM_BITS + 1, name=f"{name}_k0")
        remaining = job.m - self.m0
        self.rows = Mux(remaining >= L, L, remaining)
        self.valid = self.m0 < job.m
        self._loops = [("m0", self.m0, L, job.m), ("k0", self.k0, D, job.k)]
        for loop, step, bound in inner:
            if bound is ROWS:
                counter, bound = Signal(range(L), name=f"{name}_{loop}"), self.rows
            else:
                counter = Signal(DIM_BITS + 1, name=f"{name}_{loop}")
            setattr(self, loop, counter)
            self._loops.append((loop, counter, step, bound))
        self._last = {loop: counter + step >= bound for loop, counter, step, bound in self._loops}
        self.is_last = self._all_last(0)

    def _all_last(self, first):
        result = 1
        for loop, *_ in self._loops[first:]:
            result = result & self._last[loop]
        return result

    def last(self, loop):
        """Loop ``loop`` is at its last value."""
        return self._last[loop]

    def steps(self, loop):
        """The next ``advance`` increments ``loop`` (every loop inside it wraps to 0)."""
        index = [name for name, *_ in self._loops].index(loop)
        return ~self._last[loop] & self._all_last(index + 1)

    def reset(self):
        """Statements that restart the walk at the first tile."""
        return [counter.eq(0) for _, counter, *_ in self._loops]

    def advance(self):
        """Step to the next position (adds ``sync`` statements to the current ``m.If`` context).

        After the last position ``m0`` runs past M and ``valid`` falls.
        """
        self._advance(len(self._loops) - 1)

    def _advance(self, index):
        m = self._m
        loop, counter, step, _ = self._loops[index]
        if index == 0:                  # the outermost loop never wraps
            m.d.sync += counter.eq(counter + step)
            return
        with m.If(~self._last[loop]):
            m.d.sync += counter.eq(counter + step)
        with m.Else():
            m.d.sync += counter.eq(0)
            self._advance(index - 1)
