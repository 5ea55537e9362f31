"""Fully connected layer: h = x W + b."""
import numpy as np

from .init import initialise
from .module import Module, check_input, parameter


class Linear(Module):
    """x: (N, D_in) -> h: (N, D_out).  W: (D_in, D_out), b: (D_out,).

    `rng` (numpy.random.Generator) draws the initial weights; `init` is "he",
    "xavier" or "zeros". The bias starts at zero. With `input_grad = False`, backward
    skips dx (returns None): a network's first layer and M's input need none.
    """

    input_grad = True

    def __init__(self, in_features, out_features, rng=None, init="he"):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["W"] = parameter(initialise(init, rng, (in_features, out_features), in_features, out_features))
        self.params["b"] = parameter(np.zeros(out_features))

    def forward(self, x):
        """x: (N, D_in) -> h = x W + b: (N, D_out); keeps x for backward."""
        W, b = self.params["W"], self.params["b"]
        check_input(x, "Linear", ndim=2, size=W.shape[0], dtype=W.dtype)
        self.x = x
        h = x @ W
        h += b                                # in place: one pass, no second (N, D_out) array
        return h

    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy       # (D_in, N) @ (N, D_out)
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T if self.input_grad else None   # (N, D_out) @ (D_out, D_in)
