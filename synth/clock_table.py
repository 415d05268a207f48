"""The clock per P (issue 21): ``python -m redmule_hdl.synth.clock_table [options]``.

For every P and both FMA datapaths (``Config.fast_fma`` off and on) it measures the computing element
alone (``redmule-hdl synth --block ce``: FO4 and kGE with the project's library; ns on osu018 with the
project's timer and with OpenSTA on the same netlist; Fmax of one CE on an ECP5, built as an FPGA
build (``Config.fpga_arith``; the median over ``--seeds`` nextpnr seeds)), the
whole top with ``--top`` (FO4, kGE, the block that sets its clock), and from the schedule
(``spec.schedule``, exact for a compute-bound job with 1-cycle memory, as ``redmule-hdl bench`` checks)
the cycles of a 96x96x96 FP16 GEMM and the GFLOPS at the clock of the top (or of the CE where the top
was not run). Results accumulate in a JSON file (``--json``, one record per run, reused on the next
call) and are written as a Markdown table (``--output``).
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from redmule_hdl.config import Config

from . import blocks
from .flow import synthesize
from .opensta import sta_available

OSU018 = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")
GEMM = (96, 96, 96)


def opensta_period(workdir, top, liberty):
    """reg->reg arrival plus setup of the worst path, by OpenSTA on the mapped netlist in ``workdir``
    (``netlist.json``), in ns."""
    from .yosys import run_yosys
    run_yosys(["-q", "-p", "read_json netlist.json; read_liberty -lib cells.lib; "
                           "write_verilog -noattr -noexpr net.v"], cwd=workdir)
    (Path(workdir) / "sta.tcl").write_text(f"""read_liberty {liberty}
