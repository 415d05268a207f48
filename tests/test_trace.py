"""Trace files (``sim.trace``): the Verilator back end's VCD against the Amaranth back end's and the run.

One 2x2x1 job is traced on both back ends (one Verilator build with VCD tracing, cached): every
shared signal has the same value after every clock edge in both files, ``evt`` is high in exactly
the cycle ``run_job`` reports, and a window keeps exactly its cycles.
"""
import numpy as np
import pytest

from redmule_hdl.config import Config
from redmule_hdl.sim.run import run_job
from redmule_hdl.sim.trace import PERIOD_PS, read_vcd, sample_edges

from .helpers import random_matrix

SMALL = Config(L=2, H=2, P=1)
# Top-level ports and registers inside blocks that both back ends keep under the same name.
SIGNALS = ("evt", "busy", "tcdm__req", "tcdm__add", "tcdm__wen", "tcdm__data", "periph__gnt",
           "periph__r_valid", "periph__r_data", "engine.array.ce_0_0.a", "engine.array.ce_1_1.a")


def _operands(seed=5):
    rng = np.random.default_rng(seed)
    return random_matrix(rng, (2, 3), "fp16", 0.0), random_matrix(rng, (3, 4), "fp16", 0.0)


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("trace")
    x, w = _operands()
    out = {}
    for backend in ("amaranth", "verilator"):
        res = run_job(SMALL, "matmul", x, w, backend=backend, trace=d / f"{backend}.vcd")
        out[backend] = (res, read_vcd(d / f"{backend}.vcd", SIGNALS))
    return d, out


def test_both_back_ends_trace_the_same_values_cycle_by_cycle(traces):
    _, out = traces
    (ra, a), (rv, v) = out["amaranth"], out["verilator"]
    assert ra.sim_cycles == rv.sim_cycles
    cycles = range(rv.sim_cycles)
    for name in SIGNALS:
        assert sample_edges(v[name], cycles) == sample_edges(a[name], cycles), name
    # The values move: the check compares activity, not two constant lines.
    assert len({x for x in sample_edges(v["engine.array.ce_0_0.a"], cycles)}) > 2
    assert sum(sample_edges(v["tcdm__req"], cycles)) >= 4


def test_evt_is_high_in_the_cycle_the_run_reports(traces):
    _, out = traces
    for backend, (res, sig) in out.items():
        # The value after edge c - 1 is the value during cycle c.
        high = [c + 1 for c, value in enumerate(sample_edges(sig["evt"], range(res.sim_cycles))) if value]
        assert high == [res.runs[0].evt_cycle], backend


@pytest.mark.parametrize("backend", ["verilator", "amaranth"])
def test_window_keeps_its_cycles(traces, backend):
    d, out = traces
    res, full = out[backend]
    x, w = _operands()
    start, stop = 10, 20
    run_job(SMALL, "matmul", x, w, backend=backend, trace=d / f"w-{backend}.vcd", trace_window=(start, stop))
    part = read_vcd(d / f"w-{backend}.vcd", SIGNALS)
    for name in SIGNALS:
        times = [t for t, _ in part[name]]
        assert times and min(times) == start * PERIOD_PS and max(times) < stop * PERIOD_PS, name
        window = range(start, stop)
        assert sample_edges(part[name], window) == sample_edges(full[name], window), name


@pytest.mark.parametrize("backend", ["verilator", "amaranth"])
def test_missing_folder_is_a_clear_error(tmp_path, backend):
    x, w = _operands()
    with pytest.raises(ValueError, match=r"^trace: the folder .*no-such-folder.* does not exist"):
        run_job(SMALL, "matmul", x, w, backend=backend, trace=tmp_path / "no-such-folder" / "t.vcd")


def test_cli_trace_into_a_missing_folder_is_one_line(tmp_path, capsys):
    from redmule_hdl.cli import main
    code = main(["example", "shortest-paths", "-L", "2", "-H", "2", "-P", "1",
                 "--trace", str(tmp_path / "nowhere" / "t.fst")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--trace: the folder" in err, err
    code = main(["example", "shortest-paths", "--trace", str(tmp_path / "t.vcd"), "--trace-window", "9"])
    err = capsys.readouterr().err
    assert code == 2 and "--trace-window" in err, err


def test_saif_counts_the_transitions_the_vcd_shows(traces):
    """The SAIF activity (what ``redmule-hdl power`` reads) agrees bit by bit with the VCD waveform of
    the same job: toggles and time at 1 over a window."""
    from redmule_hdl.sim.trace import read_saif
    d, out = traces
    _, full = out["verilator"]
    x, w = _operands()
    start, stop = 8, 30
    run_job(SMALL, "matmul", x, w, backend="verilator", trace=d / "job.saif", trace_window=(start, stop))
    duration, act = read_saif(d / "job.saif")
    compared = 0
    for name in ("tcdm__add", "tcdm__req", "engine.array.ce_0_0.a", "busy"):
        width = max(v.bit_length() for _, v in full[name] if v is not None) or 1
        # the value in each half cycle of the window, as the trace's dump times hold it
        times = [t for c in range(start, stop) for t in (c * PERIOD_PS, c * PERIOD_PS + PERIOD_PS // 2)]
        seq, i, value = [], 0, None
        for t in times:
            while i < len(full[name]) and full[name][i][0] <= t:
                value = full[name][i][1]
                i += 1
            seq.append(value)
        for bit in range(width):
            key = name if name in act else f"{name}[{bit}]"
            bits = [(v >> bit) & 1 for v in seq]
            # Verilator's SAIF starts every bit at 0 before its first dump: a bit that is 1 when the
            # window opens counts one transition there.
            toggles = bits[0] + sum(a != b for a, b in zip(bits, bits[1:]))
            high = sum(bits) * PERIOD_PS // 2
            assert act[key][0] == toggles, (key, act[key], toggles)
            assert act[key][1] == pytest.approx(high, abs=PERIOD_PS // 2), (key, act[key], high)
            compared += toggles
    assert compared > 10


@pytest.mark.parametrize("backend", ["amaranth", "verilator"])
def test_session_trace_covers_its_window(tmp_path, backend):
    """A live session (what ``Runtime`` runs on) writes its trace when closed, window included."""
    from redmule_hdl.sim.session import Session
    path = tmp_path / "session.vcd"
    with Session(SMALL, 4096, backend=backend, trace=path, trace_window=(4, 40)) as s:
        async def wait(ctx, d):
            await d.idle(ctx, 50)
        s.live.call(wait)
    changes = read_vcd(path, ["clk", "busy"])
    times = [t for t, _ in changes["clk"]]
    assert min(times) == 4 * PERIOD_PS and max(times) < 40 * PERIOD_PS
    assert len(times) >= 2 * (40 - 4) - 1
