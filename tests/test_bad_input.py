"""Bad input found by a new user (issue 22, item 5): each is refused with one line naming the argument,
exit status 2 on the command line (a ``ValueError`` on the Python API), and nothing is written or started.

The CLI cases call ``redmule_hdl.cli.main`` in this process, from an empty working directory; the
sweep's runner is replaced by one that fails the test, so an accepted bad value cannot start a sweep.
"""
import gc
import sys
import warnings

import numpy as np
import pytest

from redmule_hdl import sweep
from redmule_hdl.cli import main
from redmule_hdl.config import Config
from redmule_hdl.spec import golden


@pytest.fixture
def empty_cwd(tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)

    def no_sweep(*args, **kwargs):
        raise AssertionError("the sweep started")
    monkeypatch.setattr(sweep, "run_sweep", no_sweep)
    return work


def _refused(capsys, argv, needle):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and needle in lines[0] and "error:" in lines[0], err
    assert out == ""
    return lines[0]


@pytest.mark.parametrize("argv,needle", [
    (["generate", "-L", "1", "-H", "2", "-o", ""], "-o/--output"),
    (["synth", "-L", "1", "-H", "2", "--liberty", ""], "--liberty"),
    (["sweep", "--fo4-ps", "-5"], "--fo4-ps"),
    (["sweep", "--fo4-ps", "nan"], "--fo4-ps"),
    (["sweep", "--jobs", "0"], "--jobs"),
    (["sweep", "--grid", "L=abc"], "--grid: L"),
    (["sweep", "--grid", "misaligned=maybe"], "--grid: misaligned"),
    (["sweep", "-o", ""], "-o/--output"),
], ids=["generate-o-empty", "synth-liberty-empty", "sweep-fo4-negative", "sweep-fo4-nan",
        "sweep-jobs-0", "sweep-grid-not-int", "sweep-grid-not-bool", "sweep-o-empty"])
def test_cli_refuses(capsys, empty_cwd, argv, needle):
    _refused(capsys, argv, needle)
    assert list(empty_cwd.iterdir()) == []


@pytest.mark.parametrize("command", ["synth", "sweep"])
def test_liberty_that_is_not_a_liberty(capsys, empty_cwd, tmp_path, command):
    bad = tmp_path / "notes.lib"
    bad.write_text("these are not the cells you are looking for\n")
    argv = [command, "--liberty", str(bad)] + (["-L", "1", "-H", "2", "--block", "fma"]
                                                if command == "synth" else [])
    assert str(bad) in _refused(capsys, argv, "--liberty")
    assert list(empty_cwd.iterdir()) == []


@pytest.mark.parametrize("example,modules", [("train-mlp", ["sklearn"]),
                                             ("shortest-paths", ["scipy"])])
def test_example_without_the_extra(capsys, empty_cwd, monkeypatch, example, modules):
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)     # import fails as if not installed
    _refused(capsys, ["example", example, "-L", "1", "-H", "2"], "pip install 'redmule-hdl[examples]'")


def test_vcd_into_a_missing_folder(tmp_path):
    from redmule_hdl.sim.run import run_job
    one = golden.from_float(np.ones((2, 2)), "fp16")
    missing = tmp_path / "no" / "such" / "folder" / "job.vcd"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"^vcd: the folder .*folder does not exist"):
            run_job(Config(L=1, H=2, P=1), "gemm", one, one, one, vcd=missing)
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)], [str(w.message) for w in caught]
    assert not (tmp_path / "no").exists()
