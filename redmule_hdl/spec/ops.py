"""GEMM-Op codes and FMA modes: the one place these facts live."""
import numbers

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
        """The GemmOp of a code 0..7 (an int, e.g. a numpy integer), a GemmOp or a name (``"gemm"``; case is
        ignored). Anything else is a TypeError (bools and floats too: ``True`` or ``1.0`` is not an op),
        an unknown code or name a ValueError; both messages start with ``op``."""
        names = ", ".join(o.name.lower() for o in cls)
        if isinstance(op, str):
            try:
                return cls[op.upper()]
            except KeyError:
                raise ValueError(f"op must be one of {names} or a code 0..{len(cls) - 1}, "
                                 f"not {op!r}") from None
        if isinstance(op, bool) or not isinstance(op, numbers.Integral):
            raise TypeError(f"op must be a GemmOp, a code 0..{len(cls) - 1} or one of {names}, "
                            f"not {op!r}")
        try:
            return cls(int(op))
        except ValueError:
            raise ValueError(f"op must be a code 0..{len(cls) - 1} (or one of {names}), "
                             f"not {op!r}") from None


class FmaMode(enum.IntEnum, shape=2):
    """Operating modes of the FP16 FMA unit."""
    FMA = 0   # a * b + c
    ADD = 1   # a + c        (multiplicand forced to 1.0)
    MUL = 2   # a * b        (addend forced to -0)
