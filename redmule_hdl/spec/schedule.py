"""The schedule of a job: the order in which tiles, rows and reduction steps are walked.

This module is the one owner of the loop order. The hardware walks it with ``engine.tile_walk.TileWalk``
(the engine's sequencer, X fill and Z drain, and the streamer's address generators), the simulation
models and the tests take their stream orders from here, and ``Config.compute_bound`` and
``Config.port_bound`` count its cycles and port transfers. docs/architecture.md ("Stream orders") explains it.

Loop order: m-tile (``m0 = 0, L, 2L, ...``), then k-tile (``k0 = 0, D, 2D, ...``). Inside a tile:

* X: for each n-chunk ``n0 = 0, D, 2D, ...``: for each row ``r`` of the tile: ``X[m0+r, n0 : n0+D]``;
* W: for each ``n`` in ``0..N-1``: ``W[n, k0 : k0+D]``;
* Y (ops that read Y) and Z: for each row ``r`` of the tile: ``Y/Z[m0+r, k0 : k0+D]``.

A beat holds D elements; at the right edge of a matrix only ``count`` of them are valid. The port moves
a beat in ``config.transfers_per_beat(fmt)`` transfers (two for FP16 elements on a port of D FP8
elements, ``Config.beat_format == "fp8"``; else one).
"""
import numbers
from dataclasses import dataclass

__all__ = ["Tile", "Beat", "Schedule", "OVERLAP_CHECK_CYCLES", "JOB_START_CYCLES", "LOAD_FIFO_CYCLES",
           "Z_REGISTER_CYCLES"]

#: Cycles a job of more than one tile waits at the head of the queue while nothing runs: the
#: controller's check that its Z shares no byte with its operands (``Controller.GUARD_CYCLES``,
#: the stages of its range pipelines).
OVERLAP_CHECK_CYCLES = 5

#: Cycles from a job's start (the controller takes it from the queue) to its job in the streamer's
#: and the engine's ports: the controller's job registers (``Controller.START_CYCLES``; the head's
#: decode and checks and the job slots in separate cycles, for the clock).
JOB_START_CYCLES = 1

#: Cycles from a read response to the engine: the streamer writes it into its load FIFO, whose head
#: the engine reads (no bypass, for the clock: ``system.streamer.loads.LoadFifo``).
LOAD_FIFO_CYCLES = 1

#: Cycles from the engine's Z beat to its store request: the streamer's Z beat register (the Z-buffer's
#: select and the cast-out in separate cycles, for the clock).
Z_REGISTER_CYCLES = 1


@dataclass(frozen=True)
class Tile:
    """One tile of the output: rows ``m0 .. m0+rows-1``, columns ``k0 .. k0+cols-1``."""
    m0: int
    k0: int
    rows: int
    cols: int


@dataclass(frozen=True)
class Beat:
    """One beat of a stream: elements ``col .. col+count-1`` of matrix row ``row``."""
    row: int
    col: int
    count: int


