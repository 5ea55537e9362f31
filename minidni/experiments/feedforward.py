"""Feed-forward experiments (paper §3.2): one network, or a grid of depths x methods x seeds.

    from minidni.experiments import TrainConfig, CompareConfig, run
    result = run(TrainConfig(method="cdni", layers=4, epochs=5))     # one network: a result dict
    results = run(CompareConfig(layers=[3, 4], seed=[0, 1]))          # a grid: a list of them

A result (what `train --json` writes; `compare` writes a list of them):
    {"method", "dataset", "model", "layers" (None for the CNN), "seed",
     "test_error" (%, the headline), "test_accuracy" (fraction), "seconds",
     "history": [{"epoch", "step", "train_loss", "test_accuracy", "test_error", "seconds"}],
     "config": the TrainConfig as a dict, "sg_quality" (with diagnose_every > 0),
     and where the data set has a validation split (mnist5k): "valid_error" per epoch in the
     history, "best_valid_epoch", "best_valid_error" and "test_error_at_best_valid" (the test
     error of the epoch chosen by validation error alone)}
"""
import dataclasses
import multiprocessing
import signal
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from threadpoolctl import threadpool_limits

from ..data import load_dataset
from ..errors import DivergenceError, UserError
from ..models import build_cnn, build_mlp
from ..memory import check_fits, feedforward
from ..options import check_at_least, check_many, check_types, option
from ..train import METHODS, Backprop, fit
from ..train.dni import SGOptions
from .runlog import run_all, run_key

DATASETS = ("digits", "mnist5k", "mnist", "cifar10")


@dataclass
class TrainConfig(SGOptions):
    """One feed-forward network trained one way: every option of `python -m minidni train`.

    The optimisers' and DNI's options are SGOptions' fields (minidni.train.dni), inherited.
    """
    method: str = option("backprop", "training method", choices=tuple(METHODS))
    dataset: str = option("digits", "data set: digits (scikit-learn's 8x8), mnist5k (5,000 real MNIST images, the "
                                    "mnist5k extra), mnist and cifar10 (read from $MINIDNI_DATA)", choices=DATASETS)
    model: str = option("mlp", "network: the paper's FCN (mlp) or its CNN", choices=("mlp", "cnn"))
    layers: int = option(4, "MLP: number of Linear layers")
    hidden: int = option(256, "MLP: units per hidden layer")
    epochs: int = option(20, "passes over the training images")
    batch_size: int = option(64, "mini-batch size")
    seed: int = option(0, "seeds weights and batch order (the data split is fixed)")
    cuts: Optional[list] = option(None, "dni, cdni: decouple only after these module indices",
                                  many=True, type=int, default_text="after every module")

    def check(self):
        """Raise UserError naming the first option no run could use (before any data is loaded):
        a value of the wrong type (SGOptions.check checks every field's first), or one too small,
        or a network too large for this machine's memory (minidni.memory)."""
        super().check()
        check_at_least(self, 1, "layers", "hidden", "epochs", "batch_size")
        check_at_least(self, 0, "seed", "cuts")
        check_fits(self, feedforward)
        return self


@dataclass
class CompareConfig(TrainConfig):
    """A grid of TrainConfigs: every (depth, method, seed), each trained as `train` would.

    The CNN has one fixed depth, so with model="cnn" `layers` is ignored.
    """
    method: list = option(["backprop", "dni", "cdni"], "training methods", choices=tuple(METHODS), many=True)
    layers: list = option([3, 4, 5, 6], "MLP depths: numbers of Linear layers", many=True)
    seed: list = option([0, 1, 2], "seeds, one run each", many=True)

    def check(self):
        """Raise UserError naming the first bad option of the grid or of any of its runs; returns self."""
        check_types(self)
        check_many(self, "method", "layers", "seed")
        for config in self.runs():
            config.check()
        return self

    def runs(self):
        """The TrainConfig of every cell, depth-major as the table reads."""
        depths = self.layers if self.model == "mlp" else [TrainConfig.layers]
        common = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)}
        return [TrainConfig(**{**common, "layers": d, "method": m, "seed": s})
                for d in depths for m in self.method for s in self.seed]


def build_model(config, data, rng):
    """The network of `config` for `data`: the paper's FCN or CNN (minidni.models)."""
    if config.model == "mlp":
        return build_mlp(int(np.prod(data.input_shape)), data.n_classes, config.layers, config.hidden, rng)
    return build_cnn(data.input_shape, data.n_classes, rng=rng)


