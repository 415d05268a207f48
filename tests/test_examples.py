"""Short versions of the examples (``redmule_hdl.examples``): every engine product checked bit for bit
against ``golden``, the shortest paths against scipy, and the command line."""
import numpy as np
import pytest

from redmule_hdl import Config
from redmule_hdl.cli import main

SMALL = Config(L=2, H=2, P=1)


def test_train_mlp_short(tmp_path):
    from redmule_hdl.examples import train_mlp
    results = train_mlp.run(SMALL, epochs=2, max_steps=2, batch=16, train_samples=64,
                            test_samples=40, verify=True, progress=False)
    assert [r.name for r in results] == ["float32", "fp16", "fp8"]
    ref, fp16, fp8 = results
    for r in results:
        assert r.steps == 4 and len(r.epochs) == 2
        assert 0.0 <= r.final_accuracy <= 1.0 and np.isfinite(r.epochs[-1].loss)
    # 5 products per step (2 forward, 1 backward, 2 weight gradients) and 2 per evaluation.
    for r in (fp16, fp8):
        assert r.products == 4 * 5 + 2 * 2
        assert r.checked == r.products          # every engine product equal to golden.gemm_op
        assert r.train.jobs >= 4 * 5 and r.train.cycles > 0 and r.evaluate.cycles > 0
        assert 0 < r.train.utilization <= 1
        assert r.train.transposed > 0           # the backward pass's transposes, done by the host
        assert r.us_per_step() == pytest.approx(r.cycles_per_step / train_mlp.CLOCK_MHZ)
    assert ref.train.cycles == 0 and ref.checked == 0
    # Same shapes in both formats: the same jobs and cycles (the engine is data-independent).
    assert fp16.train.cycles == fp8.train.cycles
    table = train_mlp.format_tables(results, SMALL)
    assert "| 2 |" in table and "fp8 test acc" in table and "24/24" in table
    png = tmp_path / "train.png"
    train_mlp.plot(results, png)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_shortest_paths_matches_scipy():
    from redmule_hdl.examples import shortest_paths
    r = shortest_paths.run(SMALL, nodes=64, seed=1, verify=True, progress=False)
    assert r.matches and r.checked == r.squarings
    assert 2 <= r.squarings <= 7 and r.stats.jobs >= r.squarings
    assert r.reachable > 0 and np.isinf(r.distances).any() == (r.reachable < 64 * 63)
    assert "| equal to scipy shortest_path | yes |" in shortest_paths.format_table(r, SMALL)


def test_random_graph_is_exact_in_fp16():
    from redmule_hdl.examples.shortest_paths import max_weight, random_graph
    g = random_graph(200, 3)
    finite = g[np.isfinite(g)]
    assert (finite == np.round(finite)).all() and finite.max() <= max_weight(200)
    assert (200 - 1) * max_weight(200) < 2048


def test_cli_shortest_paths(capsys):
    assert main(["example", "shortest-paths", "-L", "2", "-H", "2", "-P", "1", "--nodes", "64"]) == 0
    out = capsys.readouterr().out
    assert "RedMulE 2x2x1" in out and "| equal to scipy shortest_path | yes |" in out


@pytest.mark.parametrize("argv,message", [
    (["example"], "required"),
    (["example", "sort"], "invalid choice"),
    (["example", "train-mlp", "--epochs", "0"], "--epochs"),
    (["example", "shortest-paths", "--seed", "-1"], "--seed"),
    (["example", "train-mlp", "-H", "0"], "H must be"),
    (["example", "train-mlp", "--backend", "icarus"], "--backend"),
])
def test_cli_usage_errors(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
