"""Reference solutions of the exercises that minidni.course.checker checks.

They sit alone in this module so that a student release can withhold them (the checker,
the hints and update_wait's inputs still call them). `show_solution(name)` prints one of
these. Each is the library's own arithmetic written out in one function: linear_backward
and relu_backward are Linear's and ReLU's backward, softmax_cross_entropy_backward is
SoftmaxCrossEntropy's, backprop_schedule the order in which Backprop.step runs (as its
trace records it), update_wait what waiting_intervals measures, m_loss_and_grad MSE's
(what Regressor.fit minimises), cosine what gradient_agreement reports, and dni_step is
DNI.step without its options (cDNI, update probability, complete unlock, the trace), so it
leaves a trainer exactly as DNI.step does. cdni_prediction is a linear conditional
SyntheticModel, input_model_grads what fitting a synthetic-input model I computes,
stochastic_schedule the trace of DNI.step with update_prob, window_bounds the windows of
TBPTT.sequence, stable_softmax what SoftmaxCrossEntropy exponentiates, relative_error
gradcheck.rel_error, tick_targets DigitStreams' targets (tests/test_exercises.py checks each
against the library); window_backward is checked by finite differences,
choose_on_validation and constant_guess_error are the experiments' reasoning written out.

By notebook: 01 relu_backward, softmax_cross_entropy_backward; 02 backprop_schedule,
update_wait; 03 m_loss_and_grad, cosine; 04 cdni_prediction, choose_on_validation;
05 input_model_grads, stochastic_schedule; 06 window_bounds, window_backward; 07
stable_softmax, relative_error; 08 tick_targets, constant_guess_error; 09 linear_backward,
sg_target, dni_step. CONCEPT_ANSWERS and CONCEPT_WHY are the concept questions' answers
and reasons (minidni.course.questions holds their hashes).
"""
import math

import numpy as np


def linear_backward(x, W, dy):
    """The backward of h = x W + b.

    x: (N, D_in), W: (D_in, D_out), dy = dL/dh: (N, D_out).
    Returns dx: (N, D_in), dW: (D_in, D_out), db: (D_out,).
    """
    dx = dy @ W.T              # (N, D_out) @ (D_out, D_in)
    dW = x.T @ dy              # (D_in, N) @ (N, D_out): W's shape
    db = dy.sum(axis=0)        # b is added to every row, so every row's gradient adds up
    return dx, dW, db


def relu_backward(x, dy):
    """The backward of h = max(x, 0).  x, dy = dL/dh: (N, D) -> dx: (N, D)."""
    return dy * (x > 0)        # the gradient passes where the input was positive


def softmax_cross_entropy_backward(z, y):
    """dL/dz of L = the mean over the batch of -log softmax(z_n)[y_n].

    z: (N, C) logits, y: (N,) integer labels in [0, C) -> dz: (N, C).
    """
    p = np.exp(z - z.max(axis=1, keepdims=True))      # shifted: exp cannot overflow
    p = p / p.sum(axis=1, keepdims=True)               # softmax of each row, over the C classes
    p[np.arange(len(y)), y] -= 1                       # minus onehot(y)
    return p / len(y)                                  # L is a mean over the N samples


def backprop_schedule(L):
    """The (module, kind) of each event of one Backprop.step on L modules, in the order they run.

    Modules are numbered from 0, as the trace numbers them; kind is "forward",
    "backward" or "update".
    """
    forward = [(i, "forward") for i in range(L)]                 # each needs the output of the one below
    backward = [(i, "backward") for i in reversed(range(L))]     # f_i needs delta_i from f_{i+1}'s backward
    update = [(i, "update") for i in range(L)]                   # only now may any module change
    return forward + backward + update


def update_wait(events, module):
    """Seconds from the end of `module`'s forward to the start of its update, in one step's events.

    events: the Events (module, kind, step, start, end) of one step; module: numbered from 0.
    """
    forward = next(e for e in events if e.module == module and e.kind == "forward")
    update = next(e for e in events if e.module == module and e.kind == "update")
    return update.start - forward.end          # h is out, but the weights may not change yet


