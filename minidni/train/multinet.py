"""Two recurrent networks on two clocks, joined by a decoupled interface (paper §3.3, as we read it).

    A ticks every step:     x_t -> LSTM_A -> h_t -> class logits of the digit shown  (A's own loss)
                                                  -> message m_t = Linear(h_t)        (what A tells B)
    B ticks every K steps:  m_t (t = K, 2K, ...) -> LSTM_B -> logits of "how many odd digits
                            in the last span x K steps"                               (B's loss)

A learns what to send only from B's gradient through the message. A training segment is
J ticks (J K steps) of fresh streams. The three ways to train it differ in when A may
update and what it knows of B's error then:

    locked     one forward and one backward through both networks and the whole segment
               (BPTT through A's J K steps and B's J ticks); A's update waits for all of it
    truncated  A and B update at every tick; B's loss reaches A only through the tick it is
               made at, and neither network gets a gradient from later ticks (the cut)
    dni        as truncated, but at each cut a synthetic gradient stands in for the
               future: M_B(s_B) ~ d(B's later losses)/d s_B at B's state after the tick,
               M_A(s_A) ~ d(later losses)/d s_A at A's state after its window, each fitted
               to the bootstrapped gradient that arrives at the start of the next window
               (paper §3.1). So the message at a tick carries B's predicted future error
               back to A at once, and A updates at every tick.
    oracle     as dni, but at each cut the true future gradient stands in for M's prediction:
               a locked forward and backward over the segment's later ticks, from the end
               states and the current parameters (no update). The ceiling for DNI: what a
               perfect M would buy. It costs about J/2 extra passes a segment, so its seconds
               are not comparable.

The locked method is the paper's baseline: A's parameters change only when B's gradient of
the whole segment arrives, after B's backward through all J ticks (J ticks of waiting), while
truncated, dni and oracle update A (and B) at every tick. `updates` counts them: per segment,
1 each locked, J each otherwise.

Losses: the sum over steps (ticks) of the batch mean cross-entropy; the synthetic models
predict per-sequence gradients (times N), as in minidni.train.tbptt. Not the paper's, off by
default, the remedies that steadied §3.1's M (minidni.train.tbptt): sg_input="bounded" (M reads
(h, tanh c)) and target_clip > 0 (each sequence's target for M scaled to norm <= target_clip).
"""
import copy

import numpy as np

from ..backend import array_module
from ..nn import Linear
from ..nn.module import Composite
from ..nn.recurrent import LSTM, join_state, split_state
from ..optim import make_optimizer
from ..synthetic import Regressor, gradient_agreement, make_synthetic_model
from ..trace import Trace
from .tbptt import SG_INPUTS, TBPTT, SequenceCrossEntropy

METHODS = ("locked", "truncated", "dni", "oracle")


class Network(Composite):
    """x: (T, N, D) -> LSTM -> h: (T, N, H) -> one Linear head per name, at every step.

        outputs, state_T = net.forward(x, state_0)       outputs[name]: (T, N, n_out)
        dx, d_state_0 = net.backward(d_outputs, d_state_T)
    Parameters are named "core.W_x", ..., "<head>.W", "<head>.b".
    """

    def __init__(self, n_in, hidden, heads, rng):
        self.core = LSTM(n_in, hidden, rng)
        self.heads = {name: Linear(hidden, n_out, rng, init="xavier") for name, n_out in heads.items()}
        super().__init__(core=self.core, **self.heads)

    @property
    def state_size(self):
        return self.core.state_size

    def forward(self, x, state=None):
        h, state_T = self.core.forward(x, state)
        T, N, H = h.shape
        return {name: head.forward(h.reshape(T * N, H)).reshape(T, N, -1) for name, head in self.heads.items()}, state_T

    def backward(self, d_outputs, d_state=None):
        """d_outputs: {head name: (T, N, n_out)}, d_state: the gradient at the final state (or None)
        -> (dx: (T, N, D), d_state_0), through every head and the LSTM."""
        dh = None
        for name, d in d_outputs.items():
            T, N, n = d.shape
            part = self.heads[name].backward(d.reshape(T * N, n)).reshape(T, N, -1)
            dh = part if dh is None else dh + part
        return self.core.backward(dh, d_state)


