"""Optimisers walk a module's `params` and `grads` (same keys) and update in place."""
from .backend import array_module


class Optimizer:
    """Holds the module and per-parameter state; `step()` applies one update."""

    def __init__(self, module, lr):
        self.module, self.lr, self.t = module, lr, 0
        self.state = {}   # "<slot>/<param name>" -> array, e.g. "v/0.W"

    def step(self):
        self.t += 1
        grads = self.module.grads
        for name, p in self.module.params.items():
            self.update(name, p, grads[name])

    def slot(self, kind, name, like):
        """The optimiser's state array `kind` for parameter `name`, created as zeros."""
        key = f"{kind}/{name}"
        if key not in self.state:
            self.state[key] = array_module(like).zeros_like(like)
        return self.state[key]


class SGD(Optimizer):
    """v <- momentum v + g;  p <- p - lr v   (PyTorch's convention; momentum=0 is plain SGD)."""

    def __init__(self, module, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(module, lr)
        self.momentum, self.weight_decay = momentum, weight_decay

    def update(self, name, p, g):
        """g <- g + weight_decay p;  v <- momentum v + g;  p <- p - lr v."""
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = self.slot("v", name, p)                            # updated in place: it is the state
            v[...] = self.momentum * v + g
            g = v
        p -= self.lr * g


class Adam(Optimizer):
    """Kingma & Ba 2015: bias-corrected first and second moments."""

    def __init__(self, module, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(module, lr)
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps

    def update(self, name, p, g):
        """m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - lr m_hat / (sqrt(v_hat) + eps)."""
        b1, b2, t = self.beta1, self.beta2, self.t
        m, v = self.slot("m", name, p), self.slot("v", name, p)   # updated in place: they are the state
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p -= self.lr * m_hat / (array_module(p).sqrt(v_hat) + self.eps)


def clip_grad_norm(module, max_norm):
    """Scale every gradient of `module` in place so that their joint L2 norm is at most max_norm,
    as torch.nn.utils.clip_grad_norm_ (the usual guard of LSTM language models). Returns the norm
    before clipping, a scalar of the backend (no host sync on a GPU)."""
    grads = list(module.grads.values())
    xp = array_module(grads[0])
    norm = xp.sqrt(sum((g * g).sum() for g in grads))
    scale = xp.minimum(1.0, max_norm / (norm + 1e-6))          # torch adds the same 1e-6
    for g in grads:
        g *= scale.astype(g.dtype)
    return norm


OPTIMIZERS = ("adam", "sgd")


def make_optimizer(name, module, lr, momentum=0.9):
    """Build "sgd" or "adam" for `module` (used by the trainers and the CLI)."""
    if name == "sgd":
        return SGD(module, lr=lr, momentum=momentum)
    if name == "adam":
        return Adam(module, lr=lr)
    raise ValueError(f"unknown optimiser {name!r}: choose one of {', '.join(OPTIMIZERS)}")
