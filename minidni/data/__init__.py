"""Data sets and mini-batches.

    data = load_dataset("digits", flat=True)     # or "mnist", "cifar10"
    for xb, yb in batches(data.x_train, data.y_train, 64, rng):
        ...                                      # xb, yb on the current backend

The arrays of a Dataset stay on the host (NumPy), and their labels are checked once,
here. A training loop moves the arrays to the backend once (`to_device`) and `batches`
then draws every mini-batch where they are: on a GPU the data set lives on the device
and no batch crosses over. "digits" is bundled
with scikit-learn; "mnist" and "cifar10" are downloaded once into the cache
(see cache.py) and checked against their published SHA-256.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backend import to_device
from ..errors import ShapeError, UserError
from ..nn.module import check_labels
from .cifar10 import load_cifar10
from .digits import load_digits
from .mnist import load_mnist
from .mnist5k import load_mnist5k


@dataclass(frozen=True)
class Dataset:
    """A fixed train/test split (and validation, where the data set has one: mnist5k).

    x: (N, D) or (N, C, H, W) float; y: (N,) int64 class labels.
    """
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    x_valid: Optional[np.ndarray] = None
    y_valid: Optional[np.ndarray] = None

    @property
    def input_shape(self):
        """The shape of one example: (D,) when flat, (C, H, W) when not."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self):
        valid = f", valid {len(self.x_valid)}" if self.x_valid is not None else ""
        return (f"Dataset({self.name!r}, train {len(self.x_train)}{valid}, test {len(self.x_test)}, "
                f"input_shape={self.input_shape}, n_classes={self.n_classes}, dtype={self.x_train.dtype})")


def load_dataset(name, flat, seed=0):
    """Load a data set as a Dataset of host arrays.

    name: "digits", "mnist5k", "mnist" or "cifar10". flat=True gives (N, D) vectors for an MLP,
    flat=False (N, C, H, W) images for a CNN. `seed` chooses the digits split (MNIST
    and CIFAR-10 have an official split, and mnist5k a fixed one of its own: they ignore it).
    """
    x_valid = y_valid = None
    if name == "digits":
        x_train, y_train, x_test, y_test = load_digits(seed)
    elif name == "mnist5k":
        x_train, y_train, x_valid, y_valid, x_test, y_test = load_mnist5k()
    elif name == "mnist":
        x_train, y_train, x_test, y_test = load_mnist()
    elif name == "cifar10":
        x_train, y_train, x_test, y_test = load_cifar10()
    else:
        raise UserError(f"unknown dataset {name!r}: choose digits, mnist5k, mnist or cifar10")
    if flat:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
        x_valid = None if x_valid is None else x_valid.reshape(len(x_valid), -1)
    for y, split in ((y_train, "training"), (y_valid, "validation"), (y_test, "test")):
        if y is not None:
            check_labels(np.asarray(y), len(y), 10, where=f"{name} {split} labels")   # once, on the host
    return Dataset(name, x_train, y_train, x_test, y_test, n_classes=10, x_valid=x_valid, y_valid=y_valid)


def batches(x, y, batch_size, rng, shuffle=True, drop_last=False):
    """Return an iterator of (xb, yb) mini-batches covering x, y once, each on the current backend.

    x: (N, ...), y: (N,) arrays, on the host or already on the device (then each batch is
    gathered there: only the epoch's order, N integers, is copied over). The order is a
    permutation drawn from `rng` (a numpy.random.Generator) when `shuffle`, else the
    stored order. The last batch is smaller when batch_size does not divide N, unless
    `drop_last` skips it.
    The arguments are checked here, at the call, not at the first batch.
    """
    if len(x) != len(y):
        raise ShapeError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    if drop_last:
        order = order[:len(order) - len(order) % batch_size]

    on_device = type(x) is type(to_device(x[:0]))       # already where the backend computes
    if on_device:
        order = to_device(order)

    def generate():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if on_device:
                yield x[idx], y[idx]
            else:
                yield to_device(x[idx]), to_device(y[idx])
    return generate()


__all__ = ["Dataset", "load_dataset", "batches", "load_digits", "load_mnist", "load_mnist5k", "load_cifar10"]
