"""Module prefix (issue 22, item 3): two configurations generated with different prefixes build into one
Verilator model, and a job runs on each (at the same time), with the cycles and the Z of ``run_job`` on
the same addresses and bit for bit the reference model's Z. Both are driven through their SystemVerilog
wrapper (``redmule_wrap.sv``, the original's port names), one generated with each reset style, so the
same model also simulates the wrapper in both styles (tests/test_reset_wrapper.py checks the rest)."""
import json
import re

import numpy as np
import pytest

from redmule_hdl.cli import main
from redmule_hdl.config import Config
from redmule_hdl.export import Options, check_prefix, module_names
from redmule_hdl.spec import golden
from redmule_hdl.spec.regmap import Reg

from . import sv_bench

#: prefix -> (configuration, reset style)
CONFIGS = {"a_": (Config(L=1, H=2, P=1), "sync"), "b_": (Config(L=2, H=3, P=1, contexts=1), "async_low")}

#: Port roles of the bench -> the wrapper's ports (pulp-platform/redmule's redmule_top names).
WRAPPER_PORTS = {
    "clk": "clk_i", "rst": "rst_ni",
    "tcdm_req": "tcdm_req_o", "tcdm_gnt": "tcdm_gnt_i", "tcdm_add": "tcdm_add_o", "tcdm_wen": "tcdm_wen_o",
    "tcdm_be": "tcdm_be_o", "tcdm_data": "tcdm_data_o", "tcdm_r_valid": "tcdm_r_valid_i",
    "tcdm_r_data": "tcdm_r_data_i",
    "periph_req": "periph_req_i", "periph_gnt": "periph_gnt_o", "periph_add": "periph_add_i",
    "periph_wen": "periph_wen_i", "periph_be": "periph_be_i", "periph_data": "periph_data_i",
    "periph_id": "periph_id_i", "periph_r_valid": "periph_r_valid_o", "periph_r_data": "periph_r_data_o",
    "periph_r_id": "periph_r_id_o", "evt": "evt_o", "busy": "busy_o",
}
SHAPE = (3, 5, 7)     # M, N, K


def _generate(tmp_path, prefix, config, reset="sync"):
    out = tmp_path / prefix
    assert main(["generate", "-L", str(config.L), "-H", str(config.H), "-P", str(config.P),
                 "--contexts", str(config.contexts), "--prefix", prefix, "--reset", reset,
                 "-o", str(out)]) == 0
    return out


def _operands(seed):
    M, N, K = SHAPE
    rng = np.random.default_rng(seed)
    return (golden.from_float(rng.uniform(-2, 2, (M, N))), golden.from_float(rng.uniform(-2, 2, (N, K))),
            golden.from_float(rng.uniform(-2, 2, (M, K))))


def _place(image, addr, matrix):
    rows, cols = matrix.shape
    for r in range(rows):
        start = addr + 2 * cols * r
        image[start:start + 2 * cols] = np.frombuffer(matrix[r].astype("<u2").tobytes(), np.uint8)


def _read(image, addr, shape):
    rows, cols = shape
    return np.stack([image[addr + 2 * cols * r: addr + 2 * cols * (r + 1)].view("<u2")
                     for r in range(rows)]).astype(np.uint16)


def test_prefix_names_everything(tmp_path, capsys):
    out = _generate(tmp_path, "soc_x_", Config(L=1, H=2, P=1))
    capsys.readouterr()
    modules = re.findall(r"^module \\?([\w.$]+)", (out / "redmule.v").read_text(), re.M)
    assert modules and all(m.startswith("soc_x_redmule_") for m in modules), modules
    assert {"soc_x_redmule_top", "soc_x_redmule_ce"} <= set(modules)
    desc = json.loads((out / "redmule.json").read_text())
    assert desc["top"] == "soc_x_redmule_top" and desc["prefix"] == "soc_x_"
    assert desc["modules"] == {"top": "soc_x_redmule_top", "ce": "soc_x_redmule_ce"}
    header = (out / "redmule.h").read_text()
    assert "#define SOC_X_REDMULE_REGS_H" in header and re.search(r"^#define SOC_X_REDMULE_L\s+1\b",
                                                                   header, re.M)
    assert not re.search(r"^#define REDMULE_", header, re.M)
    core = (out / "redmule.core").read_text()
    assert "name: redmule-hdl:ip:soc_x_redmule:" in core and core.count("toplevel: soc_x_redmule_top\n") == 1
    assert core.count("toplevel: soc_x_redmule_wrap\n") == 1
    assert "prefix='soc_x_'" in core
    bender = (out / "Bender.yml").read_text()
    assert "  name: soc_x_redmule\n" in bender and "top module soc_x_redmule_top" in bender


def test_prefix_refused():
    assert module_names("") == ("redmule_top", "redmule_ce")
    assert Options("x9_").top == "x9_redmule_top"
    for bad in ("9a", "a-b", "a b", "a.b", "ä"):
        with pytest.raises(ValueError, match="prefix"):
            check_prefix(bad)
    with pytest.raises(TypeError, match="prefix"):
        Options(prefix=None)


def test_two_configurations_in_one_model(tmp_path, capsys):
    from redmule_hdl.sim.run import run_job
    instances, lens, sources, expected = [], [], [], []
    for i, (prefix, (config, reset)) in enumerate(CONFIGS.items()):
        out = _generate(tmp_path, prefix, config, reset)
        sources += [out / "redmule.vlt", out / "redmule.v", out / "redmule_wrap.sv"]
        x, w, y = _operands(seed=i)
        ref = run_job(config, "gemm", x, w, y, seed=i)      # Amaranth back end: addresses and cycles
        regs = ref.regs[0]
        z_addr = regs[Reg.Z_ADDR]
        size = (z_addr + 2 * y.size + config.port_width // 8 + 64 + 3) & ~3
        image = np.zeros(size, np.uint8)
        _place(image, regs[Reg.X_ADDR], x)
        _place(image, regs[Reg.W_ADDR], w)
        _place(image, z_addr, y)
        lens.append(sv_bench.job_files(tmp_path, i, regs, image))
        instances.append(sv_bench.Instance(f"{prefix} {config} {reset}", f"{prefix}redmule_wrap",
                                           config.port_width, size // 4, ports=WRAPPER_PORTS,
                                           reset_low=True, evt_width=16, tie={"test_mode_i": "1'b0"}))
        expected.append((ref, golden.gemm_op("gemm", x, w, y), z_addr))
    capsys.readouterr()
    results = sv_bench.build_and_run(tmp_path, instances, lens, sources)
    for i, (ref, z_golden, z_addr) in enumerate(expected):
        cycles, error, image = results[i]
        assert error == 0, instances[i].label
        assert cycles == ref.cycles, (instances[i].label, cycles, ref.cycles)
        z = _read(image, z_addr, z_golden.shape)
        np.testing.assert_array_equal(z, ref.z)
        np.testing.assert_array_equal(z, z_golden)
