"""The engine's operand and result streams as Python data (the order of ``redmule_hdl.engine``).

Beats are lists of D FP16 bit patterns; elements outside the matrix are filled with ``fill``.
"""
import numpy as np

__all__ = ["tiles", "x_beats", "w_beats", "y_beats", "z_beats", "pack_beat", "unpack_beat",
           "ZCollector"]


def tiles(config, M, K):
    """(m0, k0, rows) of every tile in loop order."""
    for m0 in range(0, M, config.L):
        for k0 in range(0, K, config.D):
            yield m0, k0, min(config.L, M - m0)


def _segment(row, start, D, fill):
    seg = np.full(D, fill, dtype=np.uint16)
    part = row[start:start + D]
    seg[:len(part)] = part
    return seg


def x_beats(config, x, K, fill=0):
    """X beats for an M x N matrix ``x`` (FP16 bits)."""
    M, N = x.shape
    for m0, k0, rows in tiles(config, M, K):
        for n0 in range(0, N, config.D):
            for r in range(rows):
                yield _segment(x[m0 + r], n0, config.D, fill)


def w_beats(config, w, M, fill=0):
    """W beats for an N x K matrix ``w``."""
    N, K = w.shape
    for m0, k0, rows in tiles(config, M, K):
        for n in range(N):
            yield _segment(w[n], k0, config.D, fill)


def y_beats(config, y, fill=0):
    """Y beats for an M x K matrix ``y`` (only ops that use Y)."""
    M, K = y.shape
    for m0, k0, rows in tiles(config, M, K):
        for r in range(rows):
            yield _segment(y[m0 + r], k0, config.D, fill)


def z_beats(config, M, K):
    """(m, k0, valid columns) of every Z beat the engine emits, in order."""
    for m0, k0, rows in tiles(config, M, K):
        for r in range(rows):
            yield m0 + r, k0, min(config.D, K - k0)


def pack_beat(elements):
    """D FP16 bit patterns -> one integer, element j in bits [16j, 16j+16)."""
    value = 0
    for j, e in enumerate(elements):
        value |= int(e) << (16 * j)
    return value


def unpack_beat(value, D):
    return np.array([(int(value) >> (16 * j)) & 0xFFFF for j in range(D)], dtype=np.uint16)


class ZCollector:
    """Assembles Z from beats, checking each beat's position and mask against the protocol."""

    def __init__(self, config, M, K):
        self.config = config
        self.z = np.zeros((M, K), dtype=np.uint16)
        self._expected = list(z_beats(config, M, K))
        self.count = 0

    @property
    def complete(self):
        return self.count == len(self._expected)

    def add(self, data_value, mask_value):
        if self.complete:
            raise AssertionError("more Z beats than the job has")
        m, k0, cols = self._expected[self.count]
        expected_mask = (1 << cols) - 1
        if mask_value != expected_mask:
            raise AssertionError(f"Z beat {self.count} (row {m}, k0 {k0}): mask {mask_value:#x}, "
                                 f"expected {expected_mask:#x}")
        self.z[m, k0:k0 + cols] = unpack_beat(data_value, self.config.D)[:cols]
        self.count += 1
