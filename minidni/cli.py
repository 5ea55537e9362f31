"""`python -m minidni COMMAND ...`: train, demo (more commands register themselves below).

A user error (bad option value, missing file, bad shape) prints one line and exits
with status 2, without a traceback.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from . import backend
from .errors import UserError

# What `figures --only` can choose (minidni.figures.make_figures draws them).
FIGURE_GROUPS = ("locking", "sg", "results", "rnn", "parallel")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _writable(path, what):
    """Fail before training, not after it, if `path` cannot be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {what} {path}: directory {directory} does not exist")


def _setup(args):
    backend.set_backend(args.backend)
    backend.set_dtype(args.dtype)


def add_training_options(p, methods):
    """The options every training command shares."""
    p.add_argument("--dataset", choices=["digits", "mnist", "cifar10"], default="digits")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--layers", type=int, default=4, help="MLP: number of Linear layers (default 4)")
    p.add_argument("--hidden", type=int, default=256, help="MLP: units per hidden layer (default 256)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate of the network (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="seeds weights and batch order (the data split is fixed)")
    p.add_argument("--method", choices=sorted(methods), default="backprop")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--backend", choices=["numpy", "cupy"], default=os.environ.get("MINIDNI_BACKEND", "numpy"))
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    g = p.add_argument_group("synthetic gradients (dni, cdni)")
    g.add_argument("--sg", choices=["linear", "mlp"], default="linear", help="synthetic-gradient model M (default linear)")
    g.add_argument("--sg-hidden", type=int, default=None, help="hidden width of an mlp M (default: the activation's)")
    g.add_argument("--sg-optimizer", choices=["adam", "sgd"], default="adam", help="optimiser of M (default adam)")
    g.add_argument("--sg-lr", type=float, default=1e-4, help="learning rate of M (default 1e-4)")
    g.add_argument("--sg-scale", type=float, default=1.0, help="multiply g_hat by this before use (default 1)")
    g.add_argument("--update-prob", type=float, default=1.0,
                   help="each module updates on a step with this probability (paper's p; default 1)")
    g.add_argument("--complete-unlock", action="store_true",
                   help="also predict each module's input from the data (synthetic inputs, paper §3.2)")
    g.add_argument("--diagnose-every", type=int, default=0, metavar="K",
                   help="every K steps, compare each g_hat with the true gradient (cosine; saved with --json)")
    g.add_argument("--input-lr", type=float, default=3e-3,
                   help="learning rate of the synthetic-input models I (default 3e-3)")
    g.add_argument("--cuts", type=int, nargs="+", default=None,
                   help="decouple only after these module indices (default: after every module)")


def validate(args):
    """Reject bad option values before any data is loaded."""
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.model == "mlp" and (args.layers < 1 or args.hidden < 1):
        raise UserError(f"--layers and --hidden must be positive, got {args.layers} and {args.hidden}")
    if not 0 < args.update_prob <= 1:
        raise UserError(f"--update-prob must lie in (0, 1], got {args.update_prob}")


def build_model(args, data, rng):
    from .models import build_cnn, build_mlp
    if args.model == "mlp":
        return build_mlp(int(np.prod(data.input_shape)), data.n_classes, args.layers, args.hidden, rng)
    return build_cnn(data.input_shape, data.n_classes, rng=rng)


def trainer_options(args, data, rng):
    """Keyword arguments for make_trainer from the parsed options."""
    options = {"optimizer": args.optimizer, "lr": args.lr}
    if args.method in ("dni", "cdni"):
        options.update(input_shape=data.input_shape, n_classes=data.n_classes, sg_kind=args.sg,
                       sg_hidden=args.sg_hidden, sg_optimizer=args.sg_optimizer, sg_lr=args.sg_lr, sg_scale=args.sg_scale,
                       update_prob=args.update_prob, synthetic_inputs=args.complete_unlock,
                       input_lr=args.input_lr, cuts=args.cuts,
                       diagnose_every=args.diagnose_every, rng=rng)
    return options


def run_training(args, log=print):
    """Train as `args` say; return (trainer, result dict in the --json format)."""
    from tqdm import tqdm

    from .data import load_dataset
    from .train import fit, make_trainer
    validate(args)
    data = load_dataset(args.dataset, flat=args.model == "mlp")
    rng = np.random.default_rng(args.seed)
    model = build_model(args, data, rng)
    try:
        trainer = make_trainer(args.method, model, **trainer_options(args, data, rng))
    except ValueError as e:         # a bad --cuts, say: the trainer names the problem
        raise UserError(str(e)) from None
    steps_per_epoch = -(-len(data.x_train) // args.batch_size)
    bar = tqdm(total=args.epochs * steps_per_epoch, disable=args.quiet, leave=False,
               desc=f"{args.method} {args.model}", unit="step", file=sys.stderr)

    def progress(it, epoch):
        for item in it:
            yield item
            bar.update()

    def on_epoch(r):
        if not args.quiet:
            bar.write(f"epoch {r['epoch']:3d}  train loss {r['train_loss']:.4f}  "
                      f"test accuracy {100 * r['test_accuracy']:.2f}%  ({r['seconds']:.1f}s)")
    start = time.perf_counter()
    try:
        history = fit(trainer, data, args.epochs, args.batch_size, rng, progress=progress, on_epoch=on_epoch)
    finally:
        bar.close()
    result = {"method": args.method, "dataset": args.dataset, "model": args.model, "seed": args.seed,
              "test_accuracy": history[-1]["test_accuracy"], "history": history,
              "seconds": time.perf_counter() - start}
    if getattr(trainer, "diagnostics", None):
        result["sg_quality"] = trainer.diagnostics
    return trainer, result


def cmd_train(args):
    for path, what in ((args.json, "results"), (args.save, "checkpoint")):
        if path:
            _writable(path, what)
    _setup(args)
    trainer, result = run_training(args)
    print(f"{args.method} {args.model} on {args.dataset}: test accuracy {100 * result['test_accuracy']:.2f}% "
          f"in {result['seconds']:.1f}s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if args.save:
        from .checkpoint import save
        save(args.save, trainer.model, trainer.optimizers,
             meta={"method": args.method, "model": args.model, "dataset": args.dataset})
    return 0


def train_args(**overrides):
    """The `train` command's defaults as a Namespace, with `overrides` applied."""
    args = build_parser().parse_args(["train"])
    for k, v in overrides.items():
        if not hasattr(args, k):
            raise AttributeError(f"train has no option {k}")
        setattr(args, k, v)
    return args


def run_grid(dataset, model, depths, methods, seeds, epochs, log=print, **options):
    """Train every (depth, method, seed); return the list of result dicts (with "layers")."""
    from tqdm import tqdm
    runs = [(d, m, s) for d in depths for m in methods for s in seeds]
    results = []
    for depth, method, seed in tqdm(runs, desc="compare", unit="run", file=sys.stderr, leave=False):
        args = train_args(dataset=dataset, model=model, layers=depth or 0, method=method, seed=seed,
                          epochs=epochs, quiet=True, **options)
        _, result = run_training(args)
        result["layers"] = depth if model == "mlp" else None
        results.append(result)
        log(f"{model} layers={depth or '-'} {method:8} seed={seed}: test error {100 * (1 - result['test_accuracy']):.2f}%")
    return results


def error_table(results):
    """Markdown: mean ± std test error (%) per depth (rows) and method (columns), as paper Table 1."""
    methods = list(dict.fromkeys(r["method"] for r in results))
    depths = list(dict.fromkeys(r["layers"] for r in results))
    lines = ["| layers | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for d in depths:
        cells = []
        for m in methods:
            err = [100 * (1 - r["test_accuracy"]) for r in results if r["layers"] == d and r["method"] == m]
            cells.append(f"{np.mean(err):.2f} ± {np.std(err):.2f}")
        lines.append(f"| {d if d is not None else 'cnn'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cmd_compare(args):
    _setup(args)
    os.makedirs(args.out, exist_ok=True)
    depths = args.layers if args.model == "mlp" else [None]       # the CNN has one fixed depth
    results = run_grid(args.dataset, args.model, depths, args.methods, args.seeds, args.epochs,
                       lr=args.lr, sg_lr=args.sg_lr, batch_size=args.batch_size, update_prob=args.update_prob,
                       complete_unlock=args.complete_unlock)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    table = error_table(results)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(f"Test error (%), mean ± std over seeds {args.seeds}, {args.dataset}, {args.model}, "
                f"{args.epochs} epochs, update probability {args.update_prob}"
                f"{', complete unlock' if args.complete_unlock else ''}.\n\n" + table)
    from .plot import plot_error_curves
    plot_error_curves(results, os.path.join(args.out, "error_curves.png"))
    print(table)
    print(f"wrote {args.out}/results.json, table.md, error_curves.png")
    return 0


def cmd_demo(args):
    """A short fixed run on the embedded digits: backprop, DNI and cDNI side by side."""
    backend.set_backend(args.backend)
    results = run_grid("digits", "mlp", [4], ["backprop", "dni", "cdni"], [0], args.epochs, log=lambda s: None)
    print(f"4-layer MLP on the embedded digits, {args.epochs} epochs, seed 0 (every layer decoupled for dni/cdni)")
    print(f"{'method':9} {'epoch':>5} {'train loss':>10} {'test error':>10} {'seconds':>8}")
    for r in results:
        for h in r["history"]:
            print(f"{r['method']:9} {h['epoch']:5d} {h['train_loss']:10.4f} {100 * (1 - h['test_accuracy']):9.2f}% "
                  f"{h['seconds']:8.2f}")
    if args.figure:
        from .plot import plot_error_curves
        plot_error_curves(results, args.figure)
        print(f"figure: {args.figure}")
    return 0


def cmd_figures(args):
    from .figures import make_figures
    os.makedirs(args.out, exist_ok=True)
    for path in make_figures(args.out, quick=args.quick, only=args.only) or []:
        print(path)
    return 0


def build_parser():
    from .train import METHODS
    parser = _Parser(prog="python -m minidni",
                     description="minidni: Decoupled Neural Interfaces using Synthetic Gradients, from scratch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    p = sub.add_parser("train", help="train one network and report test accuracy")
    add_training_options(p, METHODS)
    p.add_argument("--json", metavar="PATH", help="write the result and per-epoch history as JSON")
    p.add_argument("--save", metavar="PATH", help="save parameters and optimiser state (.npz)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("compare", help="grid of depths x methods x seeds: table and figure")
    p.add_argument("--dataset", choices=["digits", "mnist", "cifar10"], default="digits")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--layers", type=int, nargs="+", default=[3, 4, 5, 6])
    p.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["backprop", "dni", "cdni"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--sg-lr", type=float, default=1e-4)
    p.add_argument("--update-prob", type=float, default=1.0, help="dni/cdni: the paper's p (default 1)")
    p.add_argument("--complete-unlock", action="store_true", help="dni/cdni: synthetic inputs too")
    p.add_argument("--out", default="runs/compare", help="output directory (default runs/compare)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--backend", choices=["numpy", "cupy"], default=os.environ.get("MINIDNI_BACKEND", "numpy"))
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("demo", help="backprop vs DNI vs cDNI on the embedded digits; prints a table")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--figure", metavar="PNG", help="also save the test-error curves here")
    p.add_argument("--backend", choices=["numpy", "cupy"], default=os.environ.get("MINIDNI_BACKEND", "numpy"))
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("figures", help="regenerate every figure in figures/")
    p.add_argument("--quick", action="store_true", help="tiny budgets: checks the pipeline, not the paper's numbers")
    p.add_argument("--out", default="figures", help="output directory (default figures/)")
    p.add_argument("--only", nargs="+", choices=FIGURE_GROUPS, metavar="GROUP",
                   help=f"only these groups: {', '.join(FIGURE_GROUPS)} (default all; the full rnn group takes about an hour)")
    p.set_defaults(func=cmd_figures)
    from . import cli_parallel, cli_rnn
    cli_rnn.register(sub)
    cli_parallel.register(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"minidni: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minidni: interrupted", file=sys.stderr)
        return 130
