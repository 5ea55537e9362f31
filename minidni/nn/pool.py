"""Max and average pooling, vectorised with conv.py's im2col / col2im window helpers."""
import numpy as np

from .conv import col2im, im2col, pair
from .module import Module, array_module, check_input


class Pool2d(Module):
    """Shared by MaxPool2d and AvgPool2d: the window geometry and the window matrix.

    `kernel_size`, `stride` (default: the kernel size) and `padding` are ints or
    (height, width) pairs. As in PyTorch, padding is at most half the kernel.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel = pair(kernel_size)
        self.stride = pair(stride) if stride is not None else self.kernel
        self.padding = pair(padding)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel)):
            raise ValueError(f"padding {padding} must be at most half the kernel size {kernel_size}")

    def windows(self, x, fill):
        """x: (N, C, H, W) -> (C, kh*kw, Ho, Wo, N), one row per kernel offset (conv.py: the batch innermost)."""
        check_input(x, type(self).__name__, ndim=4)
        self.x_shape = x.shape
        cols = im2col(x, self.kernel, self.stride, self.padding, fill)
        self.cols_shape = cols.shape
        C, kh, kw = cols.shape[:3]
        return cols.reshape(C, kh * kw, *cols.shape[3:])

    def unwindows(self, dcols):
        """dcols: (C, kh*kw, Ho, Wo, N) -> dx: (N, C, H, W), the adjoint of `windows`."""
        return col2im(dcols.reshape(self.cols_shape), self.x_shape, self.stride, self.padding)


class MaxPool2d(Pool2d):
    """x: (N, C, H, W) -> y: (N, C, Ho, Wo), the max of each window; padding counts as -inf.

    The gradient goes to the first maximum of each window; where windows overlap,
    an input that is the maximum of several collects the gradient of each.
    """

    def forward(self, x):
        """x: (N, C, H, W) -> y: (N, C, Ho, Wo); keeps a mask of each window's first maximum for backward."""
        xp = array_module(x)
        cols = self.windows(x, fill=-np.inf)                  # (C, kh*kw, Ho, Wo, N)
        y = cols.max(axis=1)                                  # a fast reduction, unlike argmax over axis 1
        # mask of the first maximum in each window, one offset at a time; for booleans a > b is a and not b
        self.mask = mask = xp.equal(cols, y[:, None])          # every maximum
        taken = mask[:, 0].copy()
        for k in range(1, cols.shape[1]):
            xp.greater(mask[:, k], taken, out=mask[:, k])     # a maximum, and none before it
            taken |= mask[:, k]
        return y.transpose(3, 0, 1, 2)

    def backward(self, dy):
        dcols = self.mask * dy.transpose(1, 2, 3, 0)[:, None]               # (C, kh*kw, Ho, Wo, N)
        return self.unwindows(dcols)


class AvgPool2d(Pool2d):
    """x: (N, C, H, W) -> y: (N, C, Ho, Wo), the mean of each window.

    Padding counts as zeros in the mean (PyTorch's default, count_include_pad=True),
    so every window divides by kh*kw and each input receives dy / (kh*kw) per window.
    """

    def forward(self, x):
        return self.windows(x, fill=0.0).mean(axis=1).transpose(3, 0, 1, 2)

    def backward(self, dy):
        k = self.kernel[0] * self.kernel[1]
        dy = dy.transpose(1, 2, 3, 0)[:, None] / k                        # (C, 1, Ho, Wo, N)
        return self.unwindows(array_module(dy).broadcast_to(dy, (dy.shape[0], k, *dy.shape[2:])))
