"""``redmule-hdl example NAME``: run an example and print its tables (``redmule_hdl.cli`` calls
``main`` after parsing)."""
from pathlib import Path

from redmule_hdl.config_args import config_summary

__all__ = ["main"]


def main(args, config):
    """Run example ``args.example`` on ``config``; writes its table (and plot) into ``args.output``
    when given. Returns the exit status."""
    print(f"RedMulE {config} ({config_summary(config)}), {args.backend} back end")
    out = Path(args.output) if args.output is not None else None
    if args.example == "train-mlp":
        from . import train_mlp
        results = train_mlp.run(config, backend=args.backend, epochs=args.epochs, seed=args.seed,
                                runtime_options=args.trace_options)
        table = train_mlp.format_tables(results, config)
        print(f"MLP 64-64-10 on the digits, {args.epochs} epochs, batch {train_mlp.BATCH}, SGD lr "
              f"{train_mlp.LR}, seed "
              f"{args.seed}; time per step at {train_mlp.CLOCK_MHZ} MHz\n")
        print(table)
        if out is not None:
            (out / "train-mlp.md").write_text(table + "\n")
            train_mlp.plot(results, out / "train-mlp.png")
            print(f"\nwrote {out / 'train-mlp.md'} and {out / 'train-mlp.png'}")
        fp16 = next(r for r in results if r.name == "fp16")
        ref = next(r for r in results if r.name == "float32")
        return 0 if abs(fp16.final_accuracy - ref.final_accuracy) <= 0.01 else 1
    from . import shortest_paths
    r = shortest_paths.run(config, backend=args.backend, nodes=args.nodes, seed=args.seed,
                           runtime_options=args.trace_options)
    table = shortest_paths.format_table(r, config)
    print(f"all-pairs shortest paths, seed {args.seed}\n")
    print(table)
    if out is not None:
        (out / "shortest-paths.md").write_text(table + "\n")
        print(f"\nwrote {out / 'shortest-paths.md'}")
    return 0 if r.matches else 1
