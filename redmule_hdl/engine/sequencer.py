"""The engine's sequencer: one reduction step to a CE column every P+1 cycles, and the array's enable."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.engine.job_slots import JOBS_IN_FLIGHT, WalkerSignature
from redmule_hdl.engine.tile_walk import TileWalk
from redmule_hdl.interfaces import CeControl, EngineJob
from redmule_hdl.spec.regmap import DIM_BITS

__all__ = ["Sequencer"]


class Sequencer(wiring.Component):
    """Feeds one reduction step to CE column ``n mod H`` every P+1 cycles, tile after tile and job
    after job (the engine's ``seq`` walker of its ``JobSlots``).

    The global enable ``en`` stalls everything while the next step's X or W operand is missing or
    the Z-buffer is not ready for the next window. The datapath runs one cycle behind the sequencer:
    operands fed in cycle t are used from t+1, so the windows (``window``, ``window_start``) are
    registered.

    Ports:
        walker (flipped ``WalkerSignature``): the job fed.
        w_valid: a W beat is there.   x_ready: the X-buffer has an element for the step
            (``can_take``).   z_ready: the Z-buffer is ready for the next window.
        abort: back to idle at once.
        en: the global enable of the datapath's steps.
        array_en: ``en`` while the array has work: a job is running, flushing or waiting in its
            walker, or a window is still open. Idle, the array's registers hold (its ring would
            otherwise keep accumulating stale operands, burning about its busy power for nothing).
        ce: the CE control of the jobs in the array (a register, loaded when a job starts in an
            empty array).
        step: a step is fed to CE column ``column`` in this cycle (when ``en``); ``real``: it is a
            step of the job (``n < N``; else a padded one); ``first``: it is step 0 of its tile;
            ``uses_y``: its job reads Y.
        feed: ``step & real``: the W-buffer's column takes its beat (when ``en``).
        x_take, x_take_last: the X-buffer's ``take`` and ``take_last``.
        window: the array's first pass of a tile, or the flush after a job's last tile (registered
            with ``en``); ``window_start``: its first cycle.
        running: feeding the steps of tiles (not idle or flushing).
        chain: the next job will follow the current one without a flush (it is there and has the
            same CE control); valid while ``running``.
        start: a job starts in an empty array (its first window brings no Z).
        flush: the last step of a job not followed at once is fed: a flush window follows.
    """

    class State(enum.Enum):
        IDLE = 0
        RUN = 1     # feeding the steps of tiles
        FLUSH = 2   # D cycles after the last tile of a job not followed at once: its Z enters the Z-buffer

    def __init__(self, config, *, depth=JOBS_IN_FLIGHT):
        self.config = check_config(config)
        super().__init__({
            "walker": In(WalkerSignature(EngineJob, depth, registered_next=True, same=("ce",))),
            "w_valid": In(1), "x_ready": In(1), "z_ready": In(1), "abort": In(1),
            "en": Out(1), "array_en": Out(1), "ce": Out(CeControl),
            "step": Out(1), "real": Out(1), "column": Out(range(config.H)), "first": Out(1),
            "uses_y": Out(1), "feed": Out(1), "x_take": Out(1), "x_take_last": Out(1),
            "window": Out(1), "window_start": Out(1),
            "running": Out(1), "chain": Out(1), "start": Out(1), "flush": Out(1),
        })

    def elaborate(self, platform):
        c, State = self.config, self.State
        H, P, D = c.H, c.P, c.D
        m = Module()
        seq = self.walker
        job = seq.job
        state = Signal(State)
        cyc = Signal(range(P + 1))       # cycle within a step
        h_cur = self.column              # column fed at this step
        n = Signal(DIM_BITS + 1)         # reduction step within the tile
        e = Signal(range(D))             # n mod D: position in the X chunk
        flush = Signal(range(D))
        # real = n < job.n as a register, updated with n: the comparison is off the path from the
        # sequencer to the CEs' operand registers. Every tile starts with n = 0, which is a real
        # step since the job decoder refuses N = 0.
        real = Signal(init=1)
        m.submodules.tile = tile = TileWalk(c)
        m.d.comb += [tile.m.eq(job.m), tile.k.eq(job.k)]

        # feeding = (state == RUN) & (cyc == 0), as a register of its own set with them below: it
        # selects the W-buffer's output to every CE row (the CEs' comparator works on it), so it
        # starts at a flip-flop rather than after the state decode.
        feeding = Signal()
        # n_last = (n + 1 >= job.n), a register set with n (the tile's last step; its comparison
        # of the job's N was the start of a 50 FO4 path through the tile walk's advance).
        n_last = Signal()
        # running = (state == RUN), a register of its own set with ``state`` below: it starts the
        # Y preload's readiness (``y.ready``), which the streamer's arbiter reads.
        running = self.running
        window = ((state == State.RUN) & (n < H)) | (state == State.FLUSH)
        window_start = ((state == State.RUN) & (n == 0) & (cyc == 0)) | \
                       ((state == State.FLUSH) & (flush == 0))
        feed_ok = ~(feeding & real) | (self.w_valid & self.x_ready)
        z_ok = ~self.window_start | self.z_ready
        en = self.en
        m.d.comb += [
            en.eq(feed_ok & z_ok),
            self.array_en.eq(en & ((state != State.IDLE) | self.window | seq.active)),
            self.step.eq(feeding), self.real.eq(real), self.first.eq(n == 0),
            self.uses_y.eq(job.uses_y),
            self.feed.eq(feeding & real),
            self.x_take.eq(en & feeding & real),
            # The chunk's last element, or the tile's last step: ``n + 1 == N`` is ``n_last`` for a
            # real step (n < N), the only one that takes (the comparison's carry chain, from ``n``
            # through ``take_last`` to the X-buffer's ``can_take``, was a 39.4 FO4 path at 12x4x4).
            self.x_take_last.eq((e == D - 1) | n_last),
        ]

        # A job follows the current one at once if it is there and runs the same op in the array:
        # the walker's ``next_same`` register (the next job's ``ce`` equals the current job's, which
        # is ``self.ce`` while running; ``chain`` is read only then). Comparing ``self.ce``, which
        # fans out to every CE, put its buffer tree at the start of the path through the engine's
        # ``y.ready`` to the streamer's arbiter and tag FIFO (40.8 FO4 at 12x4x4).
        chain = self.chain
        m.d.comb += chain.eq(seq.next_same)
        # The tile walk's ``is_last``, sampled in every cycle: it is read only at a tile's last step,
        # and a tile lasts at least H * (P + 1) >= 2 cycles in which the walk and the job do not
        # move, so the sample of the cycle before is the same. Read directly it started the path
        # through ``finish`` to the walker's job copy (41.7 FO4 at fast 12x4x7).
        tile_last = Signal()
        m.d.sync += tile_last.eq(tile.is_last)
        with m.If(en):
            m.d.sync += [self.window.eq(window), self.window_start.eq(window_start)]
        with m.Switch(state):
            with m.Case(State.IDLE):
                # A new job starts once the previous window (the last flush) has left the datapath.
                with m.If(seq.active & ~self.window):
                    m.d.comb += self.start.eq(1)
                    m.d.sync += [state.eq(State.RUN), cyc.eq(0), n.eq(0), real.eq(1), h_cur.eq(0),
                                 e.eq(0), self.ce.eq(job.ce), feeding.eq(1), n_last.eq(job.n <= 1),
                                 running.eq(1)]
            with m.Case(State.RUN):
                with m.If(en):
                    with m.If(cyc == P):
                        m.d.sync += [cyc.eq(0), feeding.eq(1)]
                        with m.If((h_cur == H - 1) & n_last):
                            # (At the job's last tile the walker moves on: its next job's N.)
                            m.d.sync += [n.eq(0), real.eq(1), h_cur.eq(0), e.eq(0),
                                         n_last.eq(Mux(tile_last, seq.next_job.n, job.n) <= 1)]
                            m.d.comb += tile.advance.eq(1)
                            with m.If(tile_last):
                                m.d.comb += [seq.finish.eq(1), tile.restart.eq(1)]
                                with m.If(~chain):
                                    m.d.comb += self.flush.eq(1)
                                    m.d.sync += [state.eq(State.FLUSH), flush.eq(0), feeding.eq(0),
                                                 running.eq(0)]
                        with m.Else():
                            m.d.sync += [
                                n.eq(n + 1), real.eq(n + 1 < job.n), n_last.eq(n + 2 >= job.n),
                                h_cur.eq(Mux(h_cur == H - 1, 0, h_cur + 1)),
                                e.eq(Mux(e == D - 1, 0, e + 1)),
                            ]
                    with m.Else():
                        m.d.sync += [cyc.eq(cyc + 1), feeding.eq(0)]
            with m.Case(State.FLUSH):
                with m.If(en):
                    m.d.sync += flush.eq(flush + 1)
                    with m.If(flush == D - 1):
                        m.d.sync += state.eq(State.IDLE)

        with m.If(self.abort):
            m.d.comb += tile.restart.eq(1)
            m.d.sync += [state.eq(State.IDLE), self.window.eq(0), self.window_start.eq(0), feeding.eq(0),
                         running.eq(0)]
        return m
