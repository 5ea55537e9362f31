"""2-D convolution by im2col: gather every kernel window into one matrix, then one GEMM.

Memory layout. Inside the conv and pooling layers the batch is the innermost axis:
activations live in (C, H, W, N) memory and the window matrix `cols` is laid out
(C, kh, kw, Ho, Wo, N). Slicing one kernel offset out of (C, H, W, N) keeps W and N
together, so every copy in im2col and col2im moves runs of Wo*N (stride 1) or N
numbers at a time, not rows of Wo: NumPy pays a fixed cost per run, and with rows of
14 that cost was most of the layer. The reshape of `cols` to the GEMM operand
(C*kh*kw, Ho*Wo*N) is free and the GEMM result (F, Ho*Wo*N) is already the output in
that layout. Outputs are returned as (N, F, Ho, Wo) views of the (F, Ho, Wo, N)
memory rather than copied to NCHW order: element-wise layers keep the layout, and the
next conv or pooling layer, which wants it, transposes back for free. Gradients flow
back the same way, so a stack of conv, pooling and activation layers makes no
transposing copies.
"""
import numpy as np

from ..errors import ShapeError
from .init import initialise
from .module import Module, array_module, check_input, parameter


def pair(k):
    """An int k -> (k, k); a pair -> a tuple."""
    return (k, k) if np.isscalar(k) else tuple(k)


def im2col(x, kernel, stride=1, padding=0, fill=0.0):
    """x: (N, C, H, W) -> cols: (C, kh, kw, Ho, Wo, N), cols[c, i, j, r, s, n] = xpad[n, c, sh*r + i, sw*s + j].

    `kernel`, `stride`, `padding` are ints or (height, width) pairs; the border is
    padded with `fill` (0 for convolution, -inf for max pooling).
    """
    xp = array_module(x)
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    if Ho < 1 or Wo < 1:
        raise ShapeError(f"a {kh}x{kw} window does not fit input {tuple(x.shape)} with padding {padding}")
    xt = x.transpose(1, 2, 3, 0)                      # (C, H, W, N): free for the output of a conv or pooling layer
    if ph or pw:
        xt = xp.pad(xt, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=fill)
    else:                                             # NCHW input (the data): one copy, then every slice is fast
        xt = xp.ascontiguousarray(xt)
    cols = xp.empty((C, kh, kw, Ho, Wo, N), dtype=x.dtype)
    for i in range(kh):                               # loop over kernel offsets only: each is one strided-slice copy
        for j in range(kw):
            cols[:, i, j] = xt[:, i:i + sh * Ho:sh, j:j + sw * Wo:sw]
    return cols


def col2im(cols, x_shape, stride=1, padding=0):
    """The adjoint of im2col: cols: (C, kh, kw, Ho, Wo, N) -> dx: (N, C, H, W), summed where windows overlap."""
    xp = array_module(cols)
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    C, kh, kw, Ho, Wo, N = cols.shape
    H, W = x_shape[2:]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    overlap = sh < kh or sw < kw
    tiled = (sh, sw) == (kh, kw) and (Ho * kh, Wo * kw) == (Hp, Wp)    # the windows cover the input once
    dxt = (xp.empty if tiled else xp.zeros)((C, Hp, Wp, N), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            window = dxt[:, i:i + sh * Ho:sh, j:j + sw * Wo:sw]
            if overlap:
                window += cols[:, i, j]
            else:                                     # windows apart: each input gets one value, written not added
                window[...] = cols[:, i, j]
    return dxt[:, ph:ph + H, pw:pw + W].transpose(3, 0, 1, 2)


class Conv2d(Module):
    """x: (N, C, H, W) -> y: (N, F, Ho, Wo).  W: (F, C, kh, kw), b: (F,).

    Ho = (H + 2 padding - kh) // stride + 1, and likewise Wo. `kernel_size`, `stride`
    and `padding` are ints or (height, width) pairs. `rng` (numpy.random.Generator)
    draws the initial weights; `init` is "he", "xavier" or "zeros". The bias starts at zero.
    With `input_grad = False`, backward skips dx (returns None): a network's first layer
    needs none, and that saves a GEMM and the col2im scatter.
    """

    input_grad = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None, init="he"):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        kh, kw = pair(kernel_size)
        shape = (out_channels, in_channels, kh, kw)
        self.params["W"] = parameter(initialise(init, rng, shape, in_channels * kh * kw, out_channels * kh * kw))
        self.params["b"] = parameter(np.zeros(out_channels))
        self.stride, self.padding = stride, padding

    def forward(self, x):
        """x: (N, C, H, W) -> y: (N, F, Ho, Wo), a view of (F, Ho, Wo, N) memory; keeps the window matrix."""
        W, b = self.params["W"], self.params["b"]
        F, C, kh, kw = W.shape
        check_input(x, "Conv2d", ndim=4, size=C, axis=1, dtype=W.dtype)
        self.x_shape = x.shape
        self.cols = im2col(x, (kh, kw), self.stride, self.padding)      # (C, kh, kw, Ho, Wo, N)
        Ho, Wo, N = self.cols.shape[3:]
        y = W.reshape(F, -1) @ self.cols.reshape(C * kh * kw, -1)       # (F, C*kh*kw) @ (C*kh*kw, Ho*Wo*N)
        y += b[:, None]
        return y.reshape(F, Ho, Wo, N).transpose(3, 0, 1, 2)

    def backward(self, dy):
        """dy: (N, F, Ho, Wo) -> dx: (N, C, H, W) (None without input_grad); stores dW: (F, C, kh, kw), db: (F,)."""
        W = self.params["W"]
        F = W.shape[0]
        dy = dy.transpose(1, 2, 3, 0).reshape(F, -1)                    # (F, Ho*Wo*N)
        cols = self.cols.reshape(-1, dy.shape[1])                       # (C*kh*kw, Ho*Wo*N)
        # dW = dy cols^T, computed as (cols dy^T)^T: the same sum, and OpenBLAS runs this orientation faster
        self.grads["W"] = (cols @ dy.T).T.reshape(W.shape)              # ((C*kh*kw, Ho*Wo*N) @ (Ho*Wo*N, F))^T
        self.grads["b"] = dy.sum(axis=1)
        if not self.input_grad:
            return None
        dcols = W.reshape(F, -1).T @ dy                                 # (C*kh*kw, F) @ (F, Ho*Wo*N)
        return col2im(dcols.reshape(self.cols.shape), self.x_shape, self.stride, self.padding)
