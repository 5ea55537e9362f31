"""Synthetic-gradient models M (paper §2) and synthetic-input models I (§3.2).

A synthetic-gradient model predicts, from a module's output h alone (and, for cDNI,
the label c), the gradient of the loss with respect to h:

    g_hat = M(h, c)  ~  delta = dL/dh                              (paper eq. 1-2)

and is trained by L2 regression, ||g_hat - target||^2, on the true gradient or on a
bootstrapped one from further downstream.

One class serves every kind: a short stack of layers whose *last* layer is
zero-initialised, so that before any training g_hat is exactly 0 (the paper's choice:
the network starts as if no gradient arrived, not with random noise). Conditioning on
the label (cDNI) takes one of two forms, `condition`:

- "bias" (our default): a learned per-class vector V[c] added after the first layer. For
  a linear M that equals concatenating one-hot(c) to h; for a convolutional M it is a
  per-class, per-channel bias map, the same at every position, and costs an index.
- "channels" (as we read the paper's conv cDNI): one-hot(c) tiled over H x W and
  concatenated to h as K extra input channels (K extra inputs for vectors). A padded
  convolution over these constant channels sees zeros beyond the border, so near the
  edges the label's effect depends on position; for vectors the two forms are the same
  function.
"""
import math

import numpy as np

from .backend import array_module, to_numpy
from .losses import MSE
from .nn import BatchNorm, Conv2d, Linear, ReLU, Sequential
from .nn.module import Flatten, Reshape, parameter, skip_input_grad
from .optim import make_optimizer

SG_KINDS = ("linear", "mlp", "paper")       # make_synthetic_model's kinds of M
SG_CONDITIONS = ("bias", "channels")       # how a cDNI M sees the label


def label_channels(h, c, n_classes):
    """h (N, C, ...) with one-hot(c) appended as n_classes constant channels: (N, C + K, ...)."""
    xp = array_module(h)
    onehot = xp.zeros((len(c), n_classes) + h.shape[2:], dtype=h.dtype)
    onehot[xp.arange(len(c)), c] = 1                    # class c's channel is 1 at every position
    return xp.concatenate([h, onehot], axis=1)


class SyntheticModel(Sequential):
    """A stack of layers, the last zero-initialised; n_classes > 0 conditions on the label
    (cDNI) by `condition`: "bias" (a learned V[c] after the first layer) or "channels"
    (one-hot(c) as extra inputs of the first layer, which must take C + n_classes of them).

    forward(h, c=None) -> prediction;  h: (N, D) or (N, C, H, W), c: (N,) integer labels.
    backward(d) -> dh, storing grads for every layer and, with "bias", "V": (n_classes, width of layer 0).
    """

    def __init__(self, layers, n_classes=0, condition="bias"):
        super().__init__(*layers)
        if condition not in SG_CONDITIONS:
            raise ValueError(f"unknown label conditioning {condition!r}: choose one of {', '.join(SG_CONDITIONS)}")
        self.n_classes, self.condition = n_classes, condition
        self.bias = bool(n_classes) and condition == "bias"
        if self.bias:
            width = self.layers[0].params["b"].shape[0]
            self.V, self.dV = parameter(np.zeros((n_classes, width))), None

    def forward(self, h, c=None):
        """h: (N, ...), c: (N,) integer labels or None -> the prediction: (N, ...), h's shape for an M."""
        if self.n_classes and c is None:
            raise ValueError("a conditional (cDNI) synthetic model needs the labels c")
        self.c, self.width = c, h.shape[1]
        if self.n_classes and not self.bias:
            h = label_channels(h, c, self.n_classes)         # (N, C + K, ...)
        a = self.layers[0].forward(h)
        if self.bias:
            bias = self.V[c]                                  # (N, width): one learned vector per class
            a = a + bias.reshape(bias.shape + (1,) * (a.ndim - 2))
        for layer in self.layers[1:]:
            a = layer.forward(a)
        return a

    def backward(self, d):
        """d: (N, ...) on the prediction -> dh: (N, ...) on h (None if the first layer gives none)."""
        for layer in reversed(self.layers[1:]):
            d = layer.backward(d)
        if self.bias:
            xp = array_module(d)
            per_sample = d.sum(axis=tuple(range(2, d.ndim)))  # sum over H, W for maps
            onehot = xp.zeros((len(self.c), self.n_classes), dtype=d.dtype)
            onehot[xp.arange(len(self.c)), self.c] = 1
            self.dV = onehot.T @ per_sample
        dh = self.layers[0].backward(d)
        return dh if dh is None else dh[:, :self.width]      # the label channels need no gradient

    @property
    def params(self):
        return {**super().params, **({"V": self.V} if self.bias else {})}

    @property
    def grads(self):
        return {**super().grads, **({"V": self.dV} if self.bias else {})}


