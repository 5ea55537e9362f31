"""Decoupled Neural Interfaces (paper §2, §3.2): every module updates with a synthetic gradient.

One step, for modules f_1 ... f_L with synthetic-gradient models M_2 ... M_L (the paper's
names: M_{i+1} sits on h_i and stands in for f_{i+1}'s backward pass; self.sgs[i - 1] here):

    for i = 1 ... L:
        h_i   = f_i(h_{i-1})                          forward
        g_hat = M_{i+1}(h_i, c)      (i < L)          sg_predict: ~ delta_i = dL/dh_i
        delta = dL/dh_L              (i = L)          the true gradient, at the top only
        d_in  = f_i.backward(g_hat)                   backward with the synthetic gradient
        update f_i                                    at once: no update lock
        fit M_i to d_in              (i > 1)          sg_update: the bootstrapped target

M_i's target is the gradient f_i sends back when it backpropagates *its own*
synthetic gradient (bootstrapping, as in TD learning); only M_L sees the true loss
gradient. With `update_prob` p < 1 each module updates on a step only with probability p
(its backward is skipped, and so is M_i's fit, which needs that backward). With
`synthetic_inputs`, module i > 1 runs on I_i(x), a prediction of its input from the data,
and I_i is fitted to the real input when module i-1 has produced it: every module then
runs forward, backward and update without waiting for any other (complete unlock).
"""

import numpy as np

from ..backend import get_dtype, xp
from ..losses import SoftmaxCrossEntropy
from ..nn import Sequential
from ..nn.module import skip_input_grad
from ..nn.norm import recompute_statistics
from ..optim import make_optimizer
from ..synthetic import Regressor, gradient_agreement, make_input_model, make_synthetic_model
from ..trace import Trace

# The defaults of the network's, M's and I's learning rates: what the validation search chose
# on digits, 4-layer FCN (figures/results.md, written by `python -m minidni figures --only results`).
LR, SG_LR, INPUT_LR = 3e-3, 3e-4, 3e-2


def output_shapes(modules, input_shape):
    """The per-sample output shape of each module, from one forward pass in eval mode."""
    shapes, h = [], xp().zeros((2,) + tuple(input_shape), dtype=get_dtype())
    for f in modules:
        was_training = f.training
        h = f.eval().forward(h)
        f.train(was_training)
        shapes.append(tuple(h.shape[1:]))
    return shapes


def group(modules, cuts):
    """Merge consecutive modules so that a synthetic gradient sits only after the `cuts`.

    cuts: indices i (0-based) of the modules after which to decouple; None = every one.
    """
    if cuts is None:
        return list(modules)
    cuts = sorted(set(cuts))
    if not all(0 <= c < len(modules) - 1 for c in cuts):
        raise ValueError(f"cut points must lie in [0, {len(modules) - 2}], got {cuts}")
    groups, start = [], 0
    for c in cuts + [len(modules) - 1]:
        part = list(modules[start:c + 1])
        groups.append(part[0] if len(part) == 1 else Sequential(*part))
        start = c + 1
    return groups


