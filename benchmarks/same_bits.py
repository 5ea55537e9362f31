"""Do two versions of minidni compute the same numbers, bit for bit?

    python benchmarks/same_bits.py 04bba86            # this checkout against a git revision
    python benchmarks/same_bits.py /path/to/checkout  # or another copy of the project

A speed-up should change the time, not the results. Each side trains a few steps of every
hot path in a Python process of its own, at one BLAS thread, importing minidni from its
own tree (as ab.py does): the MLP by backprop (SGD; Adam with batch norm), DNI and cDNI,
in float32 and float64; a small CNN with batch norm and both poolings; the LSTM and the
tanh RNN by BPTT, DNI and DNI + Aux, at the experiments' size (128 units, batch 32) and at
a tiny one (32 units, batch 4). Prints, per path, "same" or how far its parameters moved;
exits 1 if any differ (0 if none).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from ab import check_imported, checkout

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def train_every_path(steps):
    """{path name: {parameter name: array}} after `steps` steps (windows) of each hot path."""
    from minidni import backend
    from minidni.models import build_mlp
    from minidni.nn import AvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
    from minidni.nn.recurrent import SequenceModel
    from minidni.train import DNI, Backprop
    from minidni.train.tbptt import TBPTT
    out = {}
    for dtype in ("float32", "float64"):
        backend.set_dtype(dtype)
        rng = np.random.default_rng(0)
        x, y = backend.to_device(rng.standard_normal((64, 784)), dtype), rng.integers(0, 10, 64)
        mlp = lambda bn: build_mlp(784, 10, layers=4, hidden=64, rng=rng, batchnorm=bn)      # noqa: E731
        trainers = {"mlp backprop sgd": Backprop(mlp(False), optimizer="sgd", lr=0.01),
                    "mlp backprop adam, batch norm": Backprop(mlp(True), optimizer="adam", lr=0.01),
                    "mlp dni sgd": DNI(mlp(False), (784,), 10, optimizer="sgd", lr=0.01, sg_optimizer="sgd", sg_lr=1e-3),
                    "mlp cdni adam, batch norm": DNI(mlp(True), (784,), 10, conditional=True, sg_lr=1e-3)}
        xc, yc = backend.to_device(rng.standard_normal((16, 1, 12, 12)), dtype), rng.integers(0, 10, 16)
        trainers["cnn backprop sgd"] = Backprop(Sequential(
            Sequential(Conv2d(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2)),
            Sequential(Conv2d(4, 6, 3, padding=1, rng=rng), BatchNorm(6), ReLU(), AvgPool2d(3, 1, 1), MaxPool2d(2)),
            Sequential(Flatten(), Linear(6 * 9, 10, rng))), optimizer="sgd", lr=0.01)
        for name, trainer in trainers.items():
            data = (xc, yc) if name.startswith("cnn") else (x, y)
            for _ in range(steps):
                trainer.step(*data)
            # the M's: the dict DNI.M in this tree, the list DNI.sgs in revisions before 2026-12-06
            Ms = trainer.M.values() if isinstance(getattr(trainer, "M", None), dict) else getattr(trainer, "sgs", [])
            models = [trainer.model] + [M.model for M in Ms]
            out[f"{name}, {dtype}"] = {f"{k}:{n}": backend.to_numpy(p) for k, m in enumerate(models)
                                       for n, p in m.params.items()}
    backend.set_dtype("float32")
    for size, (hidden, batch) in (("128 units, batch 32", (128, 32)), ("32 units, batch 4", (32, 4))):
        for cell in ("lstm", "rnn"):
            for method in ("bptt", "dni", "dni-aux"):
                rng = np.random.default_rng(1)
                trainer = TBPTT(SequenceModel(60, 60, hidden, rng, cell=cell), 8, method, lr=3e-3)
                state = None
                for _ in range(steps):
                    tokens, targets = rng.integers(0, 60, (8, batch)), rng.integers(0, 60, (8, batch))
                    _, state = trainer.window(backend.to_device(tokens), backend.to_device(targets), state=state)
                models = [trainer.model] + ([trainer.M.model] if getattr(trainer, "M", None) is not None else [])
                out[f"{cell} {method}, {size}"] = {f"{k}:{n}": backend.to_numpy(p) for k, m in enumerate(models)
                                                   for n, p in m.params.items()}
    return out


def run_side(tree, steps, path):
    """Train every path with the minidni in `tree`, in a child process of one thread; save to `path`."""
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("MINIDNI_BACKEND", None)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", path, "--steps", str(steps)],
                          env=env, cwd=HERE, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training with the minidni in {tree} failed:\n{done.stderr}")
    check_imported(tree, done.stdout.splitlines()[-1])


def compare(this, other):
    """[(path, None if every parameter is the same bit for bit, else the largest change; NaN where the
    other side lacks the path or a parameter)] in this's order."""
    rows = []
    for name, params in this.items():
        theirs = other.get(name)
        if theirs is None or set(theirs) != set(params):
            rows.append((name, float("nan")))
            continue
        moved = [float(np.abs(params[k].astype(np.float64) - theirs[k]).max())     # bytes: -0.0 is not 0.0
                 for k in params if params[k].dtype != theirs[k].dtype or params[k].tobytes() != theirs[k].tobytes()]
        rows.append((name, max(moved) if moved else None))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", nargs="?", help="a git revision or a directory holding another checkout")
    ap.add_argument("--steps", type=int, default=5, help="steps (windows) of each path (default 5)")
    ap.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        import minidni
        with open(args.worker, "wb") as f:
            np.savez(f, **{f"{name}|{k}": v for name, params in train_every_path(args.steps).items()
                           for k, v in params.items()})
        print(json.dumps({"minidni": os.path.dirname(os.path.dirname(minidni.__file__))}))
        return 0
    if not args.other:
        ap.error("name the other side: a git revision (e.g. main) or a directory")
    tree, cleanup = checkout(args.other)
    saved = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for side, where in (("this", ROOT), ("other", tree)):
                run_side(where, args.steps, os.path.join(tmp, f"{side}.npz"))
                with np.load(os.path.join(tmp, f"{side}.npz")) as f:
                    saved[side] = {}
                    for key in f.files:
                        name, param = key.split("|")
                        saved[side].setdefault(name, {})[param] = f[key]
    finally:
        cleanup()
    rows = compare(saved["this"], saved["other"])
    print(f"this checkout against {args.other}, {args.steps} steps of each path, one thread:")
    for name, moved in rows:
        print(f"  {name:44s} " + ("same" if moved is None else f"differs (largest change {moved:.1e})"))
    differ = sum(moved is not None for _, moved in rows)
    print(f"{differ} of {len(rows)} paths differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
