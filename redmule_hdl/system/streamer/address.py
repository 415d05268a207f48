"""The streamer's address generators: the element address of each stream's next beat.

Each generator walks its stream in the schedule's order (``spec.schedule``) with a
``engine.tile_walk.TileWalk`` and advances when its request is granted; at the end of a job it moves
on to the next job in the streamer's ``JobSlots`` on its own. They are not components: they add their
registers to the streamer's module, so a grant moves them in the same cycle.
"""
from amaranth.hdl import Signal

from redmule_hdl.engine.tile_walk import ROWS, TileWalk

__all__ = ["XAddress", "WAddress", "RowAddress"]


class _Generator:
    """Common part: the walk of the current job, ``cur`` (element byte address of the next beat),
    ``active`` (beats of a job remain to be requested) and the move from one job to the next.

    ``walker`` (a ``SlotWalker`` of the streamer's ``JobSlots``) gives the job. ``needed``: a
    condition on the job (default: always); a job without it is skipped (``skip``) without requests.
    ``release``: this generator is the last to finish a job (Z): finishing it frees its slot.
    """

    def __init__(self, m, name, config, walker, inner, *, needed=None, release=False):
        self._m, self._release = m, release
        self.walker = walker
        self.job = walker.job
        self.cur = Signal(32, name=f"{name}_cur")
        self.walk = TileWalk(m, name, config, self.job, inner(self.job))
        needed = 1 if needed is None else needed(self.job)
        self.active = walker.active & needed
        self.skip = walker.active & ~needed
        self.finishing = walker.finishing    # this cycle ends its walk of the job

    def _load(self, job):
        """Statements that put the walk at the first beat of ``job``."""
        return [*self.walk.reset(), *(p.eq(self._base(job)) for p in self._pointers())]

    def advance(self):
        """Step to the next beat after a grant (adds ``sync`` statements to the current ``m.If``)."""
        self.walk.advance()
        self._move_pointers()
        with self._m.If(self.walk.is_last):
            self._next_job()

    def skip_job(self):
        """Skip a job that does not need this stream (call once, outside any grant)."""
        with self._m.If(self.skip):
            self._next_job()

    def _next_job(self):
        m = self._m
        self.walker.finish(release=self._release)
        with m.If(self.walker.next_active):
            m.d.sync += self._load(self.walker.next_job)

    def start(self, job):
        """A new job enters the slot after the last one: load it if this generator has nothing else
        to do first (call after ``advance`` and ``skip_job``: it overrides them)."""
        with self._m.If(~self.walker.active | (self.finishing & ~self.walker.next_active)):
            self._m.d.sync += self._load(job)


class XAddress(_Generator):
    """X: per tile, per n-chunk of D elements, per row. ``group_last``: the last row of a chunk.

    ``chunk_bytes``: bytes of D input elements; ``tile_pitch``: bytes from one m-tile to the next
    (each a function of the job).
    """

    def __init__(self, m, config, walker, *, chunk_bytes, tile_pitch):
        super().__init__(m, "x", config, walker, lambda job: [("n0", config.D, job.n), ("r", 1, ROWS)])
        self._chunk_bytes, self._tile_pitch = chunk_bytes(self.job), tile_pitch(self.job)
        self.tile = Signal(32, name="x_tile")
        self.chunk = Signal(32, name="x_chunk")
        self.group_last = self.walk.last("r")

    def _pointers(self):
        return self.tile, self.chunk, self.cur

    @staticmethod
    def _base(job):
        return job.x_addr

    def _move_pointers(self):
        m, walk = self._m, self.walk
        with m.If(walk.steps("r")):
            m.d.sync += self.cur.eq(self.cur + self.job.x_pitch)
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

    ``chunk_bytes``: bytes of D input elements (a function of the job).
    """

    def __init__(self, m, config, walker, *, chunk_bytes):
        super().__init__(m, "w", config, walker, lambda job: [("n", 1, job.n)])
        self._chunk_bytes = chunk_bytes(self.job)
        self.col = Signal(32, name="w_col")

    def _pointers(self):
        return self.col, self.cur

    @staticmethod
    def _base(job):
        return job.w_addr

    def _move_pointers(self):
        m, walk = self._m, self.walk
        with m.If(walk.steps("n")):
            m.d.sync += self.cur.eq(self.cur + self.job.w_pitch)
        with m.Elif(walk.steps("k0")):
            next_col = self.col + self._chunk_bytes
            m.d.sync += [self.col.eq(next_col), self.cur.eq(next_col)]
        with m.Else():
            m.d.sync += [self.col.eq(self.job.w_addr), self.cur.eq(self.job.w_addr)]


class RowAddress(_Generator):
    """Y or Z: per tile, per row (Y uses Z's pitch). ``group_last``: the last row of a tile.

    ``base``: the job's first address; ``chunk_bytes``: bytes of D output elements; ``tile_pitch``:
    bytes from one m-tile to the next (each a function of the job).
    """

    def __init__(self, m, name, config, walker, *, base, chunk_bytes, tile_pitch, needed=None,
                 release=False):
        super().__init__(m, name, config, walker, lambda job: [("r", 1, ROWS)], needed=needed,
                         release=release)
        self._base = base
        self._chunk_bytes, self._tile_pitch = chunk_bytes(self.job), tile_pitch(self.job)
        self.tile = Signal(32, name=f"{name}_tile")
        self.col = Signal(32, name=f"{name}_col")
        self.group_last = self.walk.last("r")

    def _pointers(self):
        return self.tile, self.col, self.cur

    def _move_pointers(self):
        m, walk = self._m, self.walk
        with m.If(walk.steps("r")):
            m.d.sync += self.cur.eq(self.cur + self.job.z_pitch)
        with m.Elif(walk.steps("k0")):
            next_col = self.col + self._chunk_bytes
            m.d.sync += [self.col.eq(next_col), self.cur.eq(next_col)]
        with m.Else():
            next_tile = self.tile + self._tile_pitch
            m.d.sync += [self.tile.eq(next_tile), self.col.eq(next_tile), self.cur.eq(next_tile)]