class DNI:
    """Trains `model` (a Sequential of modules) with a synthetic gradient after each module.

    input_shape, n_classes: of the data. conditional=True is cDNI (M also sees the label).
    sg_kind "linear" | "mlp" | "paper"; sg_condition "bias" | "channels" is how a cDNI M
    sees the label (minidni.synthetic); sg_scale multiplies g_hat before the module uses it.
    synthetic_inputs=True adds the input models I (complete unlock), trained with
    sg_optimizer at input_lr: they regress activations of order 1, not gradients of
    order 1/N, so they want a larger step than M.
    diagnose_every=k > 0 appends sg_quality() to `diagnostics` every k steps.
    """

    name = "dni"

    def __init__(self, model, input_shape, n_classes, optimizer="adam", lr=LR, conditional=False,
                 sg_kind="linear", sg_hidden=None, sg_condition="bias", sg_optimizer="adam", sg_lr=SG_LR,
                 sg_scale=1.0, update_prob=1.0, cuts=None, synthetic_inputs=False, input_lr=INPUT_LR, diagnose_every=0,
                 rng=None, trace=None):
        if not 0 < update_prob <= 1:
            raise ValueError(f"update probability must lie in (0, 1], got {update_prob}")
        self.model, self.modules = model, group(list(model), cuts)
        if len(self.modules) < 2:
            raise ValueError("DNI needs at least two modules to decouple")
        skip_input_grad(self.modules[0])          # nobody needs dL/dx for the data
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.conditional, self.sg_scale, self.update_prob = conditional, sg_scale, update_prob
        shapes = output_shapes(self.modules, input_shape)
        self.sgs = [Regressor(make_synthetic_model(sg_kind, shape, n_classes if conditional else 0, sg_hidden,
                                                   self.rng, condition=sg_condition), sg_optimizer, sg_lr)
                    for shape in shapes[:-1]]
        self.input_models = None
        if synthetic_inputs:
            self.input_models = [Regressor(make_input_model(input_shape, shape, self.rng), sg_optimizer, input_lr)
                                 for shape in shapes[:-1]]      # I_{i+1} predicts module i+1's input
        self.optimizers = [make_optimizer(optimizer, f, lr) for f in self.modules]
        self.loss_fn = SoftmaxCrossEntropy()
        self.trace = trace if trace is not None else Trace()
        self.diagnose_every, self.diagnostics = diagnose_every, []
        self.t = 0

    def step(self, x, y):
        """One decoupled training step on x: (N, ...), y: (N,). Returns the loss at the top."""
        self.t += 1
        t, trace, L = self.t, self.trace, len(self.modules)
        if self.diagnose_every and (t == 1 or t % self.diagnose_every == 0):
            self.diagnostics.append({"step": t, "modules": self.sg_quality(x, y)})
        c = y if self.conditional else None
        updates = self.rng.random(L) < self.update_prob if self.update_prob < 1 else [True] * L
        h = x
        for i, f in enumerate(self.modules):
            if self.input_models is not None and i > 0:
                with trace.event(i, "input_predict", t):
                    h_real, h = h, self.input_models[i - 1].predict(x)   # I_i(x) stands in for h_{i-1}
            with trace.event(i, "forward", t):
                h_out = f.forward(h)
                if i == L - 1:
                    loss = self.loss_fn.forward(h_out, y)
            if i < L - 1:
                with trace.event(i, "sg_predict", t):
                    g_hat = self.sgs[i].predict(h_out, c)
            if updates[i]:
                with trace.event(i, "backward", t):
                    d_in = f.backward(self.sg_scale * g_hat if i < L - 1 else self.loss_fn.backward())
                with trace.event(i, "update", t):
                    self.optimizers[i].step()
                if i > 0:
                    with trace.event(i - 1, "sg_update", t):
                        self.sgs[i - 1].fit(d_in)                    # bootstrapped target for M_i (paper)
            if self.input_models is not None and i > 0:
                with trace.event(i, "input_update", t):
                    self.input_models[i - 1].fit(h_real)            # the real input has arrived
            h = h_out
        return loss

    def prepare_evaluation(self, x, batch_size=500):
        """Complete unlock trains module i on I_i(x), so its BatchNorm statistics describe the
        synthetic inputs; evaluation runs the real chain, so recompute them on it first."""
        if self.input_models is not None:
            recompute_statistics(self.model, (x[i:i + batch_size] for i in range(0, len(x), batch_size)))

    def sg_quality(self, x, y):
        """Per decoupled module i: cosine and relative error of M_i's g_hat against true delta_i.

        delta_i comes from ordinary backprop on the same batch with the current
        parameters. Nothing the training depends on changes (BatchNorm's running
        statistics are restored afterwards).
        """
        saved = [{k: v.copy() for k, v in f.buffers.items()} for f in self.modules]
        hs, h = [], x
        for f in self.modules:
            h = f.forward(h)
            hs.append(h)
        self.loss_fn.forward(h, y)
        delta, deltas = self.loss_fn.backward(), [None] * len(self.modules)
        for i in reversed(range(len(self.modules))):
            deltas[i] = delta
            delta = self.modules[i].backward(delta)
        for f, bufs in zip(self.modules, saved):
            for k, v in f.buffers.items():
                v[...] = bufs[k]
        c = y if self.conditional else None
        out = []
        for i, sg in enumerate(self.sgs):
            out.append({"module": i, **gradient_agreement(sg.model.forward(hs[i], c), deltas[i])})
        return out


class CDNI(DNI):
    """cDNI: DNI whose synthetic-gradient models also see the one-hot label (paper §3.2)."""

    name = "cdni"

    def __init__(self, model, input_shape, n_classes, **options):
        super().__init__(model, input_shape, n_classes, conditional=True, **options)


