"""The streamer's address generators: the element address of each stream's next beat.

Each generator walks its stream in the schedule's order (``spec.schedule``) with a
``engine.tile_walk.TileWalk`` and advances when its request is granted. They are not components:
they add their registers to the streamer's module, so a grant moves them in the same cycle.
"""
from amaranth.hdl import Signal

from redmule_hdl.engine.tile_walk import ROWS, TileWalk

__all__ = ["XAddress", "WAddress", "RowAddress"]


class _Generator:
    """Common part: ``active`` (beats remain to be requested) and ``cur`` (element byte address)."""

    def __init__(self, m, name, config, job, inner):
        self._m = m
        self.active = Signal(name=f"{name}_active")
        self.cur = Signal(32, name=f"{name}_cur")
        self.walk = TileWalk(m, name, config, job, inner)

    def start(self, active, base):
        """Statements that begin a job at byte address ``base``."""
        return [self.active.eq(active), *self.walk.reset(), *(p.eq(base) for p in self._pointers())]

    def advance(self):
        """Step to the next beat (adds ``sync`` statements to the current ``m.If`` context)."""
        self.walk.advance()
        self._move_pointers()
        with self._m.If(self.walk.is_last):
            self._m.d.sync += self.active.eq(0)


class XAddress(_Generator):
    """X: per tile, per n-chunk of D elements, per row. ``group_last``: the last row of a chunk.

    ``chunk_bytes``: bytes of D input elements; ``tile_pitch``: bytes from one m-tile to the next.
    """

    def __init__(self, m, config, job, *, chunk_bytes, tile_pitch):
        super().__init__(m, "x", config, job, inner=[("n0", config.D, job.n), ("r", 1, ROWS)])
        self._job, self._chunk_bytes, self._tile_pitch = job, chunk_bytes, tile_pitch
        self.tile = Signal(32, name="x_tile")
        self.chunk = Signal(32, name="x_chunk")
        self.group_last = self.walk.last("r")

    def _pointers(self):
        return self.tile, self.chunk, self.cur

    def _move_pointers(self):
        m, walk = self._m, self.walk
        with m.If(walk.steps("r")):
            m.d.sync += self.cur.eq(self.cur + self._job.x_pitch)
        with m.Elif(walk.steps("n0")):
            next_chunk = self.chunk + self._chunk_bytes
            m.d.sync += [self.chunk.eq(next_chunk), self.cur.eq(next_chunk)]
        with m.Elif(walk.steps("k0")):
            m.d.sync += [self.chunk.eq(self.tile), self.cur.eq(self.tile)]
        with m.Else():
            next_tile = self.tile + self._tile_pitch
            m.d.sync += [self.tile.eq(next_tile), self.chunk.eq(next_tile), self.cur.eq(next_tile)]


class WAddress(_Generator):
    """W: per tile, per row n of W (the same rows again for every m-tile).

    ``chunk_bytes``: bytes of D input elements.
    """

    def __init__(self, m, config, job, *, chunk_bytes):
        super().__init__(m, "w", config, job, inner=[("n", 1, job.n)])
        self._job, self._chunk_bytes = job, chunk_bytes
        self.col = Signal(32, name="w_col")

    def _pointers(self):
        return self.col, self.cur

    def _move_pointers(self):
        m, walk = self._m, self.walk
        with m.If(walk.steps("n")):
            m.d.sync += self.cur.eq(self.cur + self._job.w_pitch)
        with m.Elif(walk.steps("k0")):
            next_col = self.col + self._chunk_bytes
            m.d.sync += [self.col.eq(next_col), self.cur.eq(next_col)]
        with m.Else():
            m.d.sync += [self.col.eq(self._job.w_addr), self.cur.eq(self._job.w_addr)]


class RowAddress(_Generator):
    """Y or Z: per tile, per row (Y uses Z's pitch). ``group_last``: the last row of a tile.

    ``chunk_bytes``: bytes of D output elements; ``tile_pitch``: bytes from one m-tile to the next.
    """

    def __init__(self, m, name, config, job, *, chunk_bytes, tile_pitch):
        super().__init__(m, name, config, job, inner=[("r", 1, ROWS)])
        self._job, self._chunk_bytes, self._tile_pitch = job, chunk_bytes, tile_pitch
        self.tile = Signal(32, name=f"{name}_tile")
        self.col = Signal(32, name=f"{name}_col")
        self.group_last = self.walk.last("r")

    def _pointers(self):
        return self.tile, self.col, self.cur

    def _move_pointers(self):
        m, walk = self._m, self.walk
        with m.If(walk.steps("r")):
            m.d.sync += self.cur.eq(self.cur + self._job.z_pitch)
        with m.Elif(walk.steps("k0")):
            next_col = self.col + self._chunk_bytes
            m.d.sync += [self.col.eq(next_col), self.cur.eq(next_col)]
        with m.Else():
            next_tile = self.tile + self._tile_pitch
            m.d.sync += [self.tile.eq(next_tile), self.col.eq(next_tile), self.cur.eq(next_tile)]
