"""The layer protocol, and the two containers every model is built from.

A module has
    forward(x)   -> y     caches what backward needs
    backward(dy) -> dx    stores dL/dparam in `grads`, returns dL/dx
    params, grads         dicts with the same keys ("W", "b", ...)
    buffers               non-trained state saved with the model (BatchNorm's running stats)
    train() / eval()      the mode (BatchNorm behaves differently in each)

`backward` overwrites `grads` (it never accumulates), so an optimiser step is simply
`p -= lr * grads[name]` for each name in `params`.
"""
import numpy

from ..backend import array_module, get_dtype, to_device
from ..errors import DTypeError, LabelError, ShapeError


def check_labels(y, n, n_classes, where="labels"):
    """Raise unless `y` is a 1-D integer array of n labels in [0, n_classes).

    The range is checked for host (NumPy) arrays only: reading a device array's min and
    max would make every step wait for the GPU. Labels that reach the device come from
    load_dataset, which checks them once, on the host.
    """
    if not hasattr(y, "dtype") or y.dtype.kind not in "iu":
        raise DTypeError(f"{where}: expected integer class labels, got {getattr(y, 'dtype', type(y).__name__)}")
    if y.shape != (n,):
        raise ShapeError(f"{where}: expected shape ({n},) to match the batch, got {tuple(y.shape)}")
    if n and type(y) is numpy.ndarray and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise LabelError(f"{where}: values must lie in [0, {n_classes}), got min {int(y.min())}, max {int(y.max())}")


def check_input(x, where, ndim=None, size=None, dtype=None, axis=-1):
    """Raise a clear error unless `x` is a float array with `ndim` dims and `size` along `axis`.

    `where` names the layer in the message; `dtype` is the parameters' dtype, which the
    input must match (no silent up- or down-casting).
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise DTypeError(f"{where}: expected an array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise DTypeError(f"{where}: expected a float array, got dtype {x.dtype}; convert with x.astype(...)")
    if dtype is not None and x.dtype != dtype:
        raise DTypeError(f"{where}: input dtype {x.dtype} does not match the parameters' dtype {dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ShapeError(f"{where}: expected a {ndim}-D input, got shape {tuple(x.shape)}")
    if size is not None and x.shape[axis] != size:
        which = "last dimension" if axis == -1 else f"size along axis {axis}"
        raise ShapeError(f"{where}: expected {which} {size}, got shape {tuple(x.shape)}")


class Module:
    """Base class: no parameters, training mode."""

    def __init__(self):
        self.params, self.grads, self.buffers = {}, {}, {}
        self.training = True

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __repr__(self):
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


class Composite(Module):
    """A module made of named parts, `self.parts = {name: module}`; its parameters are "<part>.<name>"."""

    def __init__(self, **parts):
        self.training, self.buffers, self.parts = True, {}, parts

    @property
    def params(self):
        return {f"{p}.{k}": v for p, m in self.parts.items() for k, v in m.params.items()}

    @property
    def grads(self):
        return {f"{p}.{k}": v for p, m in self.parts.items() for k, v in m.grads.items()}


class Sequential(Module):
    """Modules applied in order. Parameter names are prefixed with the index: "0.W", "2.b"."""

    def __init__(self, *layers):
        self.layers = list(layers)
        self.training = True

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def _merged(self, attr):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in getattr(layer, attr).items()}

    @property
    def params(self):
        return self._merged("params")

    @property
    def grads(self):
        return self._merged("grads")

    @property
    def buffers(self):
        return self._merged("buffers")

    def train(self, mode=True):
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        inner = "\n".join("  " + repr(layer).replace("\n", "\n  ") for layer in self.layers)
        return f"Sequential(\n{inner}\n)"


def first_layer(module):
    """The first leaf layer of a (nested) Sequential."""
    while isinstance(module, Sequential):
        module = module.layers[0]
    return module


def skip_input_grad(module):
    """Tell `module`'s first layer that nobody needs dL/dx (the data, M's input): saves a GEMM.

    Layers without the switch (activations, Flatten) ignore it.
    """
    layer = first_layer(module)
    if hasattr(layer, "input_grad"):
        layer.input_grad = False


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.in_shape)


class Reshape(Module):
    """(N, ...) -> (N, *shape): the inverse of Flatten."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, dy):
        return dy.reshape(self.in_shape)


def parameter(a):
    """Move an initialised host array to the current backend in the default dtype."""
    return to_device(a, dtype=get_dtype())


__all__ = ["Module", "Sequential", "Flatten", "Reshape", "check_input", "parameter", "array_module"]
