"""The divergence guard every training loop shares (feed-forward, recurrent, MPI stages).

A run has diverged when its loss is NaN or infinite, or when it climbs above GROWTH
times its first value (the first value counted as at least 1): the first loss is about
the loss of a guess (ln 10 = 2.3 for ten classes, about 1 bit for Copy), and a healthy
run never goes a hundred times above it, while a far too large learning rate can
overflow to 1e19 without ever producing a NaN (`train --lr 1e9`).
"""
import math

from ..backend import to_numpy, xp
from ..errors import DivergenceError

GROWTH = 100.0


class DivergenceGuard:
    """guard(loss, step) returns the loss as a float, or raises DivergenceError naming the step."""

    def __init__(self, growth=GROWTH, hint="try a smaller --lr"):
        self.growth, self.hint, self.first = growth, hint, None

    def __call__(self, loss, step, where=""):
        loss = float(to_numpy(loss))
        if self.first is None and math.isfinite(loss):
            self.first = max(loss, 1.0)
        if not math.isfinite(loss):
            reason = f"loss is {loss}"
        elif loss > self.growth * self.first:
            reason = f"loss {loss:.3g} is above {self.growth:g} times its first value ({self.first:.3g})"
        else:
            return loss
        raise DivergenceError(f"training diverged: {reason} at step {step}{where}; {self.hint}")


def check_parameters(model, step):
    """Raise DivergenceError if any parameter of `model` is NaN or infinite (one pass, one host read)."""
    bad = [name for name, p in model.params.items() if not bool(xp().isfinite(p).all())]
    if bad:
        raise DivergenceError(f"training diverged: parameter {bad[0]} is not finite at step {step}; "
                              "try a smaller --lr")
