"""scikit-learn's bundled handwritten digits: 1,797 8x8 images, no download needed.

Small enough to train on in seconds on a laptop CPU, so every example, test and
tutorial can run offline. The data has no official split; we make one, stratified
by class and seeded: 360 test images, then 360 validation images carved from the
remaining 1,437, so the same seed always gives the same 1,077 / 360 / 360 split.
The test images are the ones the earlier two-way split held out.
"""
import numpy as np

from ..backend import get_dtype

N_TEST = 360
N_VALID = 360


def load_digits(seed=0):
    """A seeded stratified split: x_train (1077, 1, 8, 8), y_train, x_valid (360, 1, 8, 8), y_valid,
    x_test (360, 1, 8, 8), y_test.

    Pixels (0-16) are scaled to [0, 1], then standardised with ONE mean and ONE std
    taken over all pixels of the training set. A per-pixel std would be zero for the
    border pixels that are blank in every training image (division by zero), and
    would blow up faint pixels' noise; a single scalar keeps the images' relative
    intensities, as MNIST's conventional 0.1307/0.3081 does. Validation and test
    statistics are never used. x is in the backend's default float dtype; y is int64.
    """
    # lazy: scikit-learn takes ~1 s to import and only this loader uses it
    from sklearn.datasets import load_digits as _sklearn_digits
    from sklearn.model_selection import train_test_split
    digits = _sklearn_digits()
    x = digits.images.astype(np.float64)[:, None] / 16.0
    y = digits.target.astype(np.int64)
    train, test = train_test_split(np.arange(len(y)), test_size=N_TEST, stratify=y, random_state=seed)
    train, valid = train_test_split(train, test_size=N_VALID, stratify=y[train], random_state=seed)
    mean, std = x[train].mean(), x[train].std()
    x = ((x - mean) / std).astype(get_dtype())
    return x[train], y[train], x[valid], y[valid], x[test], y[test]
