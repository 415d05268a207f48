"""GEMM-Op codes and FMA modes: the one place these facts live."""
from amaranth.lib import enum

__all__ = ["GemmOp", "FmaMode"]


class GemmOp(enum.IntEnum, shape=3):
    """GEMM-Op codes (MACFG.OP; the shape is the field's width): ``Z[m,k] = fold(step, n, init)``.

    The steps and inits are in ``golden`` and the table of docs/architecture.md.
    """
    MATMUL = 0
    GEMM = 1
    ADDMAX = 2
    ADDMIN = 3
    MULMAX = 4
    MULMIN = 5
    MAXMIN = 6
    MINMAX = 7

    @property
    def uses_y(self):
        return self is not GemmOp.MATMUL

    @classmethod
    def parse(cls, op):
        """Accept a code 0..7, a GemmOp or a lower-case name; ValueError otherwise."""
        if isinstance(op, str):
            try:
                return cls[op.upper()]
            except KeyError:
                raise ValueError(f"unknown op {op!r}; expected one of "
                                 f"{[o.name.lower() for o in cls]}") from None
        try:
            return cls(op)
        except ValueError:
            raise ValueError(f"unknown op code {op!r}; expected 0..{len(cls) - 1}") from None



class FmaMode(enum.IntEnum, shape=2):
    """Operating modes of the FP16 FMA unit."""
    FMA = 0   # a * b + c
    ADD = 1   # a + c        (multiplicand forced to 1.0)
    MUL = 2   # a * b        (addend forced to -0)
