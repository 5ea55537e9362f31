"""Batch normalisation (Ioffe & Szegedy 2015) for feature vectors and feature maps."""
import numpy as np

from ..errors import ShapeError
from .module import Module, check_input, parameter


class BatchNorm(Module):
    """x: (N, D) or (N, C, H, W) -> y: the same shape.  gamma, beta: (D,) or (C,).

    y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps), with statistics per
    feature (over N) or per channel (over N, H, W). Training uses the batch's statistics
    and updates buffers["running_mean"] and buffers["running_var"] as
    running = (1 - momentum) * running + momentum * batch (the unbiased variance, as in
    PyTorch); eval mode normalises with the running statistics instead.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.params["gamma"] = parameter(np.ones(num_features))
        self.params["beta"] = parameter(np.zeros(num_features))
        self.buffers["running_mean"] = parameter(np.zeros(num_features))
        self.buffers["running_var"] = parameter(np.ones(num_features))
        self.momentum, self.eps = momentum, eps

    def forward(self, x):
        """x: (N, D) or (N, C, H, W) -> y, the same shape; in training mode also updates the running statistics."""
        gamma, beta = self.params["gamma"], self.params["beta"]
        check_input(x, "BatchNorm", dtype=gamma.dtype)
        if x.ndim not in (2, 4) or x.shape[1] != gamma.shape[0]:
            raise ShapeError(f"BatchNorm: expected (N, {gamma.shape[0]}) or (N, {gamma.shape[0]}, H, W), "
                             f"got shape {tuple(x.shape)}")
        self.axes = (0,) if x.ndim == 2 else (0, 2, 3)
        self.n = x.size // x.shape[1]                           # values per feature
        self.batch_stats = self.training                        # backward differs in the two modes
        if self.training and self.n < 2:
            raise ShapeError(f"BatchNorm: training needs more than one value per feature, got shape {tuple(x.shape)}")
        if self.training:
            mean, var = x.mean(axis=self.axes), x.var(axis=self.axes)
            for name, batch in (("running_mean", mean), ("running_var", var * self.n / (self.n - 1))):
                self.buffers[name] *= 1 - self.momentum
                self.buffers[name] += self.momentum * batch
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self.per_feature = (1, -1) + (1,) * (x.ndim - 2)        # broadcasts a (D,) vector against x
        self.std = (var + self.eps) ** 0.5
        self.xhat = x - mean.reshape(self.per_feature)
        self.xhat /= self.std.reshape(self.per_feature)          # in place: the same arithmetic, fewer new arrays
        y = gamma.reshape(self.per_feature) * self.xhat
        y += beta.reshape(self.per_feature)
        return y

    def backward(self, dy):
        """dy: the shape of x -> dx; stores dgamma, dbeta: (D,) or (C,). In eval mode mean and std are constants."""
        self.grads["gamma"] = (dy * self.xhat).sum(axis=self.axes)
        self.grads["beta"] = dy.sum(axis=self.axes)
        scale = (self.params["gamma"] / self.std).reshape(self.per_feature)
        if not self.batch_stats:                                # mean and std are constants in eval mode
            return scale * dy
        # dx = gamma / (n std) * (n dxhat - sum dxhat - xhat sum(dxhat xhat)) with dxhat = gamma dy,
        # whose two sums are the beta and gamma gradients already computed
        dgamma, dbeta = (self.grads[k].reshape(self.per_feature) for k in ("gamma", "beta"))
        dx = self.n * dy
        dx -= dbeta
        dx -= self.xhat * dgamma
        dx *= scale / self.n                                    # in place, as in forward
        return dx


def recompute_statistics(model, batches):
    """Set every BatchNorm's running statistics in `model` to their average over `batches`.

    Each batch runs forward in training mode (no backward, no update); the running mean
    and variance become the equal-weight average of the batches' statistics (the k-th
    batch enters with momentum 1/k), as torch.optim.swa_utils.update_bn does. Used where
    the statistics gathered in training came from other inputs than the ones the model
    is evaluated on (complete unlock trains module i on I_i(x), not on h_{i-1}).
    """
    norms = [m for m in _modules(model) if isinstance(m, BatchNorm)]
    saved = [m.momentum for m in norms]
    was_training = model.training
    model.train()
    for k, x in enumerate(batches, start=1):
        for m in norms:
            m.momentum = 1.0 / k
        model.forward(x)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.train(was_training)


def _modules(module):
    yield module
    for child in getattr(module, "layers", ()):
        yield from _modules(child)