read_verilog net.v
link_design {top}
create_clock -name clk -period 100 [get_ports clk]
report_checks -path_delay max -from [all_registers -clock_pins] -to [all_registers -data_pins] -digits 4
exit
""")
    out = subprocess.run(["sta", "sta.tcl"], cwd=workdir, capture_output=True, text=True,
                         timeout=600).stdout
    lines = out.splitlines()
    arrival = float(next(ln.split()[0] for ln in lines if ln.strip().endswith("data arrival time")))
    setup = float(next(ln.split()[0] for ln in lines if "library setup time" in ln))
    return arrival - setup


def gemm_cycles(config):
    m, n, k = GEMM
    s = config.schedule(m, n, k)
    return max(s.compute_cycles, s.port_transfers()) + s.fixed_cycles()


def _key(kind, config):
    return f"{kind} P={config.P} fast={int(config.fast_datapath)} {config.L}x{config.H}"


def measure(kind, config, work, seeds=1):
    """One record: ``kind`` is "ce", "ce-osu018", "ce-ecp5" or "top". "ce-ecp5" implements the CE
    of the FPGA build (``fpga_arith``) with nextpnr seeds 1..``seeds``: the median Fmax and its run's
    critical path, and every seed's Fmax."""
    t0 = time.monotonic()
    rec = {"kind": kind, "P": config.P, "fast_fma": config.fast_fma, "L": config.L, "H": config.H}
    if kind == "ce-ecp5":
        from .fpga import implement
        top, design, group = blocks.design(replace(config, fpga_arith=True), "ce")
        reps = [implement(design, top, group, workdir=work / f"seed{seed}", cache=work.parent / "fpga-cache",
                          seed=seed) for seed in range(1, seeds + 1)]
        rep = sorted(reps, key=lambda r: r.fmax_mhz)[(seeds - 1) // 2]
        rec.update(fmax_mhz=rep.fmax_mhz, seed_fmax_mhz=[r.fmax_mhz for r in reps], fpga_arith=True,
                   lut4=rep.used.get("LUT4"), mult18=rep.used.get("MULT18X18D"), critical=rep.critical_path)
    else:
        block = "top" if kind == "top" else "ce"
        liberty = OSU018 if kind == "ce-osu018" else None
        top, design, group = blocks.design(config, block)
        rep = synthesize(None, top, liberty=liberty, group=group, workdir=work, design=design)
        crit = rep.timing.critical
        rec.update(fo4=round(rep.fo4s(crit.delay), 1), kge=round(rep.kge(rep.area.area), 2),
                   start=crit.start, end=crit.end)
        if liberty is not None:
            rec["ns"] = round(crit.delay, 3)
            if sta_available():
                rec["opensta_ns"] = round(opensta_period(work, top, liberty), 3)
        if kind == "top":
            (work / "synth.txt").write_text(rep.format() + "\n")     # as ``redmule-hdl synth`` writes it
            rec["blocks"] = {b: round(rep.fo4s(p["reg->reg"].delay), 1)
                             for b, p in rep.block_paths.items()}
            rec["block_kge"] = {b: round(rep.kge(a.area), 2) for b, a in rep.blocks.items()}
    rec["seconds"] = round(time.monotonic() - t0)
    return rec


#: The datapath column's names for ``fast_fma`` False and True.
_DATAPATH = {False: "small", True: "fast"}


def table(records):
    """Markdown table from the records (one row per P and datapath)."""
    by = {_key(r["kind"], Config(L=r["L"], H=r["H"], P=r["P"], fast_fma=r["fast_fma"])): r
          for r in records}
    rows = ["| P | FMA datapath | CE FO4 | CE kGE | CE osu018 ns (ours / OpenSTA) "
            "| top FO4 | top kGE | top clock set by | 96^3 cycles | GFLOPS at the CE's osu018 clock "
            "| GFLOPS at the top's clock |",
            "|---:|:---|---:|---:|---:|---:|---:|:---|---:|---:|---:|"]
    for fast in (False, True):
        for P in range(Config.MAX_P + 1):
            c = Config(P=P, fast_fma=fast)
            ce, osu = by.get(_key("ce", c)), by.get(_key("ce-osu018", c))
            top = by.get(_key("top", c))
            if ce is None:
                continue
            cycles = gemm_cycles(c)
            osu_text = "" if osu is None else f"{osu['ns']:.2f} / {osu.get('opensta_ns', float('nan')):.2f}"
            flop = 2 * GEMM[0] * GEMM[1] * GEMM[2]
            ce_gflops = "" if osu is None else f"{flop / (cycles * osu['ns']):.1f}"
            gflops = ""
            if top is not None and osu is not None:
                # the top's FO4 (project library) in osu018 ns: osu018's FO4 from the CE's run
                period_ns = top["fo4"] * osu["ns"] / osu["fo4"]
                gflops = f"{flop / (cycles * period_ns):.1f}"
            setter = ""
            if top is not None:
                setter = max(top["blocks"], key=top["blocks"].get)
            top_fo4 = "" if top is None else f"{top['fo4']:.1f}"
            top_kge = "" if top is None else f"{top['kge']:.1f}"
            rows.append(f"| {P} | {_DATAPATH[fast]} | {ce['fo4']:.1f} | {ce['kge']:.2f} "
                        f"| {osu_text} | {top_fo4} | {top_kge} | {setter} | {cycles} | {ce_gflops} "
                        f"| {gflops} |")
    return "\n".join(rows)


def ecp5_table(records):
    """Markdown table of the "ce-ecp5" records: one CE of the FPGA build per P and datapath, the
    median Fmax over the seeds, its period against the same datapath's P = 3, every seed's Fmax, the
    LUT4s and multipliers and the median run's critical path."""
    by = {(r["fast_fma"], r["P"]): r for r in records if r["kind"] == "ce-ecp5"}
    rows = ["| P | FMA datapath | CE ECP5 MHz (median) | ns | x P = 3 | MHz per seed | LUT4 | MULT18X18D "
            "| critical path (median run) |",
            "|---:|:---|---:|---:|---:|:---|---:|---:|:---|"]
    for fast in (False, True):
        base = by.get((fast, 3))
        for P in range(Config.MAX_P + 1):
            r = by.get((fast, P))
            if r is None:
                continue
            ratio = "" if base is None else f"{base['fmax_mhz'] / r['fmax_mhz']:.2f}"
            seeds = " / ".join(f"{f:.1f}" for f in r["seed_fmax_mhz"])
            crit = r["critical"] or {}
            path = f"`{crit.get('start', '')}` -> `{crit.get('end', '')}`" if crit else ""
            rows.append(f"| {P} | {_DATAPATH[fast]} | {r['fmax_mhz']:.1f} | {1000 / r['fmax_mhz']:.2f} "
                        f"| {ratio} | {seeds} | {r['lut4']} | {r['mult18']} | {path} |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m redmule_hdl.synth.clock_table", description=__doc__)
    ap.add_argument("--P", default="0-8", help="P values, e.g. 0-8 or 3,4,6")
    ap.add_argument("--datapath", choices=("small", "fast", "both"), default="both",
                    help="FMA datapath: small (fast_fma=False), fast or both (default)")
    ap.add_argument("--kinds", default="ce,ce-osu018", help="ce, ce-osu018, ce-ecp5, top")
    ap.add_argument("--seeds", type=int, default=3, help="nextpnr seeds per ECP5 run (median; default 3)")
    ap.add_argument("--work", default="redmule-clock", help="work directory (Yosys files, JSON)")
    ap.add_argument("--output", help="write the Markdown table here")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds must be at least 1, not {args.seeds}")
    if "-" in args.P:
        lo, hi = map(int, args.P.split("-"))
        Ps = range(lo, hi + 1)
    else:
        Ps = [int(p) for p in args.P.split(",")]
    fasts = {"small": (False,), "fast": (True,), "both": (False, True)}[args.datapath]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = work / "records.json"
    records = json.loads(store.read_text()) if store.is_file() else []
    done = {_key(r["kind"], Config(L=r["L"], H=r["H"], P=r["P"], fast_fma=r["fast_fma"])) for r in records}
    for kind in args.kinds.split(","):
        if kind.startswith("ce-osu018") and not OSU018.is_file():
            continue
        for fast in fasts:
            for P in Ps:
                c = Config(P=P, fast_fma=fast)
                key = _key(kind, c)
                if key in done:
                    continue
                sub = work / key.replace(" ", "_").replace("=", "")
                if sub.exists():
                    shutil.rmtree(sub)
                rec = measure(kind, c, sub, seeds=args.seeds)
                print(json.dumps(rec), flush=True)
                records = [r for r in records if _key(r["kind"], Config(L=r["L"], H=r["H"], P=r["P"],
                                                                          fast_fma=r["fast_fma"])) != key]
                records.append(rec)
                store.write_text(json.dumps(records, indent=1) + "\n")
    parts = []
    if any(r["kind"] == "ce" for r in records):
        parts.append(table(records))
    if any(r["kind"] == "ce-ecp5" for r in records):
        parts.append(ecp5_table(records))
    text = "\n\n".join(parts)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
