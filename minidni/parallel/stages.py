"""Cutting a network into K stages, building one stage per rank, and its late-arriving targets.

Every rank builds the *whole* model and the same trainer from the same seed, then keeps
only its own stage: rank k keeps f_{k+1} and M_{k+2} (the numbering of minidni.parallel)
and their optimisers. The random draws are then exactly those of the one-process trainer
with the same seed, which is what lets the synchronous mode reproduce it to the last bit.
"""
import itertools
from collections import OrderedDict

import numpy as np

from ..errors import UserError
from ..models import build_mlp
from ..nn import Sequential
from ..train.backprop import Backprop
from ..train.dni import DNI, group

METHODS = ("dni", "cdni", "locked")


def module_costs(model):
    """Multiply-adds per sample of each module's forward and backward (Linear layers only).

    A Linear (D_in -> D_out) costs D_in D_out forward and twice that backward (dW and dx);
    the first module skips dx, since nobody needs the gradient of the data.
    """
    costs = []
    for i, module in enumerate(model):
        gemms = 2 if i == 0 else 3
        costs.append(sum(gemms * layer.params["W"].size for layer in module if "W" in layer.params))
    return costs


def sg_cost(model, i):
    """Multiply-adds per sample of the linear M after module i: predict, predict again for a late
    target (the prediction is recomputed with the current M), and the weight gradient of the fit."""
    width = [layer for layer in model[i] if "W" in layer.params][-1].params["W"].shape[1]
    return 3 * width * width


def balanced_split(costs, sg_costs, K):
    """Module counts of K contiguous stages that minimise the slowest stage's cost.

    A stage's cost is its modules' `costs` plus, for every stage but the last, the cost of
    the synthetic-gradient model at its end, sg_costs[i] for a cut after module i (a
    decoupled pipeline runs at the pace of its slowest stage, SG work included). Exhaustive
    dynamic programming over cut positions: L modules, K stages, O(K L^2).
    """
    L = len(costs)
    if not 1 <= K <= L:
        raise UserError(f"cannot split {L} modules into {K} stages: use at most {L} ranks or more --layers")
    prefix = [0] + list(itertools.accumulate(costs))
    # best[k][j]: the smallest slowest-stage cost for the first j modules cut into k stages (all k decoupled)
    best = [[np.inf] * (L + 1) for _ in range(K + 1)]
    choice = [[0] * (L + 1) for _ in range(K + 1)]
    best[0][0] = 0
    for k in range(1, K + 1):
        for j in range(k, L + 1):
            for i in range(k - 1, j):                  # the k-th stage holds modules i .. j-1
                stage = prefix[j] - prefix[i] + (sg_costs[j - 1] if j < L else 0)
                value = max(best[k - 1][i], stage)
                if value < best[k][j]:
                    best[k][j], choice[k][j] = value, i
    split, j = [], L
    for k in range(K, 0, -1):
        split.append(j - choice[k][j])
        j = choice[k][j]
    return split[::-1]


def cuts_of(split):
    """The DNI trainer's cuts: the index of the last module of every stage but the last."""
    return [end - 1 for end in itertools.accumulate(split)][:-1]


class DelayedSG:
    """Rank k's M_{k+2}, whose targets come back from rank k+1 some steps after the prediction.

    predict(step, h, c) keeps (h, c) until fit(step, target) arrives. If M has predicted
    since (the target is stale), the prediction is first recomputed with the current M,
    so M takes an ordinary gradient step on the stored sample; a fresh target (the
    synchronous mode) fits the cached prediction exactly as the one-process trainer does.
    """

    def __init__(self, regressor):
        self.regressor, self.waiting, self.latest = regressor, OrderedDict(), None

    def predict(self, step, h, c=None):
        self.waiting[step], self.latest = (h, c), step
        return self.regressor.predict(h, c)

    def fit(self, step, target):
        """Fit M to the target of `step` (a gradient like h), recomputing a stale prediction first."""
        h, c = self.waiting.pop(step)
        if step != self.latest:
            self.regressor.predict(h, c)
        self.latest = None                 # the cache is used up: any later fit must recompute
        return self.regressor.fit(target)


class Stage:
    """What rank `index` = k holds: f = f_{k+1} (its slice of the network), its optimiser, and
    M = M_{k+2} (None on the last rank, and when locked).

    first/last: whether this is rank 0 / rank K-1. `rng` is the generator after every
    initial draw: rank 0 draws the batches from it, as the one-process trainer does.
    """

    def __init__(self, index, K, f, optimizer, M=None, conditional=False, sg_scale=1.0, rng=None):
        self.index, self.K, self.f, self.optimizer, self.M = index, K, f, optimizer, M
        self.first, self.last = index == 0, index == K - 1
        self.conditional, self.sg_scale, self.rng = conditional, sg_scale, rng

    def checkpointed(self):
        """(model, optimisers) for minidni.checkpoint: f together with M and their state."""
        if self.M is None:
            return self.f, [self.optimizer]
        return Sequential(self.f, self.M.regressor.model), [self.optimizer, self.M.regressor.optimizer]


def build_network(config, data):
    """(model, rng, split) exactly as every rank builds them: the seed's draws, in order."""
    rng = np.random.default_rng(config.seed)
    model = build_mlp(int(np.prod(data.input_shape)), data.n_classes, config.layers, config.hidden, rng)
    K = config.stages
    if config.split is not None:
        split = list(config.split)
        if len(split) != K or min(split) < 1 or sum(split) != len(model):
            raise UserError(f"--split must give {K} positive module counts adding up to {len(model)} "
                            f"(--layers), got {split}")
    else:       # balanced for the decoupled pipeline; locked uses the same split, so the two compare
        split = balanced_split(module_costs(model), [sg_cost(model, i) for i in range(len(model))], K)
    return model, rng, split


def build_trainer(config, data, model, rng, split):
    """The one-process trainer of this split: DNI / cDNI with cuts at the stage boundaries, or
    plain backprop over the stages for "locked" (and for a single stage, where nothing is cut)."""
    if config.method == "locked" or len(split) == 1:
        return Backprop(Sequential(*group(list(model), cuts_of(split))), config.optimizer, config.lr)
    return DNI(model, data.input_shape, data.n_classes, conditional=config.method == "cdni", cuts=cuts_of(split),
               rng=rng, **config.sg_options())


def build_stage(config, data, index):
    """Rank `index`'s Stage: the whole network and trainer built, then all but one stage dropped."""
    model, rng, split = build_network(config, data)
    trainer = build_trainer(config, data, model, rng, split)
    f, optimizer = trainer.modules[index], trainer.optimizers[index]
    if config.method == "locked":
        return Stage(index, len(split), f, optimizer, rng=rng), split
    M = DelayedSG(trainer.M[index + 2]) if index < len(split) - 1 else None          # rank k holds M_{k+2}
    return Stage(index, len(split), f, optimizer, M, config.method == "cdni", config.sg_scale, rng), split
