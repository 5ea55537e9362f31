"""The divergence guard every training loop shares (feed-forward, recurrent, MPI stages).

A run has diverged when its loss is NaN or infinite, or when it climbs above GROWTH
times its first value (the first value counted as at least 1): the first loss is about
the loss of a guess (ln 10 = 2.3 for ten classes, about 1 bit for Copy), and a healthy
run never goes a hundred times above it, while a far too large learning rate can
overflow to 1e19 without ever producing a NaN (`train --lr 1e9`).

The losses stay on the device as the steps produce them and are read in one transfer
every EVERY steps (and whenever the loop asks, at an epoch's end): a training step never
waits for the host. The error still names the first step that diverged.
"""
from ..backend import to_numpy, xp
from ..errors import DivergenceError

GROWTH = 100.0
EVERY = 50


class DivergenceGuard:
    """add(step, loss) per step; take() -> the losses read since the last take, as floats.

    Either raises DivergenceError naming the first bad step among those it reads.
    """

    def __init__(self, growth=GROWTH, every=EVERY, hint="try a smaller --lr"):
        self.growth, self.every, self.hint = growth, every, hint
        self.first, self.pending, self.values = None, [], []

    def add(self, step, loss):
        self.pending.append((step, loss))
        if len(self.pending) >= self.every:
            self._read()

    def take(self):
        self._read()
        values, self.values = self.values, []
        return values

    def _read(self):
        if not self.pending:
            return
        host = to_numpy(xp().stack([xp().asarray(loss) for _, loss in self.pending])).astype(float)
        steps = [step for step, _ in self.pending]
        self.pending = []
        for step, loss in zip(steps, host):
            if self.first is None and loss == loss and abs(loss) != float("inf"):
                self.first = max(loss, 1.0)
            if not (abs(loss) < float("inf")):
                reason = f"loss is {loss}"
            elif loss > self.growth * self.first:
                reason = f"loss {loss:.3g} is above {self.growth:g} times its first value ({self.first:.3g})"
            else:
                self.values.append(float(loss))
                continue
            raise DivergenceError(f"training diverged: {reason} at step {step}; {self.hint}")


def check_parameters(model, step):
    """Raise DivergenceError if any parameter of `model` is NaN or infinite (one host read)."""
    finite = to_numpy(xp().stack([xp().isfinite(p).all() for p in model.params.values()]))
    if not finite.all():
        name = list(model.params)[int(finite.argmin())]
        raise DivergenceError(f"training diverged: parameter {name} is not finite at step {step}; try a smaller --lr")
