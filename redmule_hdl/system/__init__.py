"""The system around the engine: register file, controller, streamer (memory port) and the top level."""
from .top import RedMulE

__all__ = ["RedMulE"]
