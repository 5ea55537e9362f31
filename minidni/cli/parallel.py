"""`mpiexec -n K python -m minidni parallel ...`: one stage of the network per MPI rank.

    mpiexec -n 2 python -m minidni parallel --method dni --layers 8 --epochs 5
    mpiexec -n 2 python -m minidni parallel --method locked --layers 8 --trace-out locked.json
    mpiexec -n 2 python -m minidni parallel --method dni --sync --steps 20 --json sync.json
    python -m minidni parallel --method dni --stages 2        # one process: the same split, one-process trainer

Rank 0 prints the summary and writes --json / --trace-out. With several seeds every rank
trains them in turn and --json gets a list.
"""
import argparse
import contextlib
import os

from ..errors import UserError
from ..parallel import Config, mpi, train
from ..parallel.faults import MODES, FaultInjection
from .common import (add_command, add_config_options, add_runtime_options, check_outputs, config_from_args,
                     runtime, write_all, write_json)


def register(subparsers):
    """Add the `parallel` command: Config's options, the outputs, and the tests' hidden fault options."""
    p = add_command(subparsers, "parallel", "train with one stage per MPI rank: DNI, cDNI or locked backprop",
                    __doc__)
    add_config_options(p, Config, many=("seed",),       # what only the one-process trainer runs (Config.check)
                       exclude=("update_prob", "complete_unlock", "input_lr", "diagnose_every"))
    p.add_argument("--json", metavar="PATH", help="write the result (throughput, per-stage times, history)")
    p.add_argument("--trace-out", metavar="PATH", help="write the merged trace of every rank (JSON)")
    p.add_argument("--fail-at-step", type=int, default=None, help=argparse.SUPPRESS)    # tests: FaultInjection
    p.add_argument("--fail-rank", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--fail-mode", choices=MODES, default="raise", help=argparse.SUPPRESS)
    add_runtime_options(p)
    p.set_defaults(func=main)


def main(args):
    """Run the job on every rank; rank 0 prints the summary and writes --json and --trace-out."""
    comm = mpi.world()          # MPI starts in every rank before any check can fail in one of them
    with mpi.abort_on_error(comm) if comm is not None else contextlib.nullcontext():
        configs = checked_configs(args, comm)
        faults = (FaultInjection(args.fail_at_step, args.fail_rank, args.fail_mode)
                  if args.fail_at_step is not None else None)
        results = []
        with runtime(args):
            for config in configs:
                results.append(train(config, comm, faults))
    if results[0] is None:                     # not rank 0
        return 0
    traces = [r.pop("trace") for r in results]
    for result in results:
        print(summary(result))
    trace = {k: results[0][k] for k in ("method", "sync", "ranks", "split", "max_lag")} | {"events": traces[0]}
    write_all(lambda: args.json and write_json(args.json, results[0] if len(results) == 1 else results),
              lambda: args.trace_out and write_json(args.trace_out, trace))
    return 0


def checked_configs(args, comm):
    """The configs of this job, one per seed, each checked. Rank 0 (which writes --json and --trace-out)
    checks the output paths and creates --checkpoint-dir; the other ranks create it after rank 0's checks."""
    configs = [config_from_args(Config, args, seed=s, quiet=args.quiet).check() for s in args.seed]
    if len(configs) > 1 and (args.checkpoint_dir or args.trace_out):
        raise UserError(f"--checkpoint-dir and --trace-out take one --seed, got {len(configs)}")
    if comm is None or comm.rank == 0:
        if args.resume and not os.path.isdir(args.checkpoint_dir):
            raise UserError(f"--resume: checkpoint directory {args.checkpoint_dir} does not exist")
        # one process has no checkpoints (run_single refuses --checkpoint-dir): nothing to create
        check_outputs(files=[("--json", args.json), ("--trace-out", args.trace_out)],
                      dirs=[("--checkpoint-dir", args.checkpoint_dir if comm is not None else None)])
    if comm is not None and args.checkpoint_dir:
        comm.Barrier()                                      # rank 0's checks passed (a refusal ends the job)
        os.makedirs(args.checkpoint_dir, exist_ok=True)     # a rank on another node's disk needs it too
    return configs


def summary(result):
    """A few lines: what ran, throughput, accuracy, per-stage work and staleness."""
    decoupled = result["ranks"] > 1 and result["method"] != "locked" and not result["sync"]
    mode = result["trained_as"] + (f", max lag {result['max_lag']}" if decoupled else "")
    accuracy = result["test_accuracy"]
    lines = [f"{result['method']} on {result['ranks']} rank(s), stages {result['split']} ({mode}): "
             f"{result['steps']} steps in {result['seconds']:.1f}s, {result['throughput']:.0f} samples/s, "
             f"test error {'-' if accuracy is None else f'{100 * (1 - accuracy):.2f}%'}"]
    for s in result["per_stage"]:
        late = s.get("staleness") or {}
        fits = sum(late.values())
        stale = (f", SG targets {sum(int(k) * v for k, v in late.items()) / fits:.2f} steps late on average "
                 f"(max {max(map(int, late))})" if fits else "")
        lines.append(f"  stage {s.get('stage', s['rank'])}: work {1e3 * s['work_per_step']:.1f} ms/step, "
                     f"waiting {1e3 * s['wait_per_step']:.1f} ms/step{stale}")
    return "\n".join(lines)