def _ceil(a, b):
    return -(-a // b)


class Schedule:
    """The schedule of an M x N x K job on ``config`` (L, H, D); ``uses_y``: the op reads Y."""

    def __init__(self, config, M, N, K, *, uses_y=True):
        for name, value in (("M", M), ("N", N), ("K", K)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an int, not {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, not {value!r}")
        self.config, self.uses_y = config, bool(uses_y)
        self.M, self.N, self.K = int(M), int(N), int(K)

    # ---- the walk -----------------------------------------------------------------------------------
    def tiles(self):
        """Every tile in loop order."""
        L, D = self.config.L, self.config.D
        for m0 in range(0, self.M, L):
            for k0 in range(0, self.K, D):
                yield Tile(m0, k0, min(L, self.M - m0), min(D, self.K - k0))

    def x_beats(self):
        D = self.config.D
        for t in self.tiles():
            for n0 in range(0, self.N, D):
                for r in range(t.rows):
                    yield Beat(t.m0 + r, n0, min(D, self.N - n0))

    def w_beats(self):
        for t in self.tiles():
            for n in range(self.N):
                yield Beat(n, t.k0, t.cols)

    def y_beats(self):
        if self.uses_y:
            yield from self.z_beats()

    def z_beats(self):
        for t in self.tiles():
            for r in range(t.rows):
                yield Beat(t.m0 + r, t.k0, t.cols)

    # ---- counts -------------------------------------------------------------------------------------
    @property
    def m_tiles(self):
        return _ceil(self.M, self.config.L)

    @property
    def k_tiles(self):
        return _ceil(self.K, self.config.D)

    @property
    def ring_passes(self):
        """Passes of the reduction around a ring of H CEs per tile (N padded to a multiple of H)."""
        return _ceil(self.N, self.config.H)

    @property
    def compute_cycles(self):
        """C: cycles with every CE busy. A tile costs ``ring_passes * D`` cycles."""
        return self.m_tiles * self.k_tiles * self.ring_passes * self.config.D

    @property
    def beats(self):
        """Beats per stream, ``{"x", "w", "y", "z"}`` (the lengths of the walks above)."""
        kt = self.k_tiles
        return {"x": self.M * _ceil(self.N, self.config.D) * kt,
                "w": self.m_tiles * kt * self.N,
                "y": self.M * kt if self.uses_y else 0,
                "z": self.M * kt}

    @property
    def port_beats(self):
        """Beats the job moves through the single memory port (all four streams)."""
        return sum(self.beats.values())

    def transfers(self, in_fmt="fp16", out_fmt=None):
        """Port transfers per stream, ``{"x", "w", "y", "z"}``, when X and W are stored as ``in_fmt``
        and Y and Z as ``out_fmt`` (default ``in_fmt``): each beat takes
        ``config.transfers_per_beat`` of its stream's format."""
        out_fmt = in_fmt if out_fmt is None else out_fmt
        per_beat = {"x": in_fmt, "w": in_fmt, "y": out_fmt, "z": out_fmt}
        return {s: n * self.config.transfers_per_beat(per_beat[s]) for s, n in self.beats.items()}

    def port_transfers(self, in_fmt="fp16", out_fmt=None):
        """B: transfers the job moves through the single memory port, at most one per cycle."""
        return sum(self.transfers(in_fmt, out_fmt).values())

    def fixed_cycles(self, in_fmt="fp16", out_fmt=None):
        """The job's fixed cost: its cycles beyond C when it is compute bound, with 1-cycle memory and
        every request granted (docs/architecture.md, "Timing model"), X and W stored as ``in_fmt``
        and Y and Z as ``out_fmt`` (default ``in_fmt``)::

            check + JOB_START_CYCLES + 1 + t_in*(r0 + 1) + LOAD_FIFO_CYCLES + t_out*uses_y*r0 + D + Z_REGISTER_CYCLES
                  + t_out*r1 + 1

        The controller's job register, one cycle from there to the first request; the first tile's X group (``r0`` rows), one W
        beat and its Y (``r0`` rows) before the first step, ``t`` transfers a beat, the last of them
        through its load FIFO; after the last step D cycles for the last tile's Z to leave the ring,
        the streamer's Z beat register, its ``r1`` rows stored one per ``t_out`` cycles, and the
        registered ``evt`` one cycle after the last grant. ``r0`` and
        ``r1`` are the rows of the first and the last tile; ``check`` is ``OVERLAP_CHECK_CYCLES``
        for a job of more than one tile (its overlap check), else 0."""
        out_fmt = in_fmt if out_fmt is None else out_fmt
        c = self.config
        t_in, t_out = c.transfers_per_beat(in_fmt), c.transfers_per_beat(out_fmt)
        r0 = min(c.L, self.M)
        r1 = self.M - (self.m_tiles - 1) * c.L
        check = OVERLAP_CHECK_CYCLES if self.m_tiles * self.k_tiles > 1 else 0
        return (check + JOB_START_CYCLES + 1 + t_in * (r0 + 1) + LOAD_FIFO_CYCLES + t_out * self.uses_y * r0 + c.D
                + Z_REGISTER_CYCLES + t_out * r1 + 1)
