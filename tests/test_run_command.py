"""``redmule-hdl run`` (issue 22, item 4 of the issue): one job from the command line, random operands or
.npy files, either back end's options, Z written as .npy, cycles equal to ``run_job``'s, Z equal to the
reference model; bad arguments refused with one line and nothing written. (Amaranth back end here: the
Verilator back end's parity with it is tested in tests/test_verilator.py.)"""
import re

import numpy as np
import pytest

from redmule_hdl.cli import main
from redmule_hdl.config import Config
from redmule_hdl.spec import golden

SMALL = ["-L", "1", "-H", "2", "-P", "1", "--backend", "amaranth"]


def _field(stdout, name):
    return re.search(rf"^{name}\s+(.*)$", stdout, re.M).group(1)


def test_random_operands(tmp_path, capsys):
    from redmule_hdl.sim.run import run_job
    out = tmp_path / "z.npy"
    assert main(["run", *SMALL, "--shape", "5x6x7", "--seed", "3", "--stall", "0.25", "--latency", "2",
                 "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    # The same operands as the command draws them, through run_job with the same options.
    rng = np.random.default_rng(3)
    x, w, y = (golden.from_float(rng.uniform(-1, 1, s)) for s in ((5, 6), (6, 7), (5, 7)))
    ref = run_job(Config(L=1, H=2, P=1), "gemm", x, w, y, stall=0.25, latency=2, seed=3)
    assert int(_field(stdout, "cycles")) == ref.cycles
    assert _field(stdout, "CE utilization") == f"{5 * 6 * 7 / (2 * ref.cycles):.1%}"
    assert _field(stdout, "reference model").startswith("35 of 35 elements equal")
    assert "max |error|" in _field(stdout, "vs float64")
    z = np.load(out)
    assert z.dtype == np.float16 and z.shape == (5, 7)
    np.testing.assert_array_equal(z.view(np.uint16), golden.gemm_op("gemm", x, w, y))


def test_npy_operands(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    x = rng.uniform(-4, 4, (3, 9)).astype(np.float32)          # floats: rounded to fp16
    w = golden.from_float(rng.uniform(-4, 4, (9, 4)))            # uint16: fp16 bit patterns
    np.save("x.npy", x)
    np.save("w.npy", w)
    assert main(["run", *SMALL, "--op", "matmul", "--x", "x.npy", "--w", "w.npy"]) == 0
    stdout = capsys.readouterr().out
    assert "matmul 3x9x4" in stdout
    z = np.load("z.npy")                                          # the default output
    np.testing.assert_array_equal(z.view(np.uint16), golden.gemm_op("matmul", golden.from_float(x), w))


def test_refused_job_writes_nothing(tmp_path, capsys):
    # An FP8 job on a narrow port whose D is not a multiple of 4: the hardware refuses it.
    out = tmp_path / "z.npy"
    assert main(["run", "-L", "1", "-H", "3", "-P", "1", "--no-misaligned", "--backend", "amaranth",
                 "--shape", "2x2x2", "--in-fmt", "e4m3", "-o", str(out)]) == 1
    assert "refused by the engine: ERROR = 4 (MISALIGNED)" in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.parametrize("args,needle", [
    (["--shape", "2x2x2", "--x", "x.npy"], "--shape"),
    (["--x", "x.npy"], "--shape MxNxK"),
    (["--shape", "2x2x2", "--stall", "1.5"], "argument --stall"),
    (["--shape", "2x2x2", "--latency", "0"], "argument --latency"),
    (["--x", "missing.npy", "--w", "w.npy"], "argument --x"),
    (["--x", "ints.npy", "--w", "w.npy"], "argument --x"),
    (["--x", "x.npy", "--w", "x.npy"], "argument --w"),
    (["--op", "matmul", "--x", "x.npy", "--w", "w.npy", "--y", "w.npy"], "argument --y"),
    (["--shape", "2x2x2", "-o", "nodir/z.npy"], "-o/--output"),
    (["--shape", "2x2x2", "-o", "z.txt"], "-o/--output"),
    (["--shape", "2x2x2", "--op", "sort"], "argument --op"),
], ids=["shape-and-x", "no-operands", "stall", "latency", "missing-file", "int-dtype", "shape-mismatch",
        "y-shape", "output-folder", "output-suffix", "op"])
def test_bad_arguments(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", np.ones((4, 3)))
    np.save("w.npy", np.ones((3, 5)))
    np.save("ints.npy", np.ones((4, 3), np.int32))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", *SMALL, *args]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and needle in lines[0] and "error:" in lines[0], err
    assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == before


def test_trace_option_writes_the_job_waveform(tmp_path, capsys):
    from redmule_hdl.sim.trace import PERIOD_PS, read_vcd, sample_edges
    trace = tmp_path / "job.vcd"
    assert main(["run", *SMALL, "--shape", "3x4x5", "-o", str(tmp_path / "z.npy"), "--trace", str(trace)]) == 0
    cycles = int(_field(capsys.readouterr().out, "cycles"))
    signals = read_vcd(trace, ["evt", "busy", "tcdm__req"])
    edges = range(max(t for t, _ in signals["busy"]) // PERIOD_PS + 2)
    # One job: one evt pulse, and the port was busy for at least the cycles the job counted.
    assert sum(v or 0 for v in sample_edges(signals["evt"], edges)) == 1
    assert sum(v or 0 for v in sample_edges(signals["busy"], edges)) >= cycles - 1
    assert sum(v or 0 for v in sample_edges(signals["tcdm__req"], edges)) > 0


def test_trace_into_a_missing_folder_is_one_line(tmp_path, capsys):
    out = tmp_path / "z.npy"
    assert main(["run", *SMALL, "--shape", "2x2x2", "-o", str(out),
                 "--trace", str(tmp_path / "no" / "job.vcd")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trace" in err[0]
    assert not out.exists()
