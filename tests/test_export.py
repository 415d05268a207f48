"""Export mode (redmule_hdl/export.py): the CE is one module instantiated L x H times; the Verilog
lints, and a job on the Verilator back end's "export" flow matches Amaranth's simulator exactly."""
import re
import subprocess
import sys

import numpy as np
import pytest

from redmule_hdl import export, golden
from redmule_hdl.config import Config
from redmule_hdl.sim import run_job
from redmule_hdl.system.top import TOP_NAME

CONFIG = Config(L=2, H=2, P=1)     # tests/test_verilator.py SMALL: shares its export-flow build


@pytest.fixture(scope="module")
def text():
    return export.verilog(CONFIG)


def _modules(text):
    return re.findall(r"^module\s+(\\?[^\s(]+)", text, re.M)


def test_ce_is_one_module_instantiated_l_times_h(text):
    mods = _modules(text)
    assert mods.count(export.CE_MODULE) == 1 and mods.count(TOP_NAME) == 1
    assert not any("ce_0_0" in m for m in mods)          # no per-instance CE modules
    assert len(re.findall(rf"^\s*{export.CE_MODULE}\s+ce_\d+_\d+\s*\(", text, re.M)) == CONFIG.L * CONFIG.H
    assert len(mods) == len(set(mods))


def test_rtlil_has_the_same_modules():
    il = export.rtlil(CONFIG)
    assert f"module \\{TOP_NAME}\n" in il and f"module \\{export.CE_MODULE}\n" in il
    assert il.count(f"cell \\{export.CE_MODULE} ") == CONFIG.L * CONFIG.H


def test_verilator_lint(tmp_path, text):
    path = tmp_path / "redmule.v"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "verilator", "--lint-only", "-Wall", "-Wno-fatal",
                           "--top-module", TOP_NAME, str(path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    real = {"MULTIDRIVEN", "LATCH", "UNOPTFLAT", "UNDRIVEN", "PINMISSING", "PINNOTFOUND", "WIDTHCONCAT"}
    found = set(re.findall(r"%Warning-([A-Z]+)", proc.stderr)) & real
    assert not found and "%Error" not in proc.stderr, proc.stderr[-3000:]


def test_export_flow_job_matches_amaranth():
    """A GEMM with leftovers (M, K not multiples of L, D) through the deduplicated export."""
    rng = np.random.default_rng(7)
    x = golden.from_float(rng.normal(size=(5, 7)))
    w = golden.from_float(rng.normal(size=(7, 6)))
    y = golden.from_float(rng.normal(size=(5, 6)))
    a = run_job(CONFIG, "gemm", x, w, y, backend="amaranth", stall=0.3, latency=2, seed=4)
    v = run_job(CONFIG, "gemm", x, w, y, backend="verilator", verilog_flow="export", stall=0.3,
                latency=2, seed=4)
    assert (v.cycles, v.error, v.guard_ok, v.sim_cycles) == (a.cycles, a.error, a.guard_ok, a.sim_cycles)
    assert np.array_equal(v.z, a.z)
    assert np.array_equal(v.z, golden.gemm_op("gemm", x, w, y))