def sg_target(x, W, b, g_hat):
    """The regression target of M_i, which sits on f_i's input x = h_{i-1}, when f_i is
    h_i = relu(x W + b) and updates with g_hat = g_hat_i, the prediction of M_{i+1}.

    The target is what f_i's backward sends down when it backpropagates its own
    synthetic gradient (the bootstrapped target, paper §2).
    x: (N, D_in), W: (D_in, D_out), b: (D_out,), g_hat: (N, D_out) -> d_in: (N, D_in).
    """
    dz = relu_backward(x @ W + b, g_hat)
    d_in, _, _ = linear_backward(x, W, dz)
    return d_in


def m_loss_and_grad(g_hat, delta):
    """M's L2 loss, the mean of (g_hat - delta)^2 over all N x D entries, and its gradient in g_hat.

    g_hat, delta: (N, D) -> (loss: a number, dg_hat: (N, D)). As minidni.losses.MSE, which
    Regressor.fit minimises.
    """
    diff = g_hat - delta
    loss = (diff ** 2).mean()                  # the mean over every entry, as torch.nn.MSELoss
    dg_hat = diff * (2.0 / diff.size)          # d/dg of (g - delta)^2 is 2 (g - delta); the mean divides by N D
    return loss, dg_hat


def cosine(a, b):
    """The cosine of the angle between a and b taken as single vectors (over all their entries).

    a, b: the same shape, e.g. (N, D) -> a number. (sg_quality reports 0 where a or b is all
    zero, as g_hat is before M's first fit; here that is 0 / 0.)
    """
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())     # <a, b> / (|a| |b|)


def dni_step(trainer, x, y):
    """One decoupled step of `trainer` (a DNI) on x: (N, ...), y: (N,). Returns the loss at the top.

    f_i is trainer.modules[i - 1] and trainer.M[i + 1] is M_{i+1}, which sits on h_i.
    """
    L = len(trainer.modules)
    h = x                                                # h_0
    for i, f in enumerate(trainer.modules, start=1):     # f = f_i
        h = f.forward(h)                                 # h_i = f_i(h_{i-1})
        if i < L:
            g_hat = trainer.M[i + 1].predict(h)          # g_hat_i = M_{i+1}(h_i), at once
            d_in = f.backward(g_hat)
        else:
            loss = trainer.loss_fn.forward(h, y)
            d_in = f.backward(trainer.loss_fn.backward())    # delta_L = dL/dh_L: the true gradient, at the top only
        trainer.optimizers[i - 1].step()                 # update now: no update lock
        if i > 1:
            trainer.M[i].fit(d_in)                       # M_i, on h_{i-1}: the bootstrapped target
    return loss


def cdni_prediction(h, c, W, V, b):
    """A linear cDNI model: g_hat = M(h, c) = h W + b + V[c], the label's own learned row.

    h: (N, D) a module's output, c: (N,) integer labels in [0, K), W: (D, D), V: (K, D),
    b: (D,) -> g_hat: (N, D). V[c] is onehot(c) V: concatenating onehot(c) to h and a linear
    M on the D + K inputs is the same function (SyntheticModel's condition "bias").
    """
    return h @ W + b + V[c]        # one row of V per sample: the row of its class


def choose_on_validation(records):
    """The setting to keep: that of the record with the lowest validation error (the first, on a tie).

    records: a list of {"value": the setting, "valid_error": ..., "test_error": ...}. The test
    error is read once, for the chosen setting, after the choice; it must not make it.
    """
    best = min(records, key=lambda r: r["valid_error"])      # min keeps the first of equals
    return best["value"]


