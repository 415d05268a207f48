"""redmule-hdl: a parameterized Amaranth generator of the RedMulE floating-point matrix engine."""
from .config import Config
from .formats import E4M3, E5M2, FP16, FmaMode, FpFormat, GemmOp

__all__ = ["Config", "FpFormat", "FP16", "E5M2", "E4M3", "GemmOp", "FmaMode", "RedMulE"]


def __getattr__(name):
    # The hardware is imported on first use, so ``import redmule_hdl`` stays light.
    if name == "RedMulE":
        from .top import RedMulE
        return RedMulE
    raise AttributeError(f"module 'redmule_hdl' has no attribute {name!r}")
