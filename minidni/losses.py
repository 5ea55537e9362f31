"""Losses: forward(prediction, target) -> scalar, backward() -> d loss / d prediction."""
from .backend import array_module
from .errors import ShapeError
from .nn.module import check_input, check_labels


class SoftmaxCrossEntropy:
    """Mean over the batch of -log softmax(z)[y].

    z: (N, C) logits, y: (N,) integer labels in [0, C).  Returns a 0-d array.
    backward() -> dz = (softmax(z) - onehot(y)) / N, shape (N, C).
    """

    def forward(self, z, y):
        """z: (N, C) logits, y: (N,) labels -> the mean loss (0-d); keeps log softmax(z) for backward."""
        check_input(z, "SoftmaxCrossEntropy logits", ndim=2)
        check_labels(y, z.shape[0], z.shape[1])
        xp = array_module(z)
        shifted = z - z.max(axis=1, keepdims=True)          # stable: exp never overflows
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        self.y, self.log_p = y, log_p
        return -log_p[xp.arange(len(y)), y].mean()

    def backward(self):
        xp = array_module(self.log_p)
        dz = xp.exp(self.log_p)
        dz[xp.arange(len(self.y)), self.y] -= 1
        return dz / len(self.y)


class MSE:
    """Mean over all elements of (pred - target)^2, as torch.nn.MSELoss.

    pred, target: the same shape.  backward() -> 2 (pred - target) / pred.size.
    """

    def forward(self, pred, target):
        """pred, target: the same shape -> the mean squared difference (0-d); keeps pred - target."""
        check_input(pred, "MSE prediction")
        if pred.shape != target.shape:
            raise ShapeError(f"MSE: prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        self.diff = pred - target
        d = self.diff.reshape(-1)
        return (d @ d) / d.size              # the sum of squares in one pass (a 0-d array: no host read)

    def backward(self):
        return self.diff * (2.0 / self.diff.size)
