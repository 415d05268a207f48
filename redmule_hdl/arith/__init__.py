"""Arithmetic units: the FP16 fused multiply-add, the min/max comparator and the FP8 <-> FP16 casts."""
from .cast import Fp8ToFp16, Fp16ToFp8
from .fma import FMA
from .minmax import MinMax

__all__ = ["FMA", "MinMax", "Fp8ToFp16", "Fp16ToFp8"]
