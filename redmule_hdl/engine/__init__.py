"""The compute engine: computing elements, the X/W/Z operand buffers and the scheduler around them."""
from .engine import Engine

__all__ = ["Engine"]
