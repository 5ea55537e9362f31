"""`python -m minidni multinet`: two networks on two clocks, joined by a decoupled interface.

    python -m minidni multinet --method dni -K 4 --json run.json
    python -m minidni multinet --compare --out runs/multinet        # every method x seeds 0 1 2: table, figure
    python -m minidni multinet --compare --quick --out /tmp/m

A reads a digit a step and names it; B ticks every K steps on A's message and counts the
odd digits of the last span x K steps. One --method and one --seed train one system.
"""
import os

from ..errors import UserError
from ..experiments.multinet import MultinetCompareConfig, describe, multinet_table, run_multinet, run_multinet_compare
from .common import (add_command, add_config_options, add_output_options, add_runtime_options, check_writable,
                     config_from_args, runtime, write_json)


def register(subparsers):
    """Add `multinet` to the subcommands: MultinetCompareConfig's options, --compare, --out, --json, runtime."""
    p = add_command(subparsers, "multinet", "two networks at two timescales: locked, truncated or DNI", __doc__)
    add_config_options(p, MultinetCompareConfig)
    add_output_options(p, "runs/multinet", compare="every --method for every --seed: table and figure")
    add_runtime_options(p)
    p.set_defaults(func=main)


def record_line(r):
    return (f"segment {r['segment']:6d}  validation error A {r['valid_error_a']:.2f}%  B {r['valid_error_b']:.2f}%  "
            f"({r['seconds']:.1f}s)")


def main(args):
    """One run (print its summary, --json writes it), or with --compare every method x seed: OUT/multinet.json,
    multinet.md and multinet_curves.png. Returns 0."""
    grid = config_from_args(MultinetCompareConfig, args).check()
    if args.compare and args.json:
        raise UserError("--json writes one run; with --compare the results go to --out")
    if args.compare:
        # lazy: matplotlib takes ~0.5 s to import; `minidni --help` needs none
        from ..plots.multinet import plot_multinet_curves
        os.makedirs(args.out, exist_ok=True)
        with runtime(args):
            results = run_multinet_compare(grid, None if args.quiet else lambda r: print(describe(r), flush=True))
        write_json(os.path.join(args.out, "multinet.json"), results)
        table = multinet_table(results)
        with open(os.path.join(args.out, "multinet.md"), "w") as f:
            f.write(table)
        figure = plot_multinet_curves(results, os.path.join(args.out, "multinet_curves.png"))
        print(table)
        print(f"wrote {args.out}/multinet.json, multinet.md, {figure}")
        return 0
    config = grid.single()
    if config is None:
        raise UserError("give one --method and one --seed (several only with --compare)")
    check_writable(args.json, "results")
    with runtime(args):
        result = run_multinet(config, None if args.quiet else lambda r: print(record_line(r), flush=True))
    print(describe(result))
    if args.json:
        write_json(args.json, result)
    return 0
