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

Losses: the sum over steps (ticks) of the batch mean cross-entropy; the synthetic models
predict per-sequence gradients (times N), as in minidni.train.tbptt.
"""
import numpy as np

from ..backend import array_module
from ..nn import Linear
from ..nn.module import Composite
from ..nn.recurrent import LSTM, join_state, split_state
from ..optim import make_optimizer
from ..synthetic import Regressor, make_synthetic_model
from ..trace import Trace
from .tbptt import SequenceCrossEntropy

METHODS = ("locked", "truncated", "dni")


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
    """A, B, their optimisers and (dni) synthetic-gradient models; step(x, y_step, y_tick) trains one segment."""

    def __init__(self, n_in, n_classes, n_counts, K, method="dni", hidden_a=64, hidden_b=32, message=16,
                 optimizer="adam", lr=3e-3, sg_lr=1e-4, sg_scale=1.0, rng=None, trace=None):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
        rng = rng if rng is not None else np.random.default_rng(0)
        self.K, self.method, self.sg_scale = K, method, sg_scale
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
        self.future = None           # tests: future(j, s_A, s_B) -> (g_A, g_B), per sequence, instead of M

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
        with self.trace.event("A", "update", self.t):        # the update lock: A waited for all of it
            self.opt_a.step()
        with self.trace.event("B", "update", self.t):
            self.opt_b.step()
        return loss

    def decoupled(self, x, y_step, y_tick):
        """Tick by tick: A's window of K steps and B's one tick, backward, update at once (truncated, dni)."""
        K, J, n, trace = self.K, y_tick.shape[0], x.shape[1], self.trace
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
            if j < J - 1 and (self.M or self.future is not None):
                with trace.event("B", "sg_predict", self.t):
                    g_a, g_b = self.predict_future(j, end_a, end_b)
            with trace.event("B", "backward", self.t):
                dm, d_start_b = self.B.backward({"count": self.loss_b.backward()}, g_b)
            with trace.event("A", "backward", self.t):
                d_message = array_module(dm).zeros_like(out_a["message"])
                d_message[-1] = dm[0]
                _, d_start_a = self.A.backward({"cls": self.loss_a.backward(), "message": d_message}, g_a)
            with trace.event("A", "update", self.t):
                self.opt_a.step()
            with trace.event("B", "update", self.t):
                self.opt_b.step()
            if j > 0 and self.M:                      # bootstrapped targets at this tick's start
                with trace.event("B", "sg_update", self.t):
                    self.M["A"].predict(join_state(state_a))
                    self.M["A"].fit(n * join_state(d_start_a))
                    self.M["B"].predict(join_state(state_b))
                    self.M["B"].fit(n * join_state(d_start_b))
            state_a, state_b = end_a, end_b                          # values only: the cut
            total = total + loss_a + loss_b
        return total

    def predict_future(self, j, end_a, end_b):
        """(g_A, g_B): the gradient of everything after tick j on the end states, as split states."""
        if self.future is not None:
            g_a, g_b = self.future(j, end_a, end_b)
        else:
            g_a, g_b = self.M["A"].predict(join_state(end_a)), self.M["B"].predict(join_state(end_b))
        n = g_a.shape[0]
        return (split_state(self.sg_scale * g_a / n, len(end_a)), split_state(self.sg_scale * g_b / n, len(end_b)))

    def evaluate(self, x, y_step, y_tick):
        """(A's error on the digit's class, B's error on the count), as fractions, whole segments from zero state."""
        _, out_a, logits_b, _ = self.forward(x, y_step, y_tick)
        err_a = (out_a["cls"].argmax(axis=2) != y_step).mean()
        err_b = (logits_b.argmax(axis=2) != y_tick).mean()
        return err_a, err_b
