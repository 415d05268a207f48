"""The streamer: the engine's operand and result streams through one TCDM memory port.

``streamer.py`` composes the parts: ``address.py`` (one address generator per stream),
``arbiter.py`` (one request per cycle, held until granted), ``loads.py`` (tag FIFO, response shift,
cast-in, load FIFOs and their credits) and ``stores.py`` (cast-out, shift, byte enables).
"""
from .streamer import Streamer

__all__ = ["Streamer"]
