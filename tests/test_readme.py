"""The README's commands and examples stay true."""
import re
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _section(title):
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert m, f"README has no section {title!r}"
    return m.group(1)


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_quick_start_test_command_is_what_ci_runs():
    blocks = re.findall(r"```sh\n\s*(.*?)\n\s*```", _section("Quick start"), re.S)
    assert len(blocks) == 2
    install, test = blocks[1].strip().split(" && ")
    ci = (ROOT / ".ci" / "run").read_text()
    # Both halves appear as commands of their own in .ci/run (the test command may be followed by
    # `|| status=$?`, which keeps its exit code).
    assert re.search(rf"^{re.escape(install)}$", ci, re.M)
    assert re.search(rf"^{re.escape(test)}( \|\| status=\$\?)?$", ci, re.M)


def test_ci_script_is_strict_and_executable():
    ci = ROOT / ".ci" / "run"
    assert ci.stat().st_mode & 0o111
    text = ci.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(ci)], check=True)


def test_parameter_example():
    (block,) = _python_blocks(_section("Parameters"))
    ns = {}
    exec(block, ns)
    cfg = ns["cfg"]
    assert (cfg.D, cfg.port_width) == (16, 288)
    assert "27648" in block and cfg.compute_bound(M=96, N=96, K=96) == 27648
    fp8 = ns["fp8"]
    promised = [int(v) for v in re.findall(r"# [CB] = (\d+)", block)]
    assert promised == [fp8.compute_bound(96, 96, 96), fp8.port_bound(96, 96, 96, in_fmt="e4m3"),
                        fp8.port_bound(96, 96, 96)] == [9216, 3744, 7488]


def test_reference_model_example():
    (block,) = _python_blocks(_section("Reference model"))
    ns = {}
    exec(block, ns)
    golden = ns["golden"]
    assert golden.to_float(ns["z"]).tolist() == [[-1.0, 9.0], [-1.25, -0.5]]
    assert ns["z16"].dtype == np.uint16
    assert golden.to_float(ns["z16"]).tolist() == [[2.5, 5.0], [1.5, 2.25]]


def test_register_map_is_generated_from_regmap():
    from redmule_hdl.spec import render
    assert render.markdown_table() in _section("Register map")


def test_simulate_a_job_example_prints_what_the_readme_says(capsys):
    (block,) = [b for b in _python_blocks(_section("What you can do")) if "print(" in b]
    exec(block, {})
    printed = capsys.readouterr().out.splitlines()
    promised = [line.split("# ")[1].strip() for line in block.splitlines() if "print(" in line]
    assert printed == promised
