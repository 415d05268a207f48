"""``redmule-hdl bench`` reports (issue 22, item 6): bench.png keeps every text inside the picture and
apart from the others whatever the number of shapes, and the queued-jobs sections run the shapes of
``--shapes``. (No simulation here: the figures are made up, the runners replaced.)"""
import itertools

import pytest

from redmule_hdl.config import Config
from redmule_hdl.sim import bench
from redmule_hdl.sim.bench import ShapeResult, chart, load_original


def _results(n):
    return [ShapeResult(M, N, K, cycles=orig + 7, original=orig, C=orig - 20, B=orig - 30, bit_exact=True,
                        utilization=0.61, original_utilization=0.6)
            for M, N, K, orig in load_original()[:n]]


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("n", [1, 3, 24])
def test_chart_layout(tmp_path, n):
    canvas = chart(tmp_path / "bench.png", Config(), _results(n))
    texts = canvas.texts
    assert any(t[4] == "CE UTILIZATION (%)" for t in texts)
    for x0, y0, x1, y1, text in texts:
        assert 0 <= x0 and x1 <= canvas.width and 0 <= y0 and y1 <= canvas.height, (text, canvas.width)
    for a, b in itertools.combinations(texts, 2):
        assert not _overlap(a, b), (a, b)
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_queued_jobs_run_the_given_shapes(tmp_path, monkeypatch, capsys):
    queued = []

    def fake_bench(config, *, shapes, **kwargs):
        return _results(0) + [ShapeResult(M, N, K, orig, orig, 1, 1, True, 0.5, 0.5)
                              for M, N, K, orig in shapes], {}, None

    def fake_queue(config, *, shapes, in_fmt="fp16", **kwargs):
        queued.append((config, in_fmt, list(shapes)))
        return []

    monkeypatch.setattr(bench, "run_bench", fake_bench)
    monkeypatch.setattr(bench, "run_queue_bench", fake_queue)
    monkeypatch.setattr(bench, "run_fp8_instance", lambda **kwargs: [])
    assert bench.main(["--shapes", "12x16x16,24x16x16", "-o", str(tmp_path), "-L", "2", "-H", "2",
                       "-P", "1"]) == 0
    assert queued == [(Config(L=2, H=2, P=1), "fp16", [(12, 16, 16), (24, 16, 16)]),
                      (bench.FP8_INSTANCE, "e4m3", [(12, 16, 16), (24, 16, 16)])]
    queued.clear()
    assert bench.main(["-o", str(tmp_path), "--no-fp8-instance"]) == 0
    assert queued == [(Config(), "fp16", list(bench.QUEUE_SHAPES))]
