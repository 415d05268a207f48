"""What a simulation back end offers ``run_job``, and the registry that makes one by name.

A back end simulates one ``RedMulE(config)`` with a TCDM memory model (``sim.memory.TcdmMemory``)
behind its memory port and runs a job script against its peripheral port. ``run_job`` (``sim.run``)
uses nothing but the ``Backend`` protocol below, so the back ends sit side by side:

* ``"amaranth"``: Amaranth's simulator (``sim.amaranth_backend.AmaranthBench``), with VCD output;
* ``"verilator"``: a Verilator model run by a C++ harness (``sim.verilator.VerilatorBench``),
  cycle-identical and much faster, with FST, VCD or SAIF output.

``make_backend(name, config, mem_size, ...)`` builds one; back-end specific options are passed as
keywords (see each class). Every back end starts from the same memory (``job_memory``), so the same
seed gives the same contents and the same grant pattern everywhere.
"""
import importlib
from typing import Protocol, runtime_checkable

from redmule_hdl.config import Config

from .memory import TcdmMemory

__all__ = ["Backend", "BACKENDS", "GUARD_BYTES", "backend_class", "job_memory", "make_backend"]

# name -> (module in this package, class)
_REGISTRY = {
    "amaranth": ("amaranth_backend", "AmaranthBench"),
    "verilator": ("verilator", "VerilatorBench"),
}
BACKENDS = tuple(_REGISTRY)

#: Bytes left untouched between matrices and at both ends of the memory.
GUARD_BYTES = 64


@runtime_checkable
class Backend(Protocol):
    """The interface of a simulation back end, as ``run_job`` uses it.

    ``run(script)`` runs ``async def script(ctx, driver)`` to its end: ``driver`` offers the
    coroutines of ``sim.driver.PeriphDriver`` (``ctx`` is the back end's testbench context, to be
    handed to them unchanged) and ``run`` returns it. All cycle numbers share one convention (cycle c
    ends at clock edge c).
    """

    #: The memory behind the TCDM port; place data before ``run``, read results after it. Its
    #: statistics and request ``log`` are up to date after ``run``.
    mem: TcdmMemory
    #: Cycles in which ``tcdm.req`` rose, after ``run``.
    req_rises: list
    #: Simulated cycles of the last ``run`` (clock edges the driver saw).
    cycles: int
    #: Wall-clock seconds of the simulation proper in the last ``run`` (no build, no data set-up).
    seconds: float

    def run(self, script, *, vcd=None, trace=None, trace_window=None):
        """Run the job script; returns the driver. ``trace``: a trace file (FST, VCD or SAIF by
        suffix, where the back end writes that format) of the cycles ``trace_window``; ``vcd`` is
        another name of ``trace`` (see ``sim.trace``)."""


def backend_class(name):
    """The class of back end ``name`` (imported on first use)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(f".{module}", __package__), cls)


def make_backend(name, config, mem_size, *, stall=0.0, latency=1, seed=0, write_responses=False,
                 **options):
    """A ``Backend`` of kind ``name`` for ``RedMulE(config)`` with a ``mem_size``-byte job memory.

    ``stall``, ``latency``, ``seed`` and ``write_responses`` configure the memory model (see
    ``job_memory``); ``options`` go to the back end's constructor.
    """
    return backend_class(name)(config, mem_size, stall=stall, latency=latency, seed=seed,
                               write_responses=write_responses, **options)


def job_memory(config, mem_size, *, stall=0.0, latency=1, seed=0, write_responses=False):
    """The memory a back end starts from: ``mem_size`` bytes for the job plus room for one port-wide
    read at the end and a guard band, filled with random bytes from ``seed + 1``, logging requests;
    ``stall`` is the refusal probability, ``latency`` the read latency, ``seed`` seeds the grants,
    ``write_responses``: the memory answers writes too."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be a Config, not {config!r}")
    # Reads fetch a whole port width from the row's word: leave that much room at the end.
    mem = TcdmMemory(mem_size + config.port_width // 8 + GUARD_BYTES, read_latency=latency,
                     p_refuse=stall, seed=seed, keep_log=True, write_responses=write_responses)
    mem.fill_random(seed + 1)
    return mem