def build_trainer(config, data, rng=None):
    """The model and its trainer (Backprop, DNI or cDNI) for `config`; rng defaults to default_rng(seed)."""
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    model = build_model(config, data, rng)
    if config.method == "backprop":
        return Backprop(model, config.optimizer, config.lr)
    try:
        return METHODS[config.method](model, data.input_shape, data.n_classes, cuts=config.cuts, rng=rng,
                                      **config.sg_options())
    except ValueError as e:         # a bad cut point, say: the trainer names the problem
        raise UserError(str(e)) from None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during train(): `result` is the run so far (the result dict of the epochs finished, with
    "interrupted": True, "epoch" and "step" reached) and `trainer` holds the weights as they are."""

    def __init__(self, trainer=None, result=None):
        super().__init__()
        self.trainer, self.result = trainer, result


def train(config, progress=None, data=None):
    """Train as `config` says; return (trainer, result). progress(record) after each epoch.

    data: an already loaded Dataset (else config.dataset is loaded). Ctrl-C while training
    raises Interrupted, which carries the history so far and the trainer.
    """
    config.check()
    data = data if data is not None else load_dataset(config.dataset, flat=config.model == "mlp")
    rng = np.random.default_rng(config.seed)
    trainer = build_trainer(config, data, rng)
    history = []                                   # fit's records as they come: kept if training is interrupted

    def on_epoch(record):
        """Add the errors (%) to the epoch's record, keep it, then report it."""
        record["test_error"] = 100 * (1 - record["test_accuracy"])
        if "valid_accuracy" in record:
            record["valid_error"] = 100 * (1 - record["valid_accuracy"])
        history.append(record)
        if progress is not None:
            progress(record)
    start = time.perf_counter()
    try:
        fit(trainer, data, config.epochs, config.batch_size, rng, on_epoch=on_epoch)
    except KeyboardInterrupt:
        partial = {"interrupted": True, "epoch": history[-1]["epoch"] if history else 0, "step": trainer.t}
        raise Interrupted(trainer, {**_result(config, trainer, history, start), **partial}) from None
    return trainer, _result(config, trainer, history, start)


def _result(config, trainer, history, start):
    last = history[-1] if history else {}
    result = {"method": config.method, "dataset": config.dataset, "model": config.model,
              "layers": config.layers if config.model == "mlp" else None, "seed": config.seed,
              "test_error": last.get("test_error"), "test_accuracy": last.get("test_accuracy"),
              "history": history, "seconds": time.perf_counter() - start, "config": dataclasses.asdict(config)}
    if "valid_error" in last:
        best = min(history, key=lambda h: h["valid_error"])          # the first epoch of the lowest
        result.update(best_valid_epoch=best["epoch"], best_valid_error=best["valid_error"],
                      test_error_at_best_valid=best["test_error"])
    if getattr(trainer, "diagnostics", None):
        result["sg_quality"] = trainer.diagnostics
    return result


def run_train(config, progress=None):
    """One network: the result dict (see the module's docstring)."""
    return train(config, progress)[1]


def run_cells(cells, data, progress=None, jobs=1, record_divergence=False):
    """Train every TrainConfig of `cells` on the loaded `data`; the results, in order.

    jobs > 1 trains that many at once, each in its own process with one BLAS thread
    (forked, so the data set is shared, not copied; platforms without fork run them one
    by one). Every run seeds itself, so the results are the same either way.
    record_divergence: a run that diverges gives {"config", "diverged": the message}
    instead of stopping the grid (a search wants to know, and go on).
    progress(result) after each run, in order (what writes it to a RunLog).
    """
    global _SHARED
    _SHARED = data                                       # inherited by forked workers
    tasks = [(cell, record_divergence) for cell in cells]
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        # Ctrl-C: imap raises KeyboardInterrupt here and leaving the `with` terminates the workers
        with multiprocessing.get_context("fork").Pool(jobs, initializer=_worker) as pool:
            return _collect(pool.imap(_train_shared, tasks), progress)
    return _collect(map(_train_shared, tasks), progress)


_SHARED = None


def _collect(results, progress):
    out = []
    for result in results:
        out.append(result)
        if progress is not None:
            progress(result)
    return out


def _worker():
    """A pool worker: one BLAS thread; Ctrl-C is for the parent alone (it stops the pool, no worker traceback)."""
    threadpool_limits(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _train_shared(task):
    cell, record_divergence = task
    try:
        return train(cell, data=_SHARED)[1]
    except DivergenceError as e:
        if not record_divergence:
            raise
        return {"config": dataclasses.asdict(cell), "diverged": str(e)}


def run_compare(config, progress=None, jobs=1, log=None):
    """Every cell of the grid, in order; progress(result) after each run trained. Returns the list of results.

    log: a RunLog (minidni.experiments.runlog): the cells it holds are taken from it, not trained,
    and each cell trained is appended to it as it finishes.
    """
    config.check()
    data = load_dataset(config.dataset, flat=config.model == "mlp")     # once for the whole grid
    cells = config.runs()
    return run_all([run_key(c) for c in cells],
                   lambda todo, done: run_cells([cells[i] for i in todo], data, done, jobs), log, progress)


def error_table(results, key="test_error"):
    """Markdown: mean ± std of `key` (%) per depth (rows) and method (columns), as paper Table 1.

    key: "test_error" (final), "test_error_at_best_valid" or "best_valid_error". The std
    is the population std (numpy's default).
    """
    methods = list(dict.fromkeys(r["method"] for r in results))
    depths = list(dict.fromkeys(r["layers"] for r in results))
    return mean_std_table("layers", depths, methods,
                          lambda d, m: [r[key] for r in results if r["layers"] == d and r["method"] == m],
                          row_name=lambda d: d if d is not None else "cnn") + "\n"


def mean_std_table(corner, rows, columns, values, row_name=str, column_name=str, empty="–"):
    """Markdown table: a cell per (row, column) with mean ± std of values(row, column), `empty` if none."""
    head = f"| {corner} |" if corner else "| |"
    lines = [head + " " + " | ".join(column_name(c) for c in columns) + " |", "|---|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = values(row, c)
            cells.append(mean_std_text(v) if v else empty)
        lines.append(f"| {row_name(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_std_text(values):
    """"mean ± std" of `values` (the population std) to 2 decimals, or the one value alone: over one
    seed there is no spread to show, and "± 0.00" would claim one."""
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"
