"""`python -m minidni figures`: regenerate the figures in figures/ from real runs.

    python -m minidni figures --jobs 2                 # every group (about 5 hours on 2 CPU cores, 4 of them the rnn group)
    python -m minidni figures --only locking sg        # some groups
    python -m minidni figures --only diagrams          # the paper's schematics, drawn in seconds
    python -m minidni figures --quick --out /tmp/f     # tiny budgets: checks the pipeline in a minute
    python -m minidni figures --only rnn --rnn-json runs/rnn/copy.json runs/rnn/repeat-copy.json runs/rnn/charlm.json

figures/README.md gives each figure's caption, settings and numbers. The groups that train grids
(results, mnist5k, mnist, mnist_gap, rnn, multinet) keep each run in OUT/<group>_runs.jsonl as it
finishes: after Ctrl-C the same command takes those runs from there and trains only the rest.
The file goes once its group is done (multinet's stays: it is the committed record its figures
are drawn from); delete it to train an interrupted group afresh.
"""
import glob
import os

from ..errors import UserError
from ..plots import DEFAULT_GROUPS, GROUPS
from .common import add_command, add_runtime_options, check_outputs, interrupted, runtime


def register(subparsers):
    """Add `figures` to the subcommands: --quick, --out, --only, --rnn-json, --jobs and the runtime options."""
    p = add_command(subparsers, "figures", "regenerate every figure in figures/", __doc__)
    p.add_argument("--quick", action="store_true", help="tiny budgets: checks the pipeline, not the paper's numbers")
    p.add_argument("--out", default="figures", help="output directory")
    p.add_argument("--only", nargs="+", choices=GROUPS, metavar="GROUP",
                   help=f"only these groups: {', '.join(GROUPS)} (default: all but mnist and mnist_gap, hours "
                        "on the full MNIST; "
                        "the full rnn group takes about 4 hours here, see --rnn-json)")
    p.add_argument("--rnn-json", nargs="+", metavar="PATH",
                   help="draw the rnn group from these `rnn TASK --compare` results instead of running it")
    p.add_argument("--jobs", type=int, default=1,
                   help="Table 1 groups (results, mnist5k): runs trained at once, each in a process of one BLAS "
                        "thread (the numbers do not change)")
    add_runtime_options(p, quiet=False)
    p.set_defaults(func=main)


def main(args):
    """Draw the --only groups (default all; the rnn group from --rnn-json if given) into --out and print
    every path written. Returns 0."""
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    # lazy: matplotlib takes ~0.5 s to import; `minidni --help` needs none
    from ..plots.figures import make_figures, rnn_figures_from_json
    check_outputs(dirs=[("--out", args.out)])
    paths = []
    only = list(args.only or (["rnn"] if args.rnn_json else DEFAULT_GROUPS))
    try:
        with runtime(args):
            if args.rnn_json:
                paths += rnn_figures_from_json(args.rnn_json, args.out)
                only = [g for g in only if g != "rnn"]
            if only:
                paths += make_figures(args.out, quick=args.quick, only=only, jobs=args.jobs)
    except KeyboardInterrupt:
        return interrupted(sorted(glob.glob(os.path.join(args.out, "*_runs.jsonl"))))
    for path in paths:
        print(path)
    return 0
