"""`python -m minidni multinet`: two networks on two clocks, joined by a decoupled interface.

    python -m minidni multinet --method dni -K 4 --json run.json
    python -m minidni multinet --compare --out runs/multinet        # every method x seeds 0 1 2: table, figure
    python -m minidni multinet --compare --quick --out /tmp/m
    python -m minidni multinet --method oracle --digits mnist --diagnose-every 50   # the ceiling for DNI, on MNIST
    python -m minidni multinet --compare --method locked truncated dni oracle --digits mnist --diagnose-every 50

figures/multinet.md is made by `python -m minidni figures --only multinet` (M chosen on validation first).

A reads a digit a step (`--digits`: the 8x8 digits, mnist5k or MNIST) and names it; B ticks every K steps on A's message and counts the
odd digits of the last span x K steps. One --method and one --seed train one system.
With --compare each run is appended to OUT/runs.jsonl as it finishes; the same command again
(after Ctrl-C, say) takes from there the runs it holds with the same options, backend and
dtype, and trains only the others. Delete the file to train every run again.
"""
import dataclasses
import os

from ..errors import UserError
from ..experiments.multinet import MultinetCompareConfig, describe, multinet_table, run_multinet, run_multinet_compare
from .common import (add_command, add_config_options, add_output_options, add_runtime_options, check_outputs,
                     config_from_args, keep_interrupted, run_grid, runtime, write_grid_outputs, write_json)


def register(subparsers):
    """Add `multinet` to the subcommands: MultinetCompareConfig's options, --compare, --out, --json, runtime."""
    p = add_command(subparsers, "multinet", "two networks at two timescales: locked, truncated, DNI or the oracle", __doc__)
    add_config_options(p, MultinetCompareConfig)
    add_output_options(p, "runs/multinet", compare="every --method for every --seed: table and figure")
    add_runtime_options(p)
    p.set_defaults(func=main)


def record_line(r):
    return (f"segment {r['segment']:6d}  validation error A {r['valid_error_a']:.2f}%  B {r['valid_error_b']:.2f}%  "
            f"({r['seconds']:.1f}s)")


def main(args):
    """One run (print its summary, --json writes it), or with --compare every method x seed: OUT/multinet.json,
    multinet.md, multinet_curves.png and, with --diagnose-every, multinet_cosine.png. Returns 0 (130 after Ctrl-C in one run, its history so far kept)."""
    grid = config_from_args(MultinetCompareConfig, args).check()
    if args.compare and args.json:
        raise UserError("--json writes one run; with --compare the results go to --out")
    check_outputs(files=[("--json", args.json)], dirs=[("--out", args.out if args.compare else None)])
    if args.compare:
        return _compare(args, grid)
    config = grid.single()
    if config is None:
        raise UserError("give one --method and one --seed (several only with --compare)")
    history = []

    def progress(record):
        history.append(record)
        if not args.quiet:
            print(record_line(record), flush=True)
    try:
        with runtime(args):
            result = run_multinet(config, progress)
    except KeyboardInterrupt:
        segment = history[-1]["segment"] if history else 0
        return keep_interrupted(args.json, {"interrupted": True, "segment": segment,
                                            "config": dataclasses.asdict(config), "history": history},
                                f"segment {segment}")
    print(describe(result))
    if args.json:
        write_json(args.json, result)
    return 0


def _compare(args, grid):
    # lazy: matplotlib takes ~0.5 s to import; `minidni --help` needs none
    from ..plots.multinet import plot_multinet_cosine, plot_multinet_curves
    results, status = run_grid(args, lambda log: run_multinet_compare(
        grid, None if args.quiet else lambda r: print(describe(r), flush=True), log))
    if status is not None:
        return status
    written = write_grid_outputs(os.path.join(args.out, "multinet"), results, multinet_table(results))
    written.append(plot_multinet_curves(results, os.path.join(args.out, "multinet_curves.png")))
    if any("diagnostics" in r for r in results):
        written.append(plot_multinet_cosine(results, os.path.join(args.out, "multinet_cosine.png")))
    print("wrote " + ", ".join(written))
    return 0
