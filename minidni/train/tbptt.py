"""Truncated BPTT, and DNI for recurrent networks (paper §3.1, Figure 3).

An RNN is run over a long sequence in consecutive windows of T steps. The state is
carried from one window to the next, but the gradient is not: truncated BPTT(T)
backpropagates only the losses inside the window, so nothing teaches the core a
dependency longer than T steps. DNI puts a synthetic-gradient model M at the cut:

    for each window [t+1, t+T], starting from the state h_t that the last one left:
        forward the core over the window                    h_{t+1} ... h_{t+T},  losses L_{t+1..t+T}
        g_hat = M(h_{t+T})                                  sg_predict: ~ the gradient of all *future* losses
        backward with sum of in-window losses,              backward:  the synthetic gradient enters at the
            plus g_hat at the window's last state                      last state, as if the future were there
        update the core                                     update
        fit M(h_t) to delta_t                               sg_update: delta_t, the gradient that reached the
                                                                       window's first state, is M's target

delta_t = d(in-window losses)/dh_t + g_hat (dh_{t+T}/dh_t) is a bootstrapped target, as
in TD learning: M learns the true future gradient through its own prediction one
window later. The prediction regressed onto delta_t is M's at h_t, the *start* state
of the window whose backward pass produced delta_t (re-evaluated with M's current
weights), never the one at the end.

For the LSTM, h is the concatenated (h, c): M sees and predicts both (§3.1). With
sg_input="bounded" M reads (h, tanh c) instead and still predicts the gradient on (h, c).

DNI + Aux (§3.1, "auxiliary task"): the core also predicts the synthetic gradient it
will receive further ahead. Here a linear head A on the core's output at every step of
the window, h_{t+1} ... h_{t+T}, is trained by L2 towards g_hat = M(h_{t+T}) (held
fixed), the synthetic gradient that arrives at the window's end, and its gradient flows
into the core in the same backward pass, so the state learns to carry what M will need.

Loss convention: a window's loss is the sum over its steps of the batch-mean cross-
entropy (nats), so the gradient of "all future losses" has the same scale in every
window, whatever T is. M speaks for one sequence: it predicts, and is fitted to, the
gradient of that sequence's own future losses, which is n times its share of the
batch mean's. Otherwise M's targets would shrink with the batch size n, and its
optimiser's steps (Adam's are about lr whatever the gradient) would dwarf them.
"""
import math

import numpy as np

from ..backend import array_module, to_numpy
from ..errors import ShapeError
from ..nn import Linear
from ..nn.recurrent import join_state, split_state
from ..optim import clip_grad_norm, make_optimizer
from ..synthetic import Regressor, gradient_agreement, make_synthetic_model
from ..trace import Trace

METHODS = ("bptt", "dni", "dni-aux")
SG_INPUTS = ("state", "bounded")     # what M reads: (h, c) as they are, or (h, tanh c)


