"""Optimisers walk a module's `params` and `grads` (same keys) and update in place."""
from .backend import array_module


class Optimizer:
    """Holds the module and per-parameter state; `step()` applies one update."""

    def __init__(self, module, lr):
        self.module, self.lr, self.t = module, lr, 0
        self.state = {}   # "<slot>/<param name>" -> array, e.g. "v/0.W"
        self.scratch = {}  # work arrays reused every step (not state: never saved)

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

    def work(self, name, like, k=0):
        """Scratch array k for parameter `name`: the update writes its temporaries here, not to new arrays."""
        key = (k, name)
        if key not in self.scratch:
            self.scratch[key] = array_module(like).empty_like(like)
        return self.scratch[key]


class SGD(Optimizer):
    """v <- momentum v + g;  p <- p - lr v   (PyTorch's convention; momentum=0 is plain SGD)."""

    def __init__(self, module, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(module, lr)
        self.momentum, self.weight_decay = momentum, weight_decay

    def update(self, name, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = self.slot("v", name, p)
            v *= self.momentum
            v += g
            g = v
        p -= self.lr * g


class Adam(Optimizer):
    """Kingma & Ba 2015: bias-corrected first and second moments."""

    def __init__(self, module, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(module, lr)
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps

    def update(self, name, p, g):
        xp = array_module(p)
        m, v = self.slot("m", name, p), self.slot("v", name, p)
        s, d = self.work(name, p, 0), self.work(name, p, 1)    # out= below: the same arithmetic, no new arrays
        m *= self.beta1
        m += xp.multiply(g, 1 - self.beta1, out=s)              # m = b1 m + (1 - b1) g
        v *= self.beta2
        xp.multiply(g, 1 - self.beta2, out=s)
        s *= g
        v += s                                                  # v = b2 v + (1 - b2) g g
        xp.sqrt(xp.divide(v, 1 - self.beta2 ** self.t, out=d), out=d)
        d += self.eps                                           # d = sqrt(v_hat) + eps
        xp.divide(m, 1 - self.beta1 ** self.t, out=s)           # s = m_hat
        s *= self.lr
        s /= d
        p -= s                                                  # p -= lr m_hat / (sqrt(v_hat) + eps)


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


def make_optimizer(name, module, lr, momentum=0.9):
    """Build "sgd" or "adam" for `module` (used by the trainers and the CLI)."""
    if name == "sgd":
        return SGD(module, lr=lr, momentum=momentum)
    if name == "adam":
        return Adam(module, lr=lr)
    raise ValueError(f"unknown optimiser {name!r}: choose 'sgd' or 'adam'")
