"""Decoupled Neural Interfaces (paper §2, §3.2): every module updates with a synthetic gradient.

One step, for modules f_1 ... f_L with synthetic-gradient models M_2 ... M_L, in the
paper's names (`DNI.step` is these lines):

    for i = 1 ... L:
        h_i   = f_i(h_{i-1})                          forward (h_0 = x)
        g_hat_i = M_{i+1}(h_i, c)    (i < L)          sg_predict: ~ delta_i = dL/dh_i
        delta_L = dL/dh_L            (i = L)          the true gradient, at the top only
        d_in  = f_i.backward(g_hat_i)                 backward with the synthetic gradient
        update f_i                                    at once: no update lock
        fit M_i to d_in              (i > 1)          sg_update: the bootstrapped target

Python lists count from 0 and the paper from 1: f_i is `self.modules[i - 1]`, and its row
in the trace is i - 1. The models are dicts keyed by the paper's index: `self.M[i + 1]` is
M_{i+1}, which sits on h_i, and `self.I[i + 1]` is I_{i+1}, which predicts h_i from x.

M_i's target is the gradient f_i sends back when it backpropagates *its own*
synthetic gradient (bootstrapping, as in TD learning); only M_L sees the true loss
gradient. With `update_prob` p < 1 each module updates on a step only with probability p
(its backward is skipped, and so is M_i's fit, which needs that backward). With
`complete_unlock`, module i > 1 runs on I_i(x), a prediction of its input h_{i-1} from the
data, and I_i is fitted to the real h_{i-1} when f_{i-1} has produced it: every module then
runs forward, backward and update without waiting for any other (complete unlock).
"""

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backend import get_dtype, xp
from ..errors import UserError
from ..losses import SoftmaxCrossEntropy
from ..nn import Sequential
from ..nn.module import skip_input_grad
from ..nn.norm import recompute_statistics
from ..optim import OPTIMIZERS, make_optimizer
from ..options import check_at_least, check_choices, check_positive, check_types, option
from ..synthetic import SG_CONDITIONS, SG_KINDS, Regressor, gradient_agreement, make_input_model, make_synthetic_model
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


