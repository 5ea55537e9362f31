"""`python -m minidni compare`: a grid of depths x methods x seeds, as paper Table 1.

    python -m minidni compare --layers 3 4 5 6 --method backprop dni cdni --seed 0 1 2 --out runs/table1
    python -m minidni compare --model cnn --seed 0 1 2 --out runs/cnn
    python -m minidni compare --layers 4 --method dni cdni --update-prob 0.2 --epochs 60 --out runs/p02

Writes OUT/results.json (every run, as `train --json`), OUT/table.md and OUT/error_curves.png.

Each run is appended to OUT/runs.jsonl as it finishes. Run again with the same --out (after
Ctrl-C, say), a grid takes from there every run it holds with the same options, backend and
dtype, and trains only the others; runs of other grids there are left alone. Delete the file
to train every run again.
"""
import os

from ..experiments.feedforward import CompareConfig, error_table, run_compare
from .common import (add_command, add_config_options, add_output_options, add_runtime_options, check_outputs,
                     config_from_args, run_grid, write_json, write_text)


def register(subparsers):
    """Add `compare` to the subcommands: CompareConfig's options, --out and the runtime options."""
    p = add_command(subparsers, "compare", "grid of depths x methods x seeds: table and figure", __doc__)
    add_config_options(p, CompareConfig)
    add_output_options(p, "runs/compare")
    add_runtime_options(p)
    p.set_defaults(func=main)


def run_line(result):
    return (f"{result['model']} layers={result['layers'] or '-'} {result['method']:8} seed={result['seed']}: "
            f"test error {result['test_error']:.2f}%")


def main(args):
    """Train the grid; write OUT/results.json, table.md and error_curves.png; print the table. Returns 0."""
    # lazy: matplotlib takes ~0.5 s to import; `minidni --help` needs none
    from ..plots.training import plot_error_curves
    config = config_from_args(CompareConfig, args).check()
    check_outputs(dirs=[("--out", args.out)])
    results, status = run_grid(args, lambda log: run_compare(
        config, None if args.quiet else lambda r: print(run_line(r), flush=True), log=log))
    if status is not None:
        return status
    write_json(os.path.join(args.out, "results.json"), results)
    table = error_table(results)
    if "test_error_at_best_valid" in results[0]:          # a validation split: the epoch it chooses, too
        table += ("\nAt the epoch of lowest validation error, validation error (%):\n\n"
                  + error_table(results, "best_valid_error")
                  + "\nand the test error (%) of that epoch:\n\n" + error_table(results, "test_error_at_best_valid"))
    write_text(os.path.join(args.out, "table.md"),
               f"Final test error (%), mean ± std over seeds {config.seed}, {config.dataset}, {config.model}, "
               f"{config.epochs} epochs, update probability {config.update_prob}"
               f"{', complete unlock' if config.complete_unlock else ''}.\n\n" + table)
    plot_error_curves(results, os.path.join(args.out, "error_curves.png"))
    print(table)
    print(f"wrote {args.out}/results.json, table.md, error_curves.png")
    return 0
