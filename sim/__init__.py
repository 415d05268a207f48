"""Simulation testbenches for redmule-hdl: stream models, memory model, drivers, job runners and the
simulation back ends.

``sim.run_job`` runs one GEMM-Op job on the complete accelerator (see ``sim.run``) on a back end chosen
by name (``sim.backend``): Amaranth's simulator (``sim.amaranth_backend``) or Verilator
(``sim.verilator``).
"""


def __getattr__(name):
    # Lazy, so that ``import sim.memory`` etc. do not pull in the whole accelerator.
    if name in ("run_job", "JobResult"):
        from . import run
        return getattr(run, name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


__all__ = ["run_job", "JobResult"]
