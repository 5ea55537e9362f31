"""The epoch loop shared by every training method: batches, NaN guard, evaluation, history."""
import time

import numpy as np

from ..backend import to_device, to_numpy
from ..errors import UserError
from .guard import DivergenceGuard, check_parameters


def evaluate(model, x, y, batch_size=500):
    """Test accuracy of `model` (switched to eval mode for the pass) on host arrays x, y."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model.forward(to_device(x[start:start + batch_size]))
        correct += int((to_numpy(logits).argmax(axis=1) == y[start:start + batch_size]).sum())
    model.train(was_training)
    return correct / len(x)


def fit(trainer, data, epochs, batch_size=64, rng=None, progress=None, on_epoch=None):
    """Train `trainer` (Backprop, DNI, ...) on `data` for `epochs`; return the history.

    history: [{"epoch", "step", "train_loss", "test_accuracy", "seconds"}], seconds since start.
    `progress` wraps the batch iterator (e.g. a tqdm factory); `on_epoch(record)` is
    called after each epoch. A loss that is not finite or climbs far above its first
    value, or a parameter that is not finite at an epoch's end, stops training with
    DivergenceError naming the step (minidni.train.guard).
    """
    from ..data import batches
    rng = rng if rng is not None else np.random.default_rng(0)
    model, history, start = trainer.model, [], time.perf_counter()
    guard = DivergenceGuard()
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        it = batches(data.x_train, data.y_train, batch_size, rng)
        if progress is not None:
            it = progress(it, epoch)
        for xb, yb in it:
            with np.errstate(over="ignore", invalid="ignore"):     # a blow-up is reported below, by step
                loss = trainer.step(xb, yb)
            losses.append(guard(loss, trainer.t, f" (epoch {epoch})"))
        if not losses:
            raise UserError(f"no training batch in epoch {epoch}: {len(data.x_train)} samples, batch size {batch_size}")
        check_parameters(model, trainer.t)
        record = {"epoch": epoch, "step": trainer.t, "train_loss": float(np.mean(losses)),
                  "test_accuracy": evaluate(model, data.x_test, data.y_test),
                  "seconds": time.perf_counter() - start}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return history
