"""redmule-hdl: a parameterized Amaranth generator of the RedMulE floating-point matrix engine.

Package layout (imports only go downwards in this list):

* ``redmule_hdl.cli``: the ``redmule-hdl`` command (generate, synth, bench).
* ``redmule_hdl.sim``, ``redmule_hdl.synth``: simulation testbenches and back ends; synthesis flows.
* ``redmule_hdl.system``: register file, controller, streamer and the top level ``RedMulE``.
* ``redmule_hdl.engine``: computing elements, operand buffers, the engine's scheduler.
* ``redmule_hdl.arith``: FMA, min/max, casts.
* ``redmule_hdl.interfaces``: the contracts between blocks (bus signatures, job and beat layouts).
* ``redmule_hdl.config``, ``redmule_hdl.spec``: parameters, and the facts and reference model.
"""
from .config import Config
from .spec import golden
from .spec.formats import E4M3, E5M2, FP16, FpFormat
from .spec.ops import FmaMode, GemmOp

__all__ = ["Config", "FpFormat", "FP16", "E5M2", "E4M3", "GemmOp", "FmaMode", "RedMulE", "golden"]


def __getattr__(name):
    # The hardware is imported on first use, so ``import redmule_hdl`` stays light.
    if name == "RedMulE":
        from .system.top import RedMulE
        return RedMulE
    raise AttributeError(f"module 'redmule_hdl' has no attribute {name!r}")
