"""The streamer's address generators: the element address of each stream's next beat.

Each generator walks its stream in the schedule's order (``spec.schedule``) with a
``engine.tile_walk.TileWalk`` and advances when its request is granted; at the end of a job it moves
on to the next job in the streamer's ``JobSlots`` on its own (through its walker port).
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.adders import block_add, carry_save
from redmule_hdl.config import check_config
from redmule_hdl.engine.job_slots import JOBS_IN_FLIGHT, WalkerSignature
from redmule_hdl.engine.tile_walk import ROWS, TileWalk
from redmule_hdl.interfaces import StreamerJob
from redmule_hdl.spec.regmap import ADDR_BITS

__all__ = ["XAddress", "WAddress", "RowAddress"]


class _Generator(wiring.Component):
    """Common part: the walk of the current job, ``cur`` (element byte address of the next beat)
    and the move from one job to the next.

    Ports:
        walker (a flipped ``WalkerSignature`` of the streamer's ``JobSlots``): the job walked.
        offered: the job offered to the streamer in this cycle; if it starts (enters the slots)
            while the generator's walker is idle, its first beat is loaded at once.
        advance: the grant of the beat's last transfer: step to the next beat (at the last beat of a
            job, on to the walker's next job).
        skip: the walker's job has no beat in this stream: finish it without requests.
        cur: element byte address of the next beat.
        active: beats of the walker's job remain to be requested (its walker is active, no ``skip``,
            and its first beat is loaded: not in the cycle after the walker moved on from a job).
        group_last: the next beat is the last of its group (the innermost loop is at its last value).
        finishing: the walker finishes its job in this cycle (last beat granted, or skipped).
    Subclasses give the loops inside the tile walk (``_inner``), the job's first address
    (``_base``), the address registers (``_pointers``, ``cur`` last) and their moves (``_move``).

    Job to job: when the walker finishes a job (the grant of its last beat) it moves to the next one
    at the clock edge, and the generator loads that job's first beat in the following cycle, during
    which it requests nothing. The grant thus only advances the address registers (the job switch
    is not on the path from the grant), at the price of one cycle without a request from this stream
    between two jobs in a row.
    """

    #: The fields of the walker's job the generator reads.
    FIELDS = ()
    #: Formal only: ``lemmas(m, **registers)``, set by a property harness to add assertions over
    #: internal registers (k-induction); hardware never sets it.
    lemmas = None

    def __init__(self, config, *, depth=JOBS_IN_FLIGHT):
        self.config = check_config(config)
        walker = WalkerSignature(StreamerJob, depth, fields=self.FIELDS)
        super().__init__({
            "walker": In(walker),
            "offered": In(StreamerJob),
            "advance": In(1), "skip": In(1),
            "cur": Out(32), "active": Out(1), "group_last": Out(1), "finishing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.walker
        self._prepare(m)
        m.submodules.walk = walk = TileWalk(self.config, self._inner())
        for port in walk.signature.members:
            if walk.signature.members[port].flow == In and port not in ("advance", "restart"):
                m.d.comb += getattr(walk, port).eq(getattr(w.job, port))
        moved = Signal()    # the walker moved on from a job at the last clock edge
        m.d.sync += moved.eq(self.finishing)
        # ~moved once more, as a register of its own for ``active`` (which starts the arbiter's
        # requests): ``moved`` also selects every address register (the loads below), and ABC took
        # ``active`` from behind that select's buffer tree (41.7 FO4 into the Y walker's job copy).
        stays = Signal(init=1)
        m.d.sync += stays.eq(~self.finishing)
        m.d.comb += [
            self.active.eq(w.active & ~self.skip & stays),
            self.group_last.eq(walk.last[self._inner()[-1][0]]),
            self.finishing.eq((self.advance & walk.is_last) | (w.active & ~moved & self.skip)),
            w.finish.eq(self.finishing),
        ]
        # An idle generator loads the job offered to the streamer in every cycle, whether it starts
        # or not: the load does not wait for the controller's decision, which keeps the job checks
        # off the path to these registers, and is harmless when no job starts (the walker stays
        # idle and nothing reads the pointers). After a job, the next one (if any) is loaded in the
        # cycle after the move (see "Job to job").
        load_offered = ~w.active
        load_job = w.active & moved
        m.d.comb += [walk.advance.eq(self.advance), walk.restart.eq(load_offered | load_job)]
        # The moves' adds are built here, outside the conditions (a module's statements under
        # ``m.If`` would hold the adders' inputs at 0 when the condition is false: muxes before them).
        moves = self._move(m, walk)
        with m.If(load_offered):
            m.d.sync += [p.eq(self._base(self.offered)) for p in self._pointers()]
        with m.Elif(load_job):
            m.d.sync += [p.eq(self._base(w.job)) for p in self._pointers()]
        with m.Elif(self.advance):
            m.d.sync += moves
        if self.lemmas is not None:
            self.lemmas(m, moved=moved, stays=stays)
        return m

    def _prepare(self, m):
        """Creates the address registers (and what else ``_move`` needs) in ``m``."""
        raise NotImplementedError

    def _move(self, m, walk):
        """The assignments of the address registers at an ``advance`` (its adds built in ``m``)."""
        raise NotImplementedError

    def _tile_pitch(self, m, pitch, L):
        """L row pitches, used when a walk moves to the next m-tile. Registered (off the path from
        the job slot) and valid from the second cycle after a generator moves to a job: an m-tile of
        L >= 2 rows takes at least two grants, the first in the cycle after the move."""
        if L == 1:
            return pitch
        lpitch = Signal(ADDR_BITS)
        # ``pitch * L`` as the sum of ``pitch << j`` over the set bits j of L, reduced to two rows
        # and added with ``block_add``: as ``*``, Yosys and ABC made it one ripple-carry chain
        # (52.5 FO4 at L = 12, the streamer's longest path once the moves' adds were blocks).
        rows = [(pitch << j)[:ADDR_BITS] for j in range(L.bit_length()) if (L >> j) & 1]
        if len(rows) == 1:
            product = rows[0]
        else:
            rows = carry_save(m, "lpitch", rows, ADDR_BITS)
            product = block_add(m, "lpitch", rows[0], rows[1], 0, ADDR_BITS,
                                chain=self.config.fpga_arith)[:ADDR_BITS]
        m.d.sync += lpitch.eq(product)
        return lpitch

    def _add(self, m, name, a, b):
        """``(a + b) % 2**ADDR_BITS`` as ``arith.adders.block_add`` (8-bit blocks, each a module of its
        own): ABC rebuilt a ripple-carry ``+``, a Kogge-Stone add and a two-half carry-select add
        written in this module as chains merged with the pick below (the streamer's longest path
        at 12x4x4, 53.7 FO4 with the carry-select add). One ``+`` with ``Config.fpga_arith``."""
        return block_add(m, name, a, b, 0, ADDR_BITS, chain=self.config.fpga_arith)[:ADDR_BITS]

    @staticmethod
    def _pick(cases):
        """The value of the one true select of ``cases`` (``(select, value)`` pairs, exactly one
        select true), as an AND-OR (the same as an ``m.If`` chain over the selects)."""
        out = 0
        for select, value in cases:
            out = out | (value & select.replicate(ADDR_BITS))
        return out

    def _chunk_bytes(self, fmt):
        """Bytes of D elements of format ``fmt`` (an ``ElementFormat``)."""
        D = self.config.D
        return Mux(fmt.wide, 2 * D, D)


class XAddress(_Generator):
    """X: per tile, per n-chunk of D elements, per row. ``group_last``: the last row of a chunk."""

    FIELDS = ("m", "n", "k", "x_addr", "x_pitch", "in_fmt")

    def _inner(self):
        return [("n0", self.config.D, "n"), ("r", 1, ROWS)]

    @staticmethod
    def _base(job):
        return job.x_addr

    def _prepare(self, m):
        self._tile = Signal(ADDR_BITS, name="tile")
        self._chunk = Signal(ADDR_BITS, name="chunk")
        self._lpitch = self._tile_pitch(m, self.walker.job.x_pitch, self.config.L)

    def _pointers(self):
        return self._tile, self._chunk, self.cur

    def _move(self, m, walk):
        job = self.walker.job
        tile, chunk, cur = self._pointers()
        # The loop that steps, innermost first (one-hot).
        row = walk.steps.r
        n0 = ~row & walk.steps.n0
        k0 = ~row & ~walk.steps.n0 & walk.steps.k0
        m0 = ~row & ~walk.steps.n0 & ~walk.steps.k0
        next_row = self._add(m, "row", cur, job.x_pitch)
        next_chunk = self._add(m, "chunk", chunk, self._chunk_bytes(job.in_fmt))
        next_tile = self._add(m, "tile", tile, self._lpitch)
        return [
            cur.eq(self._pick([(row, next_row), (n0, next_chunk), (k0, tile), (m0, next_tile)])),
            chunk.eq(self._pick([(row, chunk), (n0, next_chunk), (k0, tile), (m0, next_tile)])),
            tile.eq(self._pick([(~m0, tile), (m0, next_tile)])),
        ]


class WAddress(_Generator):
    """W: per tile, per row n of W (the same rows again for every m-tile)."""

    FIELDS = ("m", "n", "k", "w_addr", "w_pitch", "in_fmt")

    def _inner(self):
        return [("row", 1, "n")]

    @staticmethod
    def _base(job):
        return job.w_addr

    def _prepare(self, m):
        self._col = Signal(ADDR_BITS, name="col")

    def _pointers(self):
        return self._col, self.cur

    def _move(self, m, walk):
        job = self.walker.job
        col, cur = self._pointers()
        row = walk.steps.row
        k0 = ~row & walk.steps.k0
        m0 = ~row & ~walk.steps.k0
        next_row = self._add(m, "row", cur, job.w_pitch)
        next_col = self._add(m, "col", col, self._chunk_bytes(job.in_fmt))
        return [
            cur.eq(self._pick([(row, next_row), (k0, next_col), (m0, job.w_addr)])),
            col.eq(self._pick([(row, col), (k0, next_col), (m0, job.w_addr)])),
        ]


class RowAddress(_Generator):
    """Y or Z (``stream`` "y" or "z"): per tile, per row (Y uses Z's pitch). ``group_last``: the last
    row of a tile."""

    def __init__(self, config, stream, **kwargs):
        if stream not in ("y", "z"):
            raise ValueError(f"stream must be 'y' or 'z', not {stream!r}")
        self.stream = stream
        self.FIELDS = ("m", "k", f"{stream}_addr", "z_pitch", "out_fmt",
                       *(("uses_y",) if stream == "y" else ()))
        super().__init__(config, **kwargs)

    def _inner(self):
        return [("r", 1, ROWS)]

    def _base(self, job):
        return job.y_addr if self.stream == "y" else job.z_addr

    def _prepare(self, m):
        self._tile = Signal(ADDR_BITS, name="tile")
        self._col = Signal(ADDR_BITS, name="col")
        self._lpitch = self._tile_pitch(m, self.walker.job.z_pitch, self.config.L)

    def _pointers(self):
        return self._tile, self._col, self.cur

    def _move(self, m, walk):
        job = self.walker.job
        tile, col, cur = self._pointers()
        row = walk.steps.r
        k0 = ~row & walk.steps.k0
        m0 = ~row & ~walk.steps.k0
        next_row = self._add(m, "row", cur, job.z_pitch)
        next_col = self._add(m, "col", col, self._chunk_bytes(job.out_fmt))
        next_tile = self._add(m, "tile", tile, self._lpitch)
        return [
            cur.eq(self._pick([(row, next_row), (k0, next_col), (m0, next_tile)])),
            col.eq(self._pick([(row, col), (k0, next_col), (m0, next_tile)])),
            tile.eq(self._pick([(~m0, tile), (m0, next_tile)])),
        ]
