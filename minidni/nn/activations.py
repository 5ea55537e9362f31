"""Element-wise non-linearities. Any shape in, the same shape out."""
from .module import Module, array_module


class ReLU(Module):
    """h = max(x, 0);  dx = dy * [x > 0]."""

    def forward(self, x):
        h = array_module(x).maximum(x, 0)     # one fast pass; x * (x > 0) casts the mask to float first
        self.mask = h > 0
        return h

    def backward(self, dy):
        return dy * self.mask


class Tanh(Module):
    """h = tanh(x);  dx = dy * (1 - h^2)."""

    def forward(self, x):
        self.h = array_module(x).tanh(x)
        return self.h

    def backward(self, dy):
        return dy * (1 - self.h * self.h)


def sigmoid(x):
    """1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, which never overflows. Any shape."""
    return 0.5 * (1 + array_module(x).tanh(0.5 * x))


class Sigmoid(Module):
    """h = sigmoid(x);  dx = dy * h (1 - h)."""

    def forward(self, x):
        self.h = sigmoid(x)
        return self.h

    def backward(self, dy):
        return dy * self.h * (1 - self.h)