def input_model_grads(x, h, W, b):
    """The L2 loss of a linear synthetic-input model I(x) = x W + b against the real input h,
    and its gradients: what Regressor.fit computes for an I of complete unlock.

    x: (N, D_x) the data, h: (N, D) the module's real input, W: (D_x, D), b: (D,).
    Returns (loss: the mean of (I(x) - h)^2 over all N D entries, dW: (D_x, D), db: (D,)).
    """
    diff = x @ W + b - h
    loss = (diff ** 2).mean()
    d_pred = diff * (2.0 / diff.size)          # MSE's gradient, as in m_loss_and_grad
    return loss, x.T @ d_pred, d_pred.sum(axis=0)


def stochastic_schedule(L, updates):
    """The (module, kind) events of one DNI.step on L modules whose coins came up `updates`
    (a bool per module: True = it updates on this step), in the order they run.

    Modules are numbered from 0, as the trace numbers them: module i is f_{i+1}. Every module
    runs forward (the modules above need its output) and, below the top, predicts its
    synthetic gradient; only a module that updates runs backward, updates, and then fits
    trainer.M[i + 1], the M on its input h_i, to its bootstrapped target (recorded as module
    i - 1's sg_update: M[i + 1] reads module i - 1's output).
    """
    events = []
    for i in range(L):
        events.append((i, "forward"))
        if i < L - 1:
            events.append((i, "sg_predict"))
        if updates[i]:
            events += [(i, "backward"), (i, "update")]
            if i > 0:
                events.append((i - 1, "sg_update"))    # its backward made M[i + 1]'s target
    return events


def window_bounds(L, T):
    """The windows TBPTT.sequence cuts a sequence of L steps into: [(start, end, last)].

    Steps start ... end - 1 form a window of at most T steps; the last may be shorter and
    is the only one with last = True (it has no future, so no synthetic gradient).
    """
    return [(start, min(start + T, L), min(start + T, L) == L) for start in range(0, L, T)]


def window_backward(w, h0, x, y, g_hat):
    """Backward through one window of a linear recurrent core, with a synthetic gradient at its end.

    Core h_t = w h_{t-1} + x_t for t = 1 ... T, from h0; window loss sum_t sum_n (h_t - y_t)^2 / 2.
    g_hat stands in for d(all later losses) / dh_T. w: a number, h0: (N,), x, y: (T, N), g_hat: (N,).
    Returns (dw: a number, dh0: (N,)), the gradients of the window's loss plus g_hat . h_T; dh0 is the
    target of the M at this window's start (the g_hat of the window before). Without g_hat this is
    truncated BPTT.
    """
    T = len(x)
    h = [h0]
    for t in range(T):
        h.append(w * h[-1] + x[t])                  # h[t + 1] = h_{t+1}
    dh = g_hat                                      # dL/dh_T from beyond the window: the synthetic gradient
    dw = 0.0
    for t in reversed(range(1, T + 1)):
        dh = dh + (h[t] - y[t - 1])                 # + the loss at step t: now dL/dh_t
        dw = dw + (dh * h[t - 1]).sum()             # h_t = w h_{t-1} + x_t
        dh = w * dh                                 # now dL/dh_{t-1}
    return dw, dh


def stable_softmax(z):
    """softmax of each row of z: (N, C) -> (N, C), without overflow for any finite logits.

    exp(800) overflows even float64 (float32 already at exp(89)); subtracting the row's max
    changes nothing mathematically and makes the largest exponent exp(0) = 1.
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def relative_error(a, b):
    """||a - b|| / (||a|| + ||b||), 0 when both are zero: how the gradient checks compare a backward
    pass with finite differences, and notebook 07 two backends' results. As minidni.gradcheck.rel_error."""
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return np.linalg.norm(a - b) / scale if scale > 0 else 0.0