class SequenceCrossEntropy:
    """Softmax cross-entropy at every step: sum over time of the mean over the batch.

    logits: (T, N, V), targets: (T, N) integers, mask: (T, N) of 0/1 or None (score all).
    Targets (T, N, K) score K independent choices per step, each a softmax over its own
    V/K logits (K bits of a pattern: V = 2K), summed over the K. Steps with mask 0
    (Copy's reading phase) contribute nothing. After forward, `nats` is the summed
    cross-entropy of the scored steps and `n_scored` their count (0-d arrays on the
    device: nothing here waits for the host).
    backward() -> dlogits: (T, N, V) = mask (softmax - onehot) / N.
    """

    def forward(self, logits, targets, mask=None):
        """logits: (T, N, V), targets: (T, N) or (T, N, K), mask: (T, N) or None -> the loss (0-d):
        the summed cross-entropy of the scored steps / N."""
        xp = array_module(logits)
        T, N, V = logits.shape
        K = targets.shape[2] if targets.ndim == 3 else 1
        if V % K:
            raise ShapeError(f"{K} targets per step need a multiple of {K} logits per step, got {V}")
        z = logits.reshape(T * N * K, V // K)
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        y = targets.reshape(-1)
        ce = -log_p[xp.arange(T * N * K), y]
        w = xp.ones_like(ce) if mask is None else xp.repeat(mask.reshape(-1).astype(ce.dtype), K)
        self.log_p, self.y, self.w, self.shape = log_p, y, w, (T, N, V)
        self.nats, self.n_scored = (ce * w).sum().astype(xp.float64), w.sum().astype(xp.float64) / K
        return self.nats / N

    def backward(self):
        """dlogits: (T, N, V) = mask (softmax - onehot) / N."""
        xp = array_module(self.log_p)
        T, N, V = self.shape
        d = xp.exp(self.log_p)
        d[xp.arange(len(self.y)), self.y] -= 1
        d *= (self.w / N)[:, None]
        return d.reshape(T, N, V)


class TBPTT:
    """Trains a SequenceModel with truncated BPTT over windows of T steps.

    method "bptt": plain truncation; "dni": a linear, zero-initialised synthetic-gradient
    model M on the state at each window's end; "dni-aux": DNI plus the auxiliary task.
    sg_scale multiplies g_hat where it enters the backward pass (it also discounts the
    bootstrapped target, like TD's gamma); aux_weight weighs the auxiliary L2 loss.
    Not the paper's, each off at 0: clip > 0 clips the model's gradient (embedding, core and
    readout jointly; not M's or the aux head's) to that global norm before each update;
    m_average a in (0, 1) takes g_hat from a moving average of M's weights (slow <- a slow +
    (1 - a) M after every fit), as a target network in TD learning; target_clip > 0 scales
    each sequence's regression target for M down to at most that norm.
    """

    def __init__(self, model, T, method="bptt", optimizer="adam", lr=1e-3, sg_lr=1e-4, sg_scale=1.0,
                 aux_weight=1.0, sg_input="state", clip=0.0, m_average=0.0, target_clip=0.0, rng=None,
                 trace=None):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
        if sg_input not in SG_INPUTS:
            raise ValueError(f"unknown sg_input {sg_input!r}: choose from {', '.join(SG_INPUTS)}")
        self.sg_input = sg_input
        if T < 1:
            raise ValueError(f"the truncation length T must be at least 1, got {T}")
        if clip < 0:
            raise ValueError(f"clip is a gradient norm, 0 or more (0: never), got {clip}")
        if target_clip < 0:
            raise ValueError(f"target_clip is a norm, 0 or more (0: never), got {target_clip}")
        if not 0 <= m_average < 1:
            raise ValueError(f"m_average is a decay in [0, 1), got {m_average}")
        self.model, self.T, self.method = model, T, method
        self.sg_scale, self.aux_weight = sg_scale, aux_weight
        self.clip, self.m_average, self.target_clip = clip, m_average, target_clip
        rng = rng if rng is not None else np.random.default_rng(0)
        self.optimizer = make_optimizer(optimizer, model, lr)
        self.M = self.aux = None
        if method in ("dni", "dni-aux"):
            self.M = Regressor(make_synthetic_model("linear", (model.state_size,), rng=rng), "adam", sg_lr)
        self.M_slow = None
        if self.M is not None and m_average:      # g_hat from a slowly moving average of M (a target network)
            self.M_slow = make_synthetic_model("linear", (model.state_size,), rng=rng)
        if method == "dni-aux":
            self.aux = Linear(model.core.hidden_size, model.state_size, rng, init="zeros")
            self.aux_optimizer = make_optimizer(optimizer, self.aux, lr)
        self.loss_fn = SequenceCrossEntropy()
        self.trace = trace if trace is not None else Trace()
        self.t = 0                 # windows trained
        self.sg_loss = self.aux_loss = None

    def window(self, tokens, targets, mask=None, state=None, last=False):
        """Train on one window: tokens, targets: (T', N) with T' <= T, from `state` (None: zeros).

        last=True: the sequence ends with this window, so no future gradient exists and
        none is predicted. Returns (loss, state at the window's end). The returned state
        is the next window's start: values only, no gradient flows back through it.
        The steps are §3.1's (the module's docstring); the options that are not the paper's
        act inside the helpers named below, each a no-op at its default.
        """
        self.t += 1
        t, trace, model, n = self.t, self.trace, self.model, tokens.shape[1]
        h_t = state if state is not None else model.init_state(n)

        with trace.event(0, "forward", t):
            logits, h_tT = model.forward(tokens, h_t)                # h_{t+1} ... h_{t+T}
            loss = self.loss_fn.forward(logits, targets, mask)

        g_hat = None                                                  # no synthetic gradient: truncation
        if self.M is not None and not last:
            with trace.event(0, "sg_predict", t):
                g_hat = self._M_or_average(self.m_input(h_tT))        # ~ d(future losses) / dh_{t+T}, per sequence

        dh_aux = None
        if self.aux is not None and g_hat is not None:
            with trace.event(0, "aux", t):
                dh_aux = self._aux_task(g_hat)

        with trace.event(0, "backward", t):
            d_future = None if g_hat is None else split_state(self.sg_scale * g_hat / n, len(h_tT))
            delta_t = model.backward(self.loss_fn.backward(), d_future, dh_aux)   # reaches h_t

        with trace.event(0, "update", t):
            self._clip_gradients()
            self.optimizer.step()
            if dh_aux is not None:
                self.aux_optimizer.step()

        if self.M is not None:
            with trace.event(0, "sg_update", t):
                self.M.predict(self.m_input(h_t))                    # M at the window's START state ...
                self.sg_loss = self.M.fit(self._clipped(n * join_state(delta_t)))  # ... fitted to what arrived there
                self._update_average()
        return loss, h_tT

    def _M_or_average(self, m_in):
        """Not the paper's with m_average > 0: g_hat from M's moving average (a target network), else from M."""
        return self.M_slow.forward(m_in) if self.M_slow is not None else self.M.predict(m_in)

    def _clip_gradients(self):
        """Not the paper's: with clip > 0, the model's gradient (g_hat's part too; not M's) to global norm <= clip."""
        if self.clip:
            clip_grad_norm(self.model, self.clip)

    def _clipped(self, target):
        """Not the paper's: with target_clip > 0, each sequence's target for M, (N, S), to norm <= target_clip."""
        if not self.target_clip:
            return target
        xp = array_module(target)
        norm = xp.linalg.norm(target, axis=1, keepdims=True)
        return target * xp.minimum(1.0, self.target_clip / (norm + 1e-12))

    def _update_average(self):
        """Not the paper's: with m_average = a > 0, after M's fit move its average: slow <- a slow + (1 - a) M."""
        if self.M_slow is not None:
            for k, p in self.M_slow.params.items():
                p *= self.m_average
                p += (1 - self.m_average) * self.M.model.params[k]

    def m_input(self, state):
        """What M reads of a state: join_state(state), or with sg_input="bounded" the LSTM's
        (h, tanh c). On an unending stream some units of c grow into the thousands; a linear
        M's prediction grows with them and the bootstrapped target feeds it back. tanh(c) is
        what h is made of (h = o tanh c), bounded. M still predicts the gradient on (h, c)."""
        if self.sg_input == "bounded" and len(state) == 2:
            return join_state((state[0], array_module(state[1]).tanh(state[1])))
        return join_state(state)

    def _aux_task(self, g_hat):
        """DNI + Aux: at every step tau of the window the core also predicts, by a linear head A,
        the synthetic gradient g_hat = M(h_{t+T}) it will receive at the window's end (held fixed):
        aux_loss = aux_weight * mean over steps and batch of ||A(h_tau) - g_hat||^2. Returns its
        gradient on the core's outputs h: (T', N, H)."""
        h = self.model.h
        Tw, n, H = h.shape
        diff = self.aux.forward(h.reshape(Tw * n, H)) - array_module(h).tile(g_hat, (Tw, 1))
        self.aux_loss = self.aux_weight * (diff * diff).sum() / (Tw * n)      # sum over units
        return self.aux.backward(self.aux_weight * 2 * diff / (Tw * n)).reshape(Tw, n, H)

    def future_gradient_quality(self, tokens, targets, mask=None):
        """How well M predicts the future at each window boundary of whole sequences (L, N).

        For every boundary b = T, 2T, ... before the end, the true gradient of all later
        losses with respect to the state h_b, per sequence (n times the batch mean's, as M
        speaks for one sequence): the model runs forward from h_b to the end and back, with
        no truncation. Returns [{"step": b, "cosine", "relative_error"}] of M(h_b) against
        it, over all N x state entries. Trains nothing; call it between windows.
        """
        if self.M is None:
            raise ValueError("future_gradient_quality needs a synthetic-gradient model: method dni or dni-aux")
        model, L, n = self.model, tokens.shape[0], tokens.shape[1]
        loss_fn, state, out = SequenceCrossEntropy(), None, []
        for b in range(self.T, L, self.T):
            _, state = model.forward(tokens[b - self.T:b], state)              # h_b, as training reaches it
            logits, _ = model.forward(tokens[b:], state)                       # the rest of the sequence
            loss_fn.forward(logits, targets[b:], None if mask is None else mask[b:])
            true = n * join_state(model.backward(loss_fn.backward()))          # d(losses after b) / dh_b
            out.append({"step": b, **gradient_agreement(self.M.predict(self.m_input(state)), true)})
        return out

    def sequence(self, tokens, targets, mask=None):
        """Train on whole sequences (Copy, Repeat-Copy): tokens, targets: (L, N), from the zero state.

        The L steps are cut into windows of T; the last window has no future. Returns the
        bits per scored target over the whole sequence (a 0-d array on the device).
        """
        L = tokens.shape[0]
        state, nats, count = None, 0.0, 0.0
        xp = array_module(tokens)
        for start in range(0, L, self.T):
            end = min(start + self.T, L)
            _, state = self.window(tokens[start:end], targets[start:end],
                                   None if mask is None else mask[start:end], state, last=end == L)
            nats, count = nats + self.loss_fn.nats, count + self.loss_fn.n_scored
        return nats / xp.maximum(count, 1.0) / math.log(2)


def evaluate_bits(model, tokens, targets, mask=None, state=None, chunk=100):
    """Bits per scored target of `model` on (L, N) sequences, run forward in chunks; returns (bits, state)."""
    loss_fn = SequenceCrossEntropy()
    nats = count = 0.0
    for start in range(0, tokens.shape[0], chunk):
        logits, state = model.forward(tokens[start:start + chunk], state)
        loss_fn.forward(logits, targets[start:start + chunk], None if mask is None else mask[start:start + chunk])
        nats, count = nats + loss_fn.nats, count + loss_fn.n_scored
    return float(to_numpy(nats)) / max(float(to_numpy(count)), 1.0) / math.log(2), state

