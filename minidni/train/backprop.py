"""Ordinary backpropagation: the locked baseline every decoupled method is compared with."""
from ..losses import SoftmaxCrossEntropy
from ..nn.module import skip_input_grad
from ..optim import make_optimizer
from ..trace import Trace
from .dni import LR


class Backprop:
    """Trains a Sequential of modules f_1 ... f_L end to end.

    Every module is *locked*: f_i cannot update until all of f_{i+1} ... f_L have run
    forward and the gradient has come back through them (paper §1, Figure 1).
    """

    name = "backprop"

    def __init__(self, model, optimizer="adam", lr=LR, trace=None):
        self.model, self.modules = model, list(model)
        skip_input_grad(self.modules[0])          # nobody needs dL/dx for the data
        self.loss_fn = SoftmaxCrossEntropy()
        self.optimizers = [make_optimizer(optimizer, f, lr) for f in self.modules]
        self.trace = trace if trace is not None else Trace()
        self.t = 0   # training steps taken

    def step(self, x, y):
        """One training step on a batch x: (N, ...), y: (N,) integer labels. Returns the loss."""
        self.t += 1
        trace, L = self.trace, len(self.modules)
        h = x
        for i, f in enumerate(self.modules):             # forward, module by module
            with trace.event(i, "forward", self.t):
                h = f.forward(h)
                if i == L - 1:
                    loss = self.loss_fn.forward(h, y)
        delta = None
        for i in reversed(range(L)):                    # backward: f_i waits for f_{i+1}
            with trace.event(i, "backward", self.t):
                delta = self.modules[i].backward(self.loss_fn.backward() if delta is None else delta)
        for i, opt in enumerate(self.optimizers):        # update locking: only now may any f_i change
            with trace.event(i, "update", self.t):
                opt.step()
        return loss