def tick_targets(y_step, K, span):
    """B's target at each tick: how many odd digits were shown in the last span x K steps.

    y_step: (J K, n) the digit shown at each step of n streams; B ticks at steps K - 1,
    2K - 1, ... (counting from 0). Returns (J, n) integers: at the tick of step t, the odd
    digits among steps t - span K + 1 ... t (fewer at the start, where the stream is shorter).
    """
    odd = y_step % 2
    ticks = range(K - 1, len(y_step), K)
    return np.stack([odd[max(t - span * K + 1, 0):t + 1].sum(axis=0) for t in ticks])


def constant_guess_error(n, p):
    """The error rate of a B that always answers the most likely count: the baseline to beat.

    The count of odd digits among n independent digits, each odd with probability p, is
    Binomial(n, p); the best constant answer is its most likely value k, right with
    probability C(n, k) p^k (1 - p)^(n - k).
    """
    best = max(math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1))
    return 1 - best


# The concept questions' answers (minidni.course.questions holds only their SHA-256): a choice's letter,
# or a number as the question rounds it; and the reason, which the checker shows (sealed with the answer)
# to whoever answers right.
CONCEPT_ANSWERS = {
    "q_what_dni_changes": "b",
    "q_backprop_waits": 3,
    "q_lock_dni_keeps": "c",
    "q_m_target": "c",
    "q_zero_m_is_safe": "d",
    "q_dni_update_order": "b",
    "q_bootstrapping": "c",
    "q_tails_runs": "b",
    "q_window_boundary": "b",
    "q_truncated_no_loss": 0,
    "q_backend_switch": "d",
    "q_gpu_timer": "b",
    "q_two_network_lock": "b",
    "q_first_f1_update": 3,
}
CONCEPT_WHY = {
    "q_what_dni_changes":
        "backward applies the same local rule to whatever dy arrives: a module cannot tell a true "
        "gradient from a synthetic one.",
    "q_backprop_waits":
        "the loss needs f_2, f_3, f_4 forward, and delta_1 comes back only through the backward of f_4, "
        "f_3 and f_2: update locking and backward locking together.",
    "q_lock_dni_keeps":
        "f_i updates with g_hat_i = M_{i+1}(h_i) at once, but it cannot run before h_{i-1} exists; "
        "notebook 05's synthetic inputs remove that too.",
    "q_m_target":
        "M regresses g_hat on the true gradient the upper half sends back, L_M = ||g_hat - delta||^2; the"
        " lower half has already updated with g_hat by then.",
    "q_zero_m_is_safe":
        "a wrong gradient would push the lower half in a random direction; a zero one only leaves it "
        "where it is (the cosine starts at exactly 0), and M's regression moves it away from zero.",
    "q_dni_update_order":
        "f_1 runs forward, asks M_2 for g_hat_1, runs backward and updates, all before f_2 starts: no "
        "update lock.",
    "q_bootstrapping":
        "only the top module sees the loss; every other M learns from the next M's guess carried back "
        "through one module, as TD learning does, so errors can compound down a deep stack.",
    "q_tails_runs":
        "the modules above need h_i anyway; backward, update and the fit of the M below it are skipped.",
    "q_window_boundary":
        "truncated BPTT sets delta_{t+T} = 0; DNI puts M's prediction of it in as d_state_T, once, at the"
        " last state.",
    "q_truncated_no_loss":
        "window 1 has no loss and truncation passes no gradient across its end, so nothing trains the "
        "reading steps to store the patterns.",
    "q_backend_switch":
        "compute code asks the backend for its array module; CuPy copies NumPy's API, so the same calls "
        "run on the device, with data moved only at the edges.",
    "q_gpu_timer":
        "the GPU works asynchronously; synchronize() waits for the queued kernels, so the time between "
        "two calls is the device's work.",
    "q_two_network_lock":
        "B's gradient on each message joins A's backward through every step, so A waits for all of B: the"
        " update lock between two networks.",
    "q_first_f1_update":
        "step 1 fits M_3 to the true gradient; step 2 its guess reaches f_2 and M_2's target; step 3 M_2 "
        "is no longer zero: one step per M, through the bootstrapped targets.",
}
