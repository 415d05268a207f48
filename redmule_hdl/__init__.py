"""redmule-hdl: a parameterized Amaranth generator of the RedMulE floating-point matrix engine."""
from .config import Config
from .formats import E4M3, E5M2, FP16, FmaMode, FpFormat, GemmOp

__all__ = ["Config", "FpFormat", "FP16", "E5M2", "E4M3", "GemmOp", "FmaMode"]
