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


RESULTS = ROOT / "docs" / "results"


def _figure_rows(text):
    """Markdown table rows that start with a number: the measured rows of a table."""
    return re.findall(r"^\| \d.*\|$", text, re.M)


def test_bench_figures_come_from_the_bench_results_file():
    """The cycle tables and totals in the README are rows of the committed `redmule-hdl bench` output."""
    bench = (RESULTS / "bench-12x4x3.md").read_text()
    for title in ("Performance", "The paper's FP8 instance"):
        section = _section(title) if title == "Performance" else README.split(f"### {title}\n")[1]
        rows = _figure_rows(section.split("\n## ")[0])
        assert rows, f"no figure rows under {title!r}"
        for row in rows:
            assert row in bench, f"README row not in docs/results/bench-12x4x3.md: {row}"
    total = re.search(r"^Total over the 24 shapes: .*$", README, re.M).group(0)
    assert total in bench


def test_synth_figures_come_from_the_synth_results_file():
    """The README's `redmule-hdl synth` output is the committed results file, line for line."""
    synth = (RESULTS / "synth-12x4x3.txt").read_text().splitlines()
    block = re.search(r"\$ redmule-hdl synth\n.*?\n(.*?)```", _section("What you can do"), re.S).group(1)
    # Every line but the closing "(wrote ...)" note, which the command prints and does not write.
    shown = [line for line in block.splitlines() if line.strip() and not line.startswith("(wrote ")]
    assert len(shown) >= 10
    for line in shown:
        assert line in synth, f"README synth line not in docs/results/synth-12x4x3.txt: {line}"


def test_sweep_figures_come_from_the_sweep_results_file():
    """The README's sweep table is the committed `redmule-hdl sweep` output, row for row."""
    sweep = (RESULTS / "sweep.md").read_text()
    section = README.split("### Design-space sweep\n")[1].split("\n### ")[0]
    rows = _figure_rows(section)
    assert rows and rows == _figure_rows(sweep)
    workload = re.search(r"^Workload: .*$", sweep, re.M).group(0)
    assert workload in section


def test_clock_per_p_figures_come_from_the_results_file():
    """The README's clock-per-P table is the committed `synth/clock_table.py` output, row for row."""
    table = (RESULTS / "clock-per-P.md").read_text()
    section = README.split("### Clock per P\n")[1].split("\n### ")[0]
    rows = _figure_rows(section)
    assert len(rows) == 36 and rows == _figure_rows(table)     # the ASIC table, then the ECP5 table


def test_fpga_figures_come_from_the_fpga_results_file():
    """The README's ECP5 utilization table is the one in the committed `redmule-hdl fpga` results."""
    results = (RESULTS / "fpga-12x4x3.md").read_text()
    section = README.split("### FPGA (Lattice ECP5)\n")[1].split("\n### ")[0]
    rows = re.findall(r"^\| `\w+` \|.*\|$", section, re.M)
    assert [row.split("`")[1] for row in rows] == ["flops", "fifos", "ram"]
    for row in rows:
        assert row in results, f"README row not in docs/results/fpga-12x4x3.md: {row}"
