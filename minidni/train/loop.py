"""The epoch loop shared by every training method: batches, NaN guard, evaluation, history."""
import time

import numpy as np

from ..backend import to_device, to_numpy
from ..data import batches
from ..errors import UserError
from .guard import DivergenceGuard, check_parameters


def evaluate(model, x, y, batch_size=500):
    """Accuracy of `model` (switched to eval mode for the pass) on x, y (host or device arrays).

    The count of correct predictions stays on the device until the end: one host read.
    """
    was_training = model.training
    model.eval()
    x, y = to_device(x), to_device(y)
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model.forward(x[start:start + batch_size])
        correct = correct + (logits.argmax(axis=1) == y[start:start + batch_size]).sum()
    model.train(was_training)
    return int(to_numpy(correct)) / len(x)


def fit(trainer, data, epochs, batch_size=64, rng=None, progress=None, on_epoch=None, stop=None,
        eval_every_epoch=True):
    """Train `trainer` (Backprop, DNI, ...) on `data` for `epochs`; return the history.

    history: [{"epoch", "step", "train_loss", "test_accuracy", "seconds"}], seconds since start,
    and "valid_accuracy" where the data set has a validation split.
    The data set moves to the device once; each step's loss stays there until the guard
    reads a batch of them (every guard.EVERY steps and at each epoch's end).
    `progress` wraps the batch iterator (e.g. a tqdm factory); `on_epoch(record)` is
    called after each record. `stop()`, asked after each epoch, ends training there when it
    returns True (with a `progress` that ends an epoch early: a step or time limit).
    eval_every_epoch=False evaluates and records the last epoch only (its train_loss then
    the mean over every step). A loss that is not finite or climbs far above its first
    value, or a parameter that is not finite at an epoch's end, stops training with
    DivergenceError naming the step (minidni.train.guard).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    model, history, start = trainer.model, [], time.perf_counter()
    guard, losses = DivergenceGuard(), []
    x_train, y_train = to_device(data.x_train), to_device(data.y_train)
    x_test, y_test = to_device(data.x_test), to_device(data.y_test)
    valid = None if data.x_valid is None else (to_device(data.x_valid), to_device(data.y_valid))
    for epoch in range(1, epochs + 1):
        model.train()
        it = batches(x_train, y_train, batch_size, rng)
        if progress is not None:
            it = progress(it, epoch)
        for xb, yb in it:
            with np.errstate(over="ignore", invalid="ignore"):     # a blow-up is reported by the guard, by step
                loss = trainer.step(xb, yb)
            guard.add(trainer.t, loss)                  # trainer.t counts this step only after step()
        epoch_losses = guard.take()
        if not epoch_losses:
            raise UserError(f"no training batch in epoch {epoch}: {len(data.x_train)} samples, batch size {batch_size}")
        losses += epoch_losses
        check_parameters(model, trainer.t)
        last = epoch == epochs or (stop is not None and stop())
        if not (eval_every_epoch or last):
            continue
        if hasattr(trainer, "prepare_evaluation"):            # complete unlock: statistics of the real chain
            trainer.prepare_evaluation(x_train)
        record = {"epoch": epoch, "step": trainer.t, "train_loss": float(np.mean(losses)),
                  "test_accuracy": evaluate(model, x_test, y_test),
                  "seconds": time.perf_counter() - start}
        if valid is not None:
            record["valid_accuracy"] = evaluate(model, *valid)
        history.append(record)
        losses = []
        if on_epoch is not None:
            on_epoch(record)
        if last:
            break
    return history