class TwoNetworks:
    """A, B, their optimisers and (dni) synthetic-gradient models; step(x, y_step, y_tick) trains one segment.
    future_gradient_quality(x, y_step, y_tick) measures what is injected at the cuts against the truth."""

    def __init__(self, n_in, n_classes, n_counts, K, method="dni", hidden_a=64, hidden_b=32, message=16,
                 optimizer="adam", lr=3e-3, sg_lr=1e-4, sg_scale=1.0, sg_input="state", target_clip=0.0,
                 rng=None, trace=None):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
        if sg_input not in SG_INPUTS:
            raise ValueError(f"unknown sg_input {sg_input!r}: choose from {', '.join(SG_INPUTS)}")
        rng = rng if rng is not None else np.random.default_rng(0)
        self.K, self.method, self.sg_scale = K, method, sg_scale
        self.sg_input, self.target_clip = sg_input, target_clip
        self.A = Network(n_in, hidden_a, {"cls": n_classes, "message": message}, rng)
        self.B = Network(message, hidden_b, {"count": n_counts}, rng)
        self.opt_a, self.opt_b = make_optimizer(optimizer, self.A, lr), make_optimizer(optimizer, self.B, lr)
        self.M = {}                                  # {"A": M_A, "B": M_B}, DNI only
        if method == "dni":
            self.M = {net: Regressor(make_synthetic_model("linear", (getattr(self, net).state_size,), rng=rng),
                                     "adam", sg_lr) for net in ("A", "B")}
        self.loss_a, self.loss_b = SequenceCrossEntropy(), SequenceCrossEntropy()
        self.trace = trace if trace is not None else Trace()
        self.t = 0                   # ticks trained
        self.updates = {"A": 0, "B": 0}

    # What M reads of a state and its clipped target: tbptt's, so §3.1 and §3.3 share one definition.
    m_input = TBPTT.m_input
    _clipped = TBPTT._clipped

    def update(self, step):
        """Both optimisers step (A first, as B's gradient reached it last), each traced and counted."""
        for net, opt in (("A", self.opt_a), ("B", self.opt_b)):
            with self.trace.event(net, "update", step):
                opt.step()
            self.updates[net] += 1

    def step(self, x, y_step, y_tick):
        """Train on one segment: x (J K, N, D), y_step (J K, N), y_tick (J, N). Returns the summed loss."""
        return self.locked(x, y_step, y_tick) if self.method == "locked" else self.decoupled(x, y_step, y_tick)

    def forward(self, x, y_step, y_tick, state_a=None, state_b=None, step=None):
        """Both networks over x; returns (loss, A's outputs, B's logits, the end states). For evaluation too."""
        with self.trace.event("A", "forward", step):
            out_a, end_a = self.A.forward(x, state_a)
            loss_a = self.loss_a.forward(out_a["cls"], y_step)
        with self.trace.event("B", "forward", step):
            out_b, end_b = self.B.forward(out_a["message"][self.K - 1::self.K], state_b)
            loss_b = self.loss_b.forward(out_b["count"], y_tick)
        return loss_a + loss_b, out_a, out_b["count"], (end_a, end_b)

    def backward(self, out_a, d_end_a=None, d_end_b=None, step=None):
        """The gradients of the last forward: B through all its ticks, then A with the message's
        gradient at each tick. Returns the gradients on both initial states."""
        with self.trace.event("B", "backward", step):
            dm, d_start_b = self.B.backward({"count": self.loss_b.backward()}, d_end_b)
        with self.trace.event("A", "backward", step):
            d_message = array_module(dm).zeros_like(out_a["message"])
            d_message[self.K - 1::self.K] = dm
            _, d_start_a = self.A.backward({"cls": self.loss_a.backward(), "message": d_message}, d_end_a)
        return d_start_a, d_start_b

    def locked(self, x, y_step, y_tick):
        """One forward and backward through both networks and all J ticks; then, only then, both update."""
        self.t += 1
        loss, out_a, _, _ = self.forward(x, y_step, y_tick, step=self.t)
        self.backward(out_a, step=self.t)                    # B through all J ticks, then A through all J K steps
        self.update(self.t)                                  # the update lock: A waited for all of it
        return loss

    def decoupled(self, x, y_step, y_tick):
        """Tick by tick: A's window of K steps and B's one tick, backward, update at once (truncated, dni, oracle)."""
        K, J, n, trace = self.K, y_tick.shape[0], x.shape[1], self.trace
        future = self.cut_future(x, y_step, y_tick)
        state_a = state_b = None
        total = 0.0
        for j in range(J):
            self.t += 1
            window = slice(j * K, (j + 1) * K)
            with trace.event("A", "forward", self.t):
                out_a, end_a = self.A.forward(x[window], state_a)
                loss_a = self.loss_a.forward(out_a["cls"], y_step[window])
            with trace.event("B", "forward", self.t):
                out_b, end_b = self.B.forward(out_a["message"][-1:], state_b)
                loss_b = self.loss_b.forward(out_b["count"], y_tick[j:j + 1])
            g_a = g_b = None                                        # truncated: no future beyond the tick
            if j < J - 1 and future is not None:
                with trace.event("B", "sg_predict", self.t):
                    g_a, g_b = (split_state(g / n, len(end))
                                for g, end in zip(future(j, end_a, end_b), (end_a, end_b)))
            with trace.event("B", "backward", self.t):
                dm, d_start_b = self.B.backward({"count": self.loss_b.backward()}, g_b)
            with trace.event("A", "backward", self.t):
                d_message = array_module(dm).zeros_like(out_a["message"])
                d_message[-1] = dm[0]
                _, d_start_a = self.A.backward({"cls": self.loss_a.backward(), "message": d_message}, g_a)
            self.update(self.t)
            if j > 0 and self.M:                      # bootstrapped targets at this tick's start
                with trace.event("B", "sg_update", self.t):
                    for net, start, d_start in (("A", state_a, d_start_a), ("B", state_b, d_start_b)):
                        self.M[net].predict(self.m_input(start))
                        self.M[net].fit(self._clipped(n * join_state(d_start)))
            state_a, state_b = end_a, end_b                          # values only: the cut
            total = total + loss_a + loss_b
        return total

    def cut_future(self, x, y_step, y_tick):
        """future(j, end_a, end_b) -> (g_A: (N, 2 H_A), g_B: (N, 2 H_B)), the per-sequence gradient of
        everything after tick j on the end states, as injected at the cut: sg_scale times M's g_hat (dni),
        the true one (oracle), or None (truncated: nothing after the cut)."""
        if self.method == "oracle":
            return self.true_future(x, y_step, y_tick)
        if not self.M:
            return None
        return lambda j, end_a, end_b: (self.sg_scale * self.M["A"].predict(self.m_input(end_a)),
                                        self.sg_scale * self.M["B"].predict(self.m_input(end_b)))

    def true_future(self, x, y_step, y_tick):
        """future(j, end_a, end_b) -> (delta_A, delta_B): N times the locked gradient of the segment's ticks
        after j on the end states, from the current parameters. A twin with copies of the networks runs it,
        so the tick's own caches and gradients are left as they are."""
        K, n = self.K, x.shape[1]

        def future(j, end_a, end_b):
            twin = copy.copy(self)
            twin.A, twin.B, twin.loss_a, twin.loss_b = copy.deepcopy((self.A, self.B, self.loss_a, self.loss_b))
            twin.trace = Trace(enabled=False)
            rest = slice((j + 1) * K, None)
            _, out_a, _, _ = twin.forward(x[rest], y_step[rest], y_tick[j + 1:], end_a, end_b)
            d_a, d_b = twin.backward(out_a)
            return n * join_state(d_a), n * join_state(d_b)
        return future

    def future_gradient_quality(self, x, y_step, y_tick):
        """What is injected at each cut of one segment (M's g_hat, or the oracle's) against the true future
        gradient, no update: [{"tick": j, "A": {"cosine", "relative_error"}, "B": {...}}] for the
        cuts j = 1 ... J - 1 (minidni.synthetic.gradient_agreement); [] where nothing is injected."""
        K, J = self.K, y_tick.shape[0]
        injected, true = self.cut_future(x, y_step, y_tick), self.true_future(x, y_step, y_tick)
        records, state_a, state_b = [], None, None
        for j in range(J - 1 if injected is not None else 0):
            out_a, state_a = self.A.forward(x[j * K:(j + 1) * K], state_a)
            _, state_b = self.B.forward(out_a["message"][-1:], state_b)
            pairs = zip(("A", "B"), injected(j, state_a, state_b), true(j, state_a, state_b))
            records.append({"tick": j + 1, **{net: gradient_agreement(g, d) for net, g, d in pairs}})
        return records

    def evaluate(self, x, y_step, y_tick):
        """(A's error on the digit's class, B's error on the count), as fractions, whole segments from zero state."""
        _, out_a, logits_b, _ = self.forward(x, y_step, y_tick)
        err_a = (out_a["cls"].argmax(axis=2) != y_step).mean()
        err_b = (logits_b.argmax(axis=2) != y_tick).mean()
        return err_a, err_b
