"""Synthetic-gradient models M (paper §2) and synthetic-input models I (§3.2).

A synthetic-gradient model predicts, from a module's output h alone (and, for cDNI,
the label c), the gradient of the loss with respect to h:

    g_hat = M(h, c)  ~  delta = dL/dh                              (paper eq. 1-2)

and is trained by L2 regression, ||g_hat - target||^2, on the true gradient or on a
bootstrapped one from further downstream.

One class serves every kind: a short stack of layers whose *last* layer is
zero-initialised, so that before any training g_hat is exactly 0 (the paper's choice:
the network starts as if no gradient arrived, not with random noise). Conditioning on
the label (cDNI) adds a learned per-class vector V[c] after the first layer. For a
linear M that equals concatenating one-hot(c) to h; for convolutional M it is a
per-class, per-channel bias map. We prefer it to one-hot extra channels because a
3x3 convolution over constant channels sees zero padding at the borders and so turns
the label into a position-dependent signal; the per-class bias is the same everywhere
and costs an index instead of a convolution over K more channels.
"""
import numpy as np

from .backend import array_module
from .losses import MSE
from .nn import BatchNorm, Conv2d, Linear, ReLU, Sequential
from .nn.module import Flatten, Reshape, parameter, skip_input_grad
from .optim import make_optimizer


class SyntheticModel(Sequential):
    """A stack of layers, the last zero-initialised; n_classes > 0 adds the cDNI class bias.

    forward(h, c=None) -> prediction;  h: (N, D) or (N, C, H, W), c: (N,) integer labels.
    backward(d) -> dh, storing grads for every layer and for "V": (n_classes, width of layer 0).
    """

    def __init__(self, layers, n_classes=0):
        super().__init__(*layers)
        self.n_classes = n_classes
        if n_classes:
            width = self.layers[0].params["b"].shape[0]
            self.V, self.dV = parameter(np.zeros((n_classes, width))), None

    def forward(self, h, c=None):
        a = self.layers[0].forward(h)
        if self.n_classes:
            if c is None:
                raise ValueError("a conditional (cDNI) synthetic model needs the labels c")
            self.c = c
            bias = self.V[c]                                  # (N, width): one learned vector per class
            a = a + bias.reshape(bias.shape + (1,) * (a.ndim - 2))
        for layer in self.layers[1:]:
            a = layer.forward(a)
        return a

    def backward(self, d):
        for layer in reversed(self.layers[1:]):
            d = layer.backward(d)
        if self.n_classes:
            xp = array_module(d)
            per_sample = d.sum(axis=tuple(range(2, d.ndim)))  # sum over H, W for maps
            onehot = xp.zeros((len(self.c), self.n_classes), dtype=d.dtype)
            onehot[xp.arange(len(self.c)), self.c] = 1
            self.dV = onehot.T @ per_sample
        return self.layers[0].backward(d)

    @property
    def params(self):
        return {**super().params, **({"V": self.V} if self.n_classes else {})}

    @property
    def grads(self):
        return {**super().grads, **({"V": self.dV} if self.n_classes else {})}


def make_synthetic_model(kind, shape, n_classes=0, hidden=None, rng=None, zero_last=True):
    """Build M for activations of `shape` (D,) or (C, H, W).

    kind: "linear" (the paper's default), "mlp" (one hidden ReLU layer of `hidden` units
    or channels), "paper" (two hidden layers with batch norm and ReLU before the output,
    as we read the paper's M for its DNI results: `hidden` defaults to 1024 units for
    vectors; 3x3 convolutions with the input's channels for maps). For maps every layer
    is a same-padded 3x3 convolution. The output has the shape of the input.
    zero_last=False gives a normally initialised last layer (the synthetic-input models use it).
    """
    last = "zeros" if zero_last else "he"
    if len(shape) == 1:
        d = shape[0]
        dense = lambda n_in, n_out, init="he": Linear(n_in, n_out, rng, init=init)    # noqa: E731
        width = {"mlp": hidden or d, "paper": hidden or 1024}
    elif len(shape) == 3:
        d = shape[0]
        dense = lambda n_in, n_out, init="he": Conv2d(n_in, n_out, 3, padding=1, rng=rng, init=init)  # noqa: E731
        width = {"mlp": hidden or d, "paper": hidden or d}
    else:
        raise ValueError(f"synthetic models take (D,) or (C, H, W) activations, got shape {shape}")
    layers = {"linear": lambda: [dense(d, d, last)],
              "mlp": lambda: [dense(d, width["mlp"]), ReLU(), dense(width["mlp"], d, last)],
              "paper": lambda: [dense(d, width["paper"]), BatchNorm(width["paper"]), ReLU(),
                                dense(width["paper"], width["paper"]), BatchNorm(width["paper"]), ReLU(),
                                dense(width["paper"], d, last)]}
    if kind not in layers:
        raise ValueError(f"unknown synthetic model kind {kind!r}: choose 'linear', 'mlp' or 'paper'")
    return SyntheticModel(layers[kind](), n_classes)


def make_input_model(in_shape, out_shape, rng=None):
    """I_i for complete unlock (§3.2): a linear map from the data x to module i's input.

    Works for any shapes (the data is flattened, the prediction reshaped). It starts at
    zero, like M, so a module first sees a zero input rather than noise.
    """
    d_in, d_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    return SyntheticModel([Flatten(), Linear(d_in, d_out, rng, init="zeros"), Reshape(out_shape)])


class Regressor:
    """A synthetic model with its own optimiser: predict now, fit to the target later.

        g_hat = M.predict(h, c)       # the module updates with this at once
        ...
        M.fit(delta)                  # when the true / bootstrapped gradient arrives

    fit() minimises ||prediction - target||^2 (mean over elements) for the prediction of
    the last predict(), and returns that L2 loss. Used for M (synthetic gradients) and
    for I (synthetic inputs) alike.
    """

    def __init__(self, model, optimizer="adam", lr=1e-4):
        self.model = model
        skip_input_grad(model)      # the L2 loss trains M only: no gradient flows back into h
        self.optimizer = make_optimizer(optimizer, model, lr)
        self.l2 = MSE()

    def predict(self, h, c=None):
        self.prediction = self.model.forward(h, c)
        return self.prediction

    def fit(self, target):
        loss = self.l2.forward(self.prediction, target)
        self.model.backward(self.l2.backward())
        self.optimizer.step()
        return loss
