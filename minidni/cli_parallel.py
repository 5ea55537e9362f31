"""`mpiexec -n K python -m minidni parallel ...`: one stage of the network per MPI rank.

    mpiexec -n 2 python -m minidni parallel --method dni --layers 8 --epochs 5
    mpiexec -n 2 python -m minidni parallel --method locked --layers 8 --trace-out locked.json
    mpiexec -n 2 python -m minidni parallel --method dni --sync --steps 20 --json sync.json
    python -m minidni parallel --method dni --stages 2        # one process: the same split, one-process trainer

Rank 0 prints the summary and writes --json / --trace-out. `register(subparsers)` adds
the command to the main CLI; `python -m minidni.cli_parallel ...` runs it on its own.
"""
import argparse
import json
import os
import sys

from .errors import UserError


def register(subparsers):
    """Add the `parallel` command to the CLI's subparsers."""
    p = subparsers.add_parser("parallel", help="train with one stage per MPI rank: DNI, cDNI or locked backprop",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=["dni", "cdni", "locked"], default="dni",
                   help="dni/cdni: decoupled stages; locked: model-parallel backprop (default dni)")
    p.add_argument("--dataset", choices=["digits", "mnist", "cifar10"], default="digits")
    p.add_argument("--model", choices=["mlp"], default="mlp")
    p.add_argument("--layers", type=int, default=4, help="Linear layers of the MLP (default 4)")
    p.add_argument("--hidden", type=int, default=256, help="units per hidden layer (default 256)")
    p.add_argument("--stages", type=int, default=None,
                   help="number of stages (default: the number of ranks; with one process, >1 runs the "
                        "one-process trainer of that split)")
    p.add_argument("--split", type=int, nargs="+", default=None,
                   help="modules per stage, e.g. --split 7 8 (default: balanced by estimated work, SG included)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="stop feeding batches after this many seconds of training")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--backend", choices=["numpy", "cupy"], default=os.environ.get("MINIDNI_BACKEND", "numpy"))
    g = p.add_argument_group("synthetic gradients (dni, cdni)")
    g.add_argument("--sg", choices=["linear", "mlp"], default="linear")
    g.add_argument("--sg-optimizer", choices=["adam", "sgd"], default="adam")
    g.add_argument("--sg-lr", type=float, default=1e-4)
    g.add_argument("--sg-scale", type=float, default=1.0)
    g.add_argument("--sync", action="store_true",
                   help="check mode: every rank waits for its target each step (zero staleness); "
                        "equals the one-process DNI trainer with the same seed")
    g.add_argument("--max-lag", type=int, default=3,
                   help="targets a rank may be owed by the next one before it waits: bounds staleness "
                        "and buffered messages (default 3)")
    p.add_argument("--eval", choices=["epoch", "end"], default="epoch",
                   help="test accuracy after every epoch (default) or only at the end")
    p.add_argument("--warmup", type=int, default=3, help="steps left out of throughput and per-stage times")
    p.add_argument("--json", metavar="PATH", help="write the result (throughput, per-stage times, history)")
    p.add_argument("--trace-out", metavar="PATH", help="write the merged trace of every rank (JSON)")
    p.add_argument("--checkpoint-dir", metavar="DIR", help="every rank saves its stage here")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="save every this many steps (default with --checkpoint-dir: 100)")
    p.add_argument("--resume", action="store_true", help="continue from the newest step every rank has saved")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--fail-at-step", type=int, default=None, help=argparse.SUPPRESS)    # tests: fault injection
    p.add_argument("--fail-rank", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_parallel)
    return p


def config_from_args(args):
    from .parallel import Config
    every = args.checkpoint_every or (100 if args.checkpoint_dir else None)
    return Config(method=args.method, dataset=args.dataset, layers=args.layers, hidden=args.hidden,
                  stages=args.stages, split=args.split, epochs=args.epochs, steps=args.steps,
                  time_limit=args.time_limit, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                  sg=args.sg, sg_optimizer=args.sg_optimizer, sg_lr=args.sg_lr, sg_scale=args.sg_scale,
                  seed=args.seed, sync=args.sync, max_lag=args.max_lag, eval=args.eval, warmup=args.warmup,
                  checkpoint_dir=args.checkpoint_dir, checkpoint_every=every, resume=args.resume,
                  quiet=args.quiet, fail_at_step=args.fail_at_step, fail_rank=args.fail_rank)


def _check_writable(path, what):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {what} {path}: directory {directory} does not exist")


def cmd_parallel(args):
    from . import backend
    from .parallel import train
    for path, what in ((args.json, "results"), (args.trace_out, "trace")):
        if path:
            _check_writable(path, what)
    if args.checkpoint_dir:
        os.makedirs(args.checkpoint_dir, exist_ok=True)
    backend.set_backend(args.backend)
    backend.set_dtype(args.dtype)
    result = train(config_from_args(args))
    if result is None:                     # not rank 0
        return 0
    trace = result.pop("trace")
    print(summary(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if args.trace_out:
        with open(args.trace_out, "w") as f:
            json.dump({k: result[k] for k in ("method", "sync", "ranks", "split", "max_lag")} | {"events": trace}, f)
    return 0


def summary(result):
    """A few lines: what ran, throughput, accuracy, per-stage work and staleness."""
    mode = "synchronous check mode" if result["sync"] else (
        "locked" if result["method"] == "locked" else f"decoupled, max lag {result['max_lag']}")
    accuracy = result["test_accuracy"]
    lines = [f"{result['method']} on {result['ranks']} rank(s), stages {result['split']} ({mode}): "
             f"{result['steps']} steps in {result['seconds']:.1f}s, {result['throughput']:.0f} samples/s, "
             f"test accuracy {'-' if accuracy is None else f'{100 * accuracy:.2f}%'}"]
    for s in result["per_stage"]:
        late = s.get("staleness") or {}
        fits = sum(late.values())
        stale = (f", SG targets {sum(int(k) * v for k, v in late.items()) / fits:.2f} steps late on average "
                 f"(max {max(map(int, late))})" if fits else "")
        lines.append(f"  stage {s.get('stage', s['rank'])}: work {1e3 * s['work_per_step']:.1f} ms/step, "
                     f"waiting {1e3 * s['wait_per_step']:.1f} ms/step{stale}")
    return "\n".join(lines)


def main(argv=None):
    """`python -m minidni.cli_parallel ARGS` = `python -m minidni parallel ARGS`."""
    from .cli import main as cli_main
    return cli_main(["parallel", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