@dataclass
class SGOptions:
    """How DNI trains: its keyword arguments, each declared once, here.

    Every config that trains with DNI (TrainConfig, the parallel Config) inherits these
    fields and hands them on unchanged: `DNI(model, ..., **config.sg_options())`. The
    help texts are what the command line shows.
    """
    optimizer: str = option("adam", "optimiser of the network", choices=OPTIMIZERS)
    lr: float = option(LR, "learning rate of the network")
    sg: str = option("linear", "dni, cdni: synthetic-gradient model M: linear; mlp (one hidden layer); paper "
                               "(two hidden layers with batch norm)", choices=SG_KINDS)
    sg_hidden: Optional[int] = option(None, "dni, cdni: hidden width of an mlp or paper M",
                                      default_text="the activation's; a paper M: 1024 units for vectors, "
                                                   "128 channels (5x5) for maps")
    sg_condition: str = option("bias", "cdni: how M sees the label: bias (a learned vector per class after M's "
                                       "first layer) or channels (one-hot label as extra inputs, the paper's "
                                       "conv form)", choices=SG_CONDITIONS)
    sg_optimizer: str = option("adam", "dni, cdni: optimiser of M (and of I)", choices=OPTIMIZERS)
    sg_lr: float = option(SG_LR, "dni, cdni: learning rate of M")
    sg_scale: float = option(1.0, "dni, cdni: multiply g_hat by this before use")
    update_prob: float = option(1.0, "dni, cdni: each module updates on a step with this probability (paper's p)")
    complete_unlock: bool = option(False, "dni, cdni: also predict each module's input from the data "
                                          "(synthetic inputs I, paper §3.2)")
    input_lr: float = option(INPUT_LR, "dni, cdni: learning rate of the synthetic-input models I")
    diagnose_every: int = option(0, "dni, cdni: every K steps compare each g_hat with the true gradient "
                                     "(cosine, in the result's sg_quality; 0: never)")

    def check(self):
        """Raise UserError naming the first of these options no run could use; returns self.

        Every field of the config is checked against its type first (check_types), those of a
        subclass too."""
        check_types(self)
        check_choices(self)
        check_at_least(self, 1, "sg_hidden")
        check_at_least(self, 0, "diagnose_every")
        check_positive(self, "lr")
        check_positive(self, "sg_lr", "input_lr", "sg_scale", zero_ok=True)     # 0: M (or I) frozen, a control
        if not 0 < self.update_prob <= 1:
            raise UserError(f"--update-prob must lie in (0, 1], got {self.update_prob}")
        return self

    def sg_options(self):
        """These fields of a config that inherits them, as DNI's keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(SGOptions)}


class DNI:
    """Trains `model` (a Sequential of modules) with a synthetic gradient after each module.

    input_shape, n_classes: of the data. conditional=True is cDNI (M also sees the label).
    cuts: decouple only after these modules (`group`). options: the fields of SGOptions,
    by name (M's kind, optimisers and learning rates, p, complete unlock, ...).
    The input models I of complete unlock train with sg_optimizer at input_lr: they regress
    activations of order 1, not gradients of order 1/N, so they want a larger step than M.
    diagnose_every=k > 0 appends sg_quality() to `diagnostics` every k steps.
    """

    name = "dni"

    def __init__(self, model, input_shape, n_classes, conditional=False, cuts=None, rng=None, trace=None, **options):
        o = self.options = SGOptions(**options).check()
        self.model, self.modules = model, group(list(model), cuts)
        if len(self.modules) < 2:
            raise ValueError("DNI needs at least two modules to decouple")
        skip_input_grad(self.modules[0])          # nobody needs dL/dx for the data
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.conditional = conditional
        shapes = output_shapes(self.modules, input_shape)          # shapes[i - 1]: of h_i
        L = len(self.modules)
        self.M = {i + 1: Regressor(make_synthetic_model(o.sg, shapes[i - 1], n_classes if conditional else 0,
                                                        o.sg_hidden, self.rng, condition=o.sg_condition),
                                   o.sg_optimizer, o.sg_lr)
                  for i in range(1, L)}                                # M_{i+1} sits on h_i
        self.I = {}
        if o.complete_unlock:
            self.I = {i + 1: Regressor(make_input_model(input_shape, shapes[i - 1], self.rng), o.sg_optimizer,
                                       o.input_lr)
                      for i in range(1, L)}                            # I_{i+1}(x) predicts h_i
        self.optimizers = [make_optimizer(o.optimizer, f, o.lr) for f in self.modules]
        self.loss_fn = SoftmaxCrossEntropy()
        self.trace = trace if trace is not None else Trace()
        self.diagnostics = []
        self.t = 0

    def step(self, x, y):
        """One decoupled training step on x: (N, ...), y: (N,). Returns the loss at the top."""
        self.t += 1
        t, trace, L = self.t, self.trace, len(self.modules)
        every, p = self.options.diagnose_every, self.options.update_prob
        if every and (t == 1 or t % every == 0):
            self.diagnostics.append({"step": t, "modules": self.sg_quality(x, y)})
        c = y if self.conditional else None
        updates = self.rng.random(L) < p if p < 1 else [True] * L
        h = x                                                         # h_0
        for i, f in enumerate(self.modules, start=1):                 # f = f_i
            row = i - 1                                               # its list position and trace row
            if self.I and i > 1:
                with trace.event(row, "input_predict", t):
                    h_real, h = h, self.I[i].predict(x)               # I_i(x) stands in for h_{i-1}
            with trace.event(row, "forward", t):
                h = f.forward(h)                                      # h_i = f_i(h_{i-1})
                if i == L:
                    loss = self.loss_fn.forward(h, y)
            if i < L:
                with trace.event(row, "sg_predict", t):
                    g_hat = self.M[i + 1].predict(h, c)               # g_hat_i = M_{i+1}(h_i, c)
            if updates[row]:
                with trace.event(row, "backward", t):
                    d_in = f.backward(self.options.sg_scale * g_hat if i < L else self.loss_fn.backward())
                with trace.event(row, "update", t):
                    self.optimizers[row].step()                       # f_i updates at once: no update lock
                if i > 1:
                    with trace.event(row - 1, "sg_update", t):
                        self.M[i].fit(d_in)                           # M_i's target: bootstrapped from M_{i+1}
            if self.I and i > 1:
                with trace.event(row, "input_update", t):
                    self.I[i].fit(h_real)                             # the real h_{i-1} has arrived
        return loss

    def prepare_evaluation(self, x, batch_size=500):
        """Complete unlock trains module i on I_i(x), so its BatchNorm statistics describe the
        synthetic inputs; evaluation runs the real chain, so recompute them on it first."""
        if self.I:
            recompute_statistics(self.model, (x[i:i + batch_size] for i in range(0, len(x), batch_size)))

    def sg_quality(self, x, y):
        """Per decoupled module f_i: cosine and relative error of M_{i+1}'s g_hat_i against the true delta_i.

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
        for i in range(1, len(self.modules)):                # "module": h_i's list position, i - 1
            out.append({"module": i - 1, **gradient_agreement(self.M[i + 1].model.forward(hs[i - 1], c), deltas[i - 1])})
        return out


class CDNI(DNI):
    """cDNI: DNI whose synthetic-gradient models also see the one-hot label (paper §3.2)."""

    name = "cdni"

    def __init__(self, model, input_shape, n_classes, **options):
        super().__init__(model, input_shape, n_classes, conditional=True, **options)