def make_synthetic_model(kind, shape, n_classes=0, hidden=None, rng=None, zero_last=True, condition="bias"):
    """Build M for activations of `shape` (D,) or (C, H, W).

    kind: "linear" (the paper's default), "mlp" (one hidden ReLU layer of `hidden` units
    or channels), "paper" (two hidden layers with batch norm and ReLU before the output,
    as we read the paper's M for its DNI results: `hidden` defaults to 1024 units for
    vectors, and for maps to 128 channels of 5x5 convolutions). The other maps' layers
    are same-padded 3x3 convolutions. The output has the shape of the input.
    n_classes > 0 conditions on the label by `condition` ("bias" or "channels", see above).
    zero_last=False gives a He-initialised last layer, for the gradient checks (a zero last layer
    would hide the earlier layers' gradients); M itself and the synthetic-input models I start at zero.
    """
    last = "zeros" if zero_last else "he"
    extra = n_classes if n_classes and condition == "channels" else 0      # label inputs of layer 0
    if len(shape) == 1:
        d = shape[0]
        dense = lambda n_in, n_out, init="he", k=None: Linear(n_in, n_out, rng, init=init)    # noqa: E731
        width, k = {"mlp": hidden or d, "paper": hidden or 1024}, None
    elif len(shape) == 3:
        d = shape[0]
        dense = lambda n_in, n_out, init="he", k=3: Conv2d(n_in, n_out, k, padding=k // 2,  # noqa: E731
                                                           rng=rng, init=init)
        width, k = {"mlp": hidden or d, "paper": hidden or 128}, 5
    else:
        raise ValueError(f"synthetic models take (D,) or (C, H, W) activations, got shape {shape}")
    w = width["paper"]
    layers = {"linear": lambda: [dense(d + extra, d, last)],
              "mlp": lambda: [dense(d + extra, width["mlp"]), ReLU(), dense(width["mlp"], d, last)],
              "paper": lambda: [dense(d + extra, w, k=k), BatchNorm(w), ReLU(),
                                dense(w, w, k=k), BatchNorm(w), ReLU(), dense(w, d, last, k=k)]}
    if kind not in SG_KINDS:
        raise ValueError(f"unknown synthetic model kind {kind!r}: choose one of {', '.join(SG_KINDS)}")
    return SyntheticModel(layers[kind](), n_classes, condition)


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


def gradient_agreement(g_hat, delta):
    """{"cosine", "relative_error"} of a synthetic gradient against the true one, over all entries:
    cos = <g_hat, delta> / (|g_hat| |delta|) (0 where either is 0), |g_hat - delta| / |delta|."""
    gd, gg, dd = (float(to_numpy((a * b).sum())) for a, b in ((g_hat, delta), (g_hat, g_hat), (delta, delta)))
    return {"cosine": gd / math.sqrt(gg * dd) if gg > 0 and dd > 0 else 0.0,
            "relative_error": math.sqrt(max(gg - 2 * gd + dd, 0.0) / dd) if dd > 0 else 0.0}
