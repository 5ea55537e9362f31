"""`python -m minidni rnn TASK`: recurrent DNI (paper §3.1) on Copy, Repeat-Copy and character LM.

    python -m minidni rnn copy --method dni -T 4 --steps 3000
    python -m minidni rnn charlm --method bptt -T 40 --chars 3000000 --json run.json
    python -m minidni rnn copy --compare -T 2 3 4 5 8 --method bptt dni dni-aux --out runs/rnn
    python -m minidni rnn charlm --compare --runs bptt:8 bptt:20 bptt:40 dni:8 dni-aux:8

One --method, -T and --seed train one run; --compare runs the grid (the paper's by default)
and writes OUT/TASK.json, OUT/TASK.md and its figures. Each run of the grid is appended to
OUT/runs.jsonl as it finishes; the same command again (after Ctrl-C, say) takes from there the
runs it holds with the same options, backend and dtype, and trains only the others. Delete
the file to train every run again.
"""
import dataclasses
import os

from ..errors import UserError
from ..experiments.recurrent import RNNCompareConfig, RNNConfig, describe, run_rnn, run_rnn_compare, total_steps
from ..experiments.recurrent_report import results_table
from .common import (add_command, add_config_options, add_output_options, add_runtime_options, check_outputs,
                     config_from_args, keep_interrupted, progress_bar, run_grid, runtime, write_grid_outputs,
                     write_json)


def register(subparsers):
    """Add `rnn TASK` to the subcommands: RNNCompareConfig's options, --compare, --out, --json, runtime."""
    p = add_command(subparsers, "rnn", "recurrent DNI (paper 3.1): copy, repeat-copy, character LM", __doc__)
    p.add_argument("task", choices=RNNConfig.__dataclass_fields__["task"].metadata["choices"])
    add_config_options(p, RNNCompareConfig, exclude=("task",))
    add_output_options(p, "runs/rnn", compare="run the T x method grid (or --runs): table and figures")
    add_runtime_options(p)
    p.set_defaults(func=main)


def record_line(record):
    metric = (f"valid BPC {record['bpc']:.3f}" if "bpc" in record else
              f"N={record['n']} (solved {record['solved']}), error {record['bits']:.3f} bits")
    return f"step {record['step']:6d}  {metric}  ({record['seconds']:.1f}s)"


def main(args):
    """One run with a progress bar (print its summary, --json writes it), or with --compare the grid
    (_compare). Returns 0 (130 after Ctrl-C in one run, its history so far kept)."""
    grid = config_from_args(RNNCompareConfig, args).check()
    if args.compare and args.json:
        raise UserError("--json writes one run; with --compare the results go to --out")
    check_outputs(files=[("--json", args.json)], dirs=[("--out", args.out if args.compare else None)])
    if args.compare:
        return _compare(args, grid)
    config = grid.single()
    if config is None:
        raise UserError("give one --method, one -T and one --seed (several, or --runs, only with --compare)")
    resolved = config.resolved()
    bar, move_to = progress_bar(total_steps(resolved), f"{config.task} {config.method} T={config.T}", args.quiet)
    records = []

    def progress(record):
        move_to(record["step"])
        records.append(record)
        if not args.quiet and len(records) % 10 == 0:
            bar.write(record_line(record))
    try:
        with runtime(args):
            result = run_rnn(config, progress)
    except KeyboardInterrupt:
        result = {"interrupted": True, "step": records[-1]["step"] if records else 0,
                  "config": dataclasses.asdict(resolved), "history": records}
    finally:
        bar.close()
    if result.get("interrupted"):
        return keep_interrupted(args.json, result, f"step {result['step']} of {total_steps(resolved)}")
    print(describe(result))
    if args.json:
        write_json(args.json, result)
    return 0


def _compare(args, grid):
    # lazy: matplotlib takes ~0.5 s to import; `minidni --help` needs none
    from ..plots.recurrent import plot_curves
    results, status = run_grid(args, lambda log: run_rnn_compare(
        grid, None if args.quiet else lambda r: print(describe(r), flush=True), log))
    if status is not None:
        return status
    stem = os.path.join(args.out, grid.task)
    written = write_grid_outputs(stem, results, results_table(grid.task, results))
    print("wrote " + ", ".join(written + plot_curves(results, stem)))
    return 0
