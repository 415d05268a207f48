"""Data layouts shared by the engine, the streamer and the test drivers."""
from amaranth.lib import data

from .formats import OP_BITS

__all__ = ["beat_layout", "z_beat_layout", "JobLayout", "StreamerJob", "DIM_BITS"]

# M, N and K are 16-bit fields of the register map (MCFG0/MCFG1).
DIM_BITS = 16


def beat_layout(config):
    """One beat: D FP16 elements, element j in bits [16j, 16j+16)."""
    return data.ArrayLayout(16, config.D)


def z_beat_layout(config):
    """A Z beat leaving the engine: D FP16 elements and a valid bit per element (columns < K)."""
    return data.StructLayout({"data": beat_layout(config), "mask": config.D})


class JobLayout(data.Struct):
    """The shape and GEMM-Op of one job as the engine receives it."""
    m: DIM_BITS
    n: DIM_BITS
    k: DIM_BITS
    op: OP_BITS


class StreamerJob(data.Struct):
    """A checked job as the controller hands it to the streamer.

    Addresses are byte addresses; pitches are resolved row pitches in bytes (never 0);
    formats are MACFG format codes (``formats.FpFormat.code``).
    """
    x_addr: 32
    w_addr: 32
    y_addr: 32
    z_addr: 32
    x_pitch: 32
    w_pitch: 32
    z_pitch: 32     # Y uses the same pitch
    m: DIM_BITS
    n: DIM_BITS
    k: DIM_BITS
    op: OP_BITS
    in_fmt: 3
    out_fmt: 3
