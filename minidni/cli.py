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


def build_model(args, data, rng):
    from .models import build_cnn, build_mlp
    if args.model == "mlp":
        if args.layers < 1 or args.hidden < 1:
            raise UserError(f"--layers and --hidden must be positive, got {args.layers} and {args.hidden}")
        return build_mlp(int(np.prod(data.input_shape)), data.n_classes, args.layers, args.hidden, rng)
    return build_cnn(data.input_shape, data.n_classes, rng=rng)


def trainer_options(args, rng):
    """Keyword arguments for make_trainer from the parsed options (methods add their own)."""
    return {"optimizer": args.optimizer, "lr": args.lr}


def run_training(args, log=print):
    """Train as `args` say; return (trainer, result dict in the --json format)."""
    from tqdm import tqdm

    from .data import load_dataset
    from .train import fit, make_trainer
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    data = load_dataset(args.dataset, flat=args.model == "mlp")
    rng = np.random.default_rng(args.seed)
    model = build_model(args, data, rng)
    trainer = make_trainer(args.method, model, **trainer_options(args, rng))
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


def cmd_demo(args):
    """A short fixed run on the embedded digits: backprop MLP and CNN, a table per epoch."""
    backend.set_backend(args.backend)
    rows = []
    for model in ("mlp", "cnn"):
        ns = argparse.Namespace(dataset="digits", model=model, layers=3, hidden=128, epochs=args.epochs,
                                batch_size=64, optimizer="adam", lr=1e-3, seed=0, method="backprop",
                                quiet=True)
        _, result = run_training(ns)
        rows.append((model, result))
    print(f"{'model':6} {'epoch':>5} {'train loss':>10} {'test acc':>9} {'seconds':>8}")
    for model, result in rows:
        for r in result["history"]:
            print(f"{model:6} {r['epoch']:5d} {r['train_loss']:10.4f} {100 * r['test_accuracy']:8.2f}% "
                  f"{r['seconds']:8.2f}")
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
    p = sub.add_parser("demo", help="a short training run on the embedded digits; prints a table")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--backend", choices=["numpy", "cupy"], default=os.environ.get("MINIDNI_BACKEND", "numpy"))
    p.set_defaults(func=cmd_demo)
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
