"""The generator parameters on a command line: the same flags, defaults and help for every entry point.

``redmule-hdl`` (generate, synth, bench), ``python -m redmule_hdl.sim.bench``,
``python -m redmule_hdl.sim.scale_check`` and ``python -m redmule_hdl.sim.bench_engine`` name a
configuration with ``-L``, ``-H``, ``-P``, ``--contexts``, ``--no-misaligned``, ``--write-responses``,
``--beat-format``, ``--fast-fma``, ``--memories`` and ``--fpga-arith``::

    parser = config_args.ArgumentParser(prog="...")
    config_args.add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_args.config_from_args(args, parser)

A value ``Config`` refuses (``-H 0``, ``-H 1 -P 0``) ends as a usage error: one line on stderr
(``prog: error: H must be in 1..32, not 0``) and exit status 2.

Only ``redmule_hdl.config`` is imported here, so a parser can be built without the hardware or the
simulators.
"""
import argparse
from pathlib import Path

from redmule_hdl.config import Config
from redmule_hdl.spec.pipeline import FAST_FROM_P

__all__ = ["ArgumentParser", "add_config_arguments", "config_from_args", "config_summary",
           "parse_shapes", "output_dir", "file_path"]


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr (``prog: error: message``,
    without the usage text) followed by exit status 2."""

    def error(self, message):
        lines = str(message).splitlines() or [""]
        self.exit(2, f"{self.prog}: error: {lines[0]}\n")


def add_config_arguments(parser):
    """Add ``-L``, ``-H``, ``-P``, ``--contexts``, ``--no-misaligned``, ``--write-responses``,
    ``--beat-format``, ``--fast-fma``/``--small-fma``, ``--memories`` and ``--fpga-arith`` (defaults
    from ``Config``) to ``parser`` in an argument group "generator parameters"; returns the group.

    The values land in ``args.L``, ``args.H``, ``args.P``, ``args.contexts``, ``args.misaligned``,
    ``args.write_responses``, ``args.beat_format``, ``args.fast_fma``, ``args.memories`` and
    ``args.fpga_arith``; ``config_from_args`` turns them into a ``Config``.
    """
    g = parser.add_argument_group("generator parameters")
    g.add_argument("-L", type=int, default=Config.L, metavar="L",
                   help=f"rows of the CE array, 1..{Config.MAX_L} (default {Config.L})")
    g.add_argument("-H", type=int, default=Config.H, metavar="H",
                   help=f"CEs per row, 1..{Config.MAX_H} (default {Config.H})")
    g.add_argument("-P", type=int, default=Config.P, metavar="P",
                   help=f"pipeline registers per FMA, 0..{Config.MAX_P} (default {Config.P}); "
                        "H*(P+1) must be at least 2")
    g.add_argument("--contexts", type=int, default=Config.contexts, metavar="N",
                   help=f"job contexts of the register file, 1..{Config.MAX_CONTEXTS} "
                        f"(default {Config.contexts})")
    g.add_argument("--no-misaligned", dest="misaligned", action="store_false",
                   default=Config.misaligned,
                   help="narrow TCDM port (16*D bits): every row must be word aligned "
                        "(default: 16*D+32 bits, element-aligned rows)")
    g.add_argument("--write-responses", action="store_true", default=Config.write_responses,
                   help="the memory answers writes with r_valid too (PULP TCDM, HCI): expect and drop "
                        "one response per write")
    g.add_argument("--beat-format", choices=tuple(Config.BEAT_FORMATS), default=Config.beat_format,
                   help="elements of one port transfer: D FP16 (16*D-bit port) or D FP8 (8*D-bit "
                        "port; FP16 beats take two transfers) (default fp16)")
    datapath = g.add_mutually_exclusive_group()
    datapath.add_argument("--fast-fma", dest="fast_fma", action="store_const", const=True,
                          default=Config.fast_fma,
                          help="the FMA datapath for a short clock at deep P (Kogge-Stone adds, "
                               "carry-save product; larger, same results and cycles) at every P "
                               f"(default: from P = {FAST_FROM_P} on)")
    datapath.add_argument("--small-fma", dest="fast_fma", action="store_const", const=False,
                          help=f"the small FMA datapath at every P (default: below P = {FAST_FROM_P}; "
                               f"from P = {FAST_FROM_P} on its registers buy no clock)")
    g.add_argument("--memories", choices=tuple(Config.MEMORIES), default=Config.memories,
                   help="what is built from memories that FPGA synthesis maps to RAM instead of "
                        "registers: nothing (flops, the ASIC build), the load FIFOs (fifos), the load "
                        "FIFOs and the X-buffer (ram); all behave identically (default flops)")
    g.add_argument("--fpga-arith", action="store_true", default=Config.fpga_arith,
                   help="arithmetic for an FPGA: the job guard's range products as multiplies "
                        "(ECP5: 6 MULT18X18D) and the control adds as carry chains, with the fast FMA "
                        "datapath also its product and adds (the default keeps carry-save rows, "
                        "carry-select blocks and prefix adders, the ASIC build); same results and "
                        "cycles")
    return g


def config_from_args(args, parser):
    """The ``Config`` of arguments parsed with ``add_config_arguments``.

    A ``ValueError`` or ``TypeError`` of ``Config`` becomes ``parser.error(message)``: with
    ``ArgumentParser``, one line on stderr and exit status 2.
    """
    try:
        return Config(L=args.L, H=args.H, P=args.P, contexts=args.contexts,
                      misaligned=args.misaligned, write_responses=args.write_responses,
                      beat_format=args.beat_format, fast_fma=args.fast_fma,
                      memories=args.memories, fpga_arith=args.fpga_arith)
    except (TypeError, ValueError) as e:
        parser.error((str(e).splitlines() or [type(e).__name__])[0])
        raise   # only reached with a parser whose error() returns


def config_summary(config):
    """One line naming every parameter of ``config``, as the entry points print it first."""
    return (f"L={config.L} H={config.H} P={config.P} (D={config.D}), contexts={config.contexts}, "
            f"misaligned={config.misaligned}, write_responses={config.write_responses}, "
            f"beat_format={config.beat_format}" + (", fast_fma" if config.fast_datapath else "")
            + ("" if config.memories == "flops" else f", memories={config.memories}")
            + (", fpga_arith" if config.fpga_arith else ""))


def parse_shapes(text):
    """argparse ``type`` for a comma-separated list of ``MxNxK`` shapes: a list of ``(M, N, K)``."""
    shapes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        try:
            M, N, K = (int(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"shape must look like MxNxK (e.g. 12x16x16), not {item.strip()!r}") from None
        if min(M, N, K) < 1:
            raise argparse.ArgumentTypeError(f"M, N and K must be >= 1, not {item.strip()!r}")
        shapes.append((M, N, K))
    return shapes


def output_dir(text):
    """argparse ``type`` of an output directory: a ``Path``; an empty string is refused (it would
    mean the current directory)."""
    if not text:
        raise argparse.ArgumentTypeError("must name a directory, not ''")
    return Path(text)


def file_path(text):
    """argparse ``type`` of an input file: a ``Path``; an empty string is refused."""
    if not text:
        raise argparse.ArgumentTypeError("must name a file, not ''")
    return Path(text)
