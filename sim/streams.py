"""The engine's operand and result streams as Python data, in the order of ``spec.schedule``.

Beats are lists of D FP16 bit patterns; elements outside the matrix are filled with ``fill``.
"""
import numpy as np

__all__ = ["FP16_SPECIALS", "x_beats", "w_beats", "y_beats", "z_beats", "pack_beat", "unpack_beat",
           "ZCollector"]

#: FP16 special values that test data sprinkles in.
FP16_SPECIALS = np.array([
    0x0000, 0x8000,           # +0, -0
    0x0001, 0x8001, 0x03FF,   # subnormals
    0x0400, 0x7BFF, 0xFBFF,   # min normal, +-max normal
    0x3C00, 0xBC00,           # +-1
    0x7C00, 0xFC00,           # +-Inf
    0x7E00, 0x7D01, 0xFE37,   # NaNs (quiet, signalling, negative with payload)
], dtype=np.uint16)


def _segment(matrix, beat, D, fill):
    seg = np.full(D, fill, dtype=np.uint16)
    seg[:beat.count] = matrix[beat.row, beat.col:beat.col + beat.count]
    return seg


def x_beats(config, x, K, fill=0):
    """X beats for an M x N matrix ``x`` (FP16 bits)."""
    M, N = x.shape
    for beat in config.schedule(M, N, K).x_beats():
        yield _segment(x, beat, config.D, fill)


def w_beats(config, w, M, fill=0):
    """W beats for an N x K matrix ``w``."""
    N, K = w.shape
    for beat in config.schedule(M, N, K).w_beats():
        yield _segment(w, beat, config.D, fill)


def y_beats(config, y, fill=0):
    """Y beats for an M x K matrix ``y`` (only ops that use Y)."""
    M, K = y.shape
    for beat in config.schedule(M, 1, K).y_beats():
        yield _segment(y, beat, config.D, fill)


def z_beats(config, M, K):
    """(m, k0, valid columns) of every Z beat the engine emits, in order."""
    for beat in config.schedule(M, 1, K).z_beats():
        yield beat.row, beat.col, beat.count


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
