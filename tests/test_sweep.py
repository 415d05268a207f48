"""``redmule-hdl sweep`` (redmule_hdl/sweep.py): a grid of two tiny configurations with a reduced
workload, run locally (processes) and through a ``dask.distributed.LocalCluster``; the cache, the
table, the JSON and the Pareto plot."""
import json
import shutil
import struct
import subprocess
import sys

import pytest

from redmule_hdl import sweep

GRID = ["L=1,2", "H=2", "P=0", "contexts=1"]


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    path = tmp_path_factory.mktemp("wl") / "shapes.txt"
    path.write_text("# M,N,K\n2,3,2\n3,4,3\n")
    return path


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, workload):
    out = tmp_path_factory.mktemp("sweep")
    proc = subprocess.run([sys.executable, "-m", "redmule_hdl.cli", "sweep", "--grid", *GRID,
                           "--workload", str(workload), "--jobs", "2", "-o", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


def test_grid_and_workload_parsing(workload):
    grid = sweep.parse_grid(GRID)
    assert grid == {"L": [1, 2], "H": [2], "P": [0], "contexts": [1]}
    assert [p["L"] for p in sweep.points(grid)] == [1, 2]
    assert sweep.load_workload(workload) == [(2, 3, 2), (3, 4, 3)]
    assert len(sweep.load_workload()) == 24
    assert len(sweep.points(sweep.parse_grid([]))) == 12
    with pytest.raises(ValueError, match="NAME=V1"):
        sweep.parse_grid(["Q=1"])
    with pytest.raises(ValueError, match="H must"):
        sweep.points(sweep.parse_grid(["H=0"]))
    grid = sweep.parse_grid(["L=2", "H=2", "P=1", "beat_format=fp16,fp8"])
    assert [p["beat_format"] for p in sweep.points(grid)] == ["fp16", "fp8"]
    grid = sweep.parse_grid(["L=2", "H=2", "P=1", "fast_fma=auto,true,false"])
    assert [p["fast_fma"] for p in sweep.points(grid)] == [None, True, False]
    with pytest.raises(ValueError, match="fast_fma takes true or false or auto"):
        sweep.parse_grid(["fast_fma=maybe"])
    with pytest.raises(ValueError, match="beat_format must be one of"):
        sweep.points(sweep.parse_grid(["beat_format=fp32"]))


def test_pareto_front():
    pts = [{"kge": 10, "gflops": 1}, {"kge": 20, "gflops": 3}, {"kge": 25, "gflops": 2},
           {"kge": 30, "gflops": 4}, {"kge": 10, "gflops": 0.5}]
    assert sweep.pareto_front(pts) == [0, 1, 3]


def test_local_sweep_outputs(local_run):
    out, stdout = local_run
    data = json.loads((out / "sweep.json").read_text())
    pts = data["points"]
    assert [p["params"]["L"] for p in pts] == [1, 2]
    for p in pts:
        assert p["bit_exact"] and p["cycles"] > 0 and p["kge"] > 0 and p["period_fo4"] > 0
        assert 0 < p["utilization"] <= 1
        assert p["gflops"] == pytest.approx(p["flops"] / (p["cycles"] * p["period_ns"]))
        assert p["gflops_per_kge"] == pytest.approx(p["gflops"] / p["kge"])
        assert p["flops"] == 2 * (2 * 3 * 2 + 3 * 4 * 3)
    assert pts[1]["kge"] > pts[0]["kge"]              # two rows of CEs cost more than one
    assert data["pareto_front"]
    table = (out / "sweep.md").read_text().splitlines()
    assert sum(1 for ln in table if ln.startswith("| 1x2x0") or ln.startswith("| 2x2x0")) == 2
    png = (out / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (900, 560)
    assert "[2/2]" in stdout and "2 syntheses, 2 workload runs" in stdout
    assert len(list((out / "cache").glob("synth-*.json"))) == 2
    assert len(list((out / "cache").glob("cycles-*.json"))) == 2


def test_rerun_uses_the_cache(local_run, workload):
    out, _ = local_run
    lines = []
    res = sweep.run_sweep(sweep.points(sweep.parse_grid(GRID)), sweep.load_workload(workload), out,
                          log=lines.append)
    assert all(r["cached"] for r in res) and "2 cached, 0 to run" in lines[0]


def test_dask_local_cluster(local_run, tmp_path):
    """A new workload on a LocalCluster: the syntheses come from the local run's cache, each point's
    workload runs as a task on the cluster."""
    import distributed  # the sweep extra, which the test extra includes
    out, _ = local_run
    pts = sweep.points(sweep.parse_grid(GRID))
    wl = [(3, 2, 5)]
    (tmp_path / "cache").mkdir()
    for f in (out / "cache").glob("synth-*.json"):
        shutil.copy(f, tmp_path / "cache" / f.name)
    lines = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = sweep.run_sweep(pts, wl, tmp_path, scheduler=cluster.scheduler_address, log=lines.append)
    assert "0 cached, 2 to run (0 syntheses, 2 workload runs; Dask scheduler" in lines[0]
    assert len(list((tmp_path / "cache").glob("cycles-*.json"))) == 2
    local = json.loads((out / "sweep.json").read_text())["points"]
    for mine, theirs in zip(res, local):
        assert not mine["cached"] and mine["bit_exact"]
        for key in ("kge", "period_fo4", "ffs", "cells"):
            assert mine[key] == theirs[key]
        assert mine["cycles"] == sweep.run_workload(mine["params"], wl)["cycles"]
        assert mine["flops"] == 2 * 3 * 2 * 5


def test_a_new_fo4_delay_reruns_nothing(local_run, workload):
    out, _ = local_run
    lines = []
    pts = sweep.points(sweep.parse_grid(GRID))
    res = sweep.run_sweep(pts, sweep.load_workload(workload), out, fo4_ps=50.0, log=lines.append)
    assert "2 cached, 0 to run" in lines[0]
    local = json.loads((out / "sweep.json").read_text())["points"]
    for mine, theirs in zip(res, local):
        assert mine["period_ns"] == pytest.approx(theirs["period_ns"] * 50.0 / sweep.DEFAULT_FO4_PS)


def test_energy_columns_arithmetic():
    """The sweep's energy columns from an energy part: 100 pJ per cycle and 2 mW leakage over a
    1000-cycle job of 64000 FLOP at 500 MHz: 52 mW, (100000 + 2 mW * 2 us) pJ / 64000 FLOP."""
    from redmule_hdl import sweep
    e = sweep.energy_columns({"dynamic_pj_per_cycle": 100.0, "leakage_mw": 2.0, "job_cycles": 1000,
                              "job_flop": 64000}, 500.0)
    assert e["mw"] == pytest.approx(52.0)
    assert e["pj_per_flop"] == pytest.approx((100_000 + 4_000) / 64000)
    assert e["gflops_per_w"] == pytest.approx(64000 / 104_000 * 1e3)
    pts = [{"kge": 10, "gflops": 1.0, "energy": {"pj_per_flop": 5.0}},
           {"kge": 20, "gflops": 2.0, "energy": {"pj_per_flop": 4.0}},
           {"kge": 20, "gflops": 1.0, "energy": {"pj_per_flop": 6.0}}]
    assert sweep.energy_pareto_front(pts) == [0, 1]


def test_fpga_columns_and_table():
    """The ECP5 columns from an fpga part: 41,820 of 83,640 LUT4s is 50 %; 2*1000 MACs in 100 cycles
    at 50 MHz is 1 GFLOPS; a point that does not fit has no Fmax and is not on the FPGA front. (The
    flow itself is tested in tests/test_fpga.py; a whole top takes minutes.)"""
    cycles = {"cycles": 100, "macs": 1000, "shapes": 1, "bit_exact": True, "seconds": 0}
    synth = {"kge": 10.0, "cells": 1, "ffs": 1, "area": 1.0, "area_unit": "GE", "period_fo4": 50.0,
             "period_ns": None, "critical_path": {}, "library": "lib", "seconds": 0}

    def part(luts, fits, fmax):
        return {"device": "85k", "fits": fits, "used": {"LUT4": luts},
                "available": {"LUT4": 83640}, "fmax_mhz": fmax, "seconds": 0}
    f = sweep.fpga_columns(part(41820, True, 50.0), cycles)
    assert (f["fits"], f["lut_pct"], f["fmax_mhz"]) == (True, pytest.approx(50.0), 50.0)
    assert f["gflops"] == pytest.approx(1.0)
    assert sweep.fpga_columns(part(90000, False, None), cycles)["gflops"] is None
    params = [{"L": 1, "H": 2, "P": 0}, {"L": 2, "H": 2, "P": 0}, {"L": 4, "H": 2, "P": 0}]
    parts = [part(20000, True, 60.0), part(30000, True, 50.0), part(90000, False, None)]
    results = [sweep.combine(p, synth, cycles, fpga=fp) for p, fp in zip(params, parts)]
    assert sweep.fpga_pareto_front(results) == [0]     # fewer LUTs and faster than point 1
    table = sweep.markdown(results, [(10, 10, 10)], fo4_ps=100.0, library="lib")
    assert "| ECP5 fits | LUT % | ECP5 Fmax (MHz) | ECP5 GFLOPS | FPGA Pareto |" in table
    rows = [line for line in table.splitlines() if line.startswith("| 1x2x0") or line.startswith("| 4x2x0")]
    assert rows[0].endswith(" yes | 23.9 | 60.0 | 1.20 | * |")
    assert rows[1].endswith(" no | 107.6 | - | - |  |")
    grid = sweep.parse_grid(["L=2", "H=2", "P=1", "memories=flops,ram"])
    assert [p["memories"] for p in sweep.points(grid)] == ["flops", "ram"]
