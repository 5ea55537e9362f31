"""The networks of the paper's feed-forward experiments, as Sequentials of *modules*.

A model is Sequential(module_1, ..., module_L) where each module is itself a
Sequential of layers (e.g. Linear -> BatchNorm -> ReLU). Backprop treats the model as
one chain; DNI puts a synthetic-gradient model after each module.
"""
from .nn import BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential


def build_mlp(in_features, n_classes, layers=4, hidden=256, rng=None, batchnorm=True):
    """`layers` Linear layers: (layers - 1) hidden modules Linear-BN-ReLU, then a Linear head.

    As the paper's FCNs (§3.2: 256 units, batch norm, ReLU). Input (N, in_features).
    """
    if layers < 1:
        raise ValueError(f"an MLP needs at least 1 layer, got {layers}")
    modules, width = [], in_features
    for _ in range(layers - 1):
        block = [Linear(width, hidden, rng)] + ([BatchNorm(hidden)] if batchnorm else []) + [ReLU()]
        modules.append(Sequential(*block))
        width = hidden
    modules.append(Sequential(Linear(width, n_classes, rng)))
    return Sequential(*modules)


def build_cnn(in_shape, n_classes, channels=(16, 32), rng=None):
    """Conv3x3-BN-ReLU-MaxPool2 modules, one per entry of `channels`, then Flatten-Linear.

    Input (N, C, H, W) with (C, H, W) = in_shape; H and W must halve cleanly per module.
    """
    c, h, w = in_shape
    modules = []
    for out in channels:
        modules.append(Sequential(Conv2d(c, out, 3, padding=1, rng=rng), BatchNorm(out), ReLU(), MaxPool2d(2)))
        c, h, w = out, h // 2, w // 2
    if h < 1 or w < 1:
        raise ValueError(f"input {in_shape} is too small for {len(channels)} pooling stages")
    modules.append(Sequential(Flatten(), Linear(c * h * w, n_classes, rng)))
    return Sequential(*modules)
