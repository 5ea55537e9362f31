"""Reference solutions of the exercises that minidni.course.checker checks.

They sit alone in this module so that a student release can withhold them (the checker,
the hints and update_wait's inputs still call them). `show_solution(name)` prints one of
these. Most are the library's own arithmetic written out in one function, and the student
package runs the student's answer in that library code's place (student_package.WITHHELD_CODE):
linear_backward and relu_backward are Linear's and ReLU's backward, relative_error
gradcheck.rel_error, stable_softmax and softmax_cross_entropy_backward the softmax
cross-entropy's, update_wait what waiting_intervals measures, cosine what gradient_agreement
reports, cdni_prediction a linear conditional SyntheticModel, tick_targets DigitStreams'
targets (tests/test_exercises.py checks each against the library). The others no library code
answers (student_package.NOT_IN_THE_LIBRARY): backprop_schedule and stochastic_schedule are the
events of Backprop.step and DNI.step, window_bounds the windows of TBPTT.sequence, read from
their code; m_loss_and_grad and input_model_grads the paper's L2 (a sample's squared norm,
averaged over the batch: D times MSE's mean over every entry); dni_step one DNI step of a
two-module network in arrays; window_backward is checked by finite differences;
choose_on_validation and constant_guess_error are the experiments' reasoning written out.

By notebook: 01 linear_backward, relu_backward, relative_error, stable_softmax,
softmax_cross_entropy_backward; 02 backprop_schedule, update_wait; 03 m_loss_and_grad,
cosine, cdni_prediction; 04 choose_on_validation; 05 stochastic_schedule, input_model_grads;
06 window_bounds, window_backward; 07 none (concept questions); 08 tick_targets,
constant_guess_error; 09 dni_step. CONCEPT_ANSWERS and CONCEPT_WHY are the concept questions'
answers and reasons (minidni.course.questions holds their hashes).
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


def m_loss_and_grad(g_hat, delta):
    """The paper's L_M = ||g_hat - delta||^2 per sample, averaged over the batch, and its gradient in g_hat.

    g_hat, delta: (N, D) -> (loss: a number, dg_hat: (N, D)). loss = (1/N) sum_n sum_d (g_hat - delta)^2,
    dg_hat = 2 (g_hat - delta) / N. minidni.losses.MSE, which Regressor.fit minimises, averages over
    all N D entries instead (as torch.nn.MSELoss): D times less, the same direction.
    """
    diff = g_hat - delta
    loss = (diff ** 2).sum() / len(diff)       # the sum over D of each sample's squares, then the mean over N
    dg_hat = diff * (2.0 / len(diff))          # d/dg of (g - delta)^2 is 2 (g - delta); the mean divides by N
    return loss, dg_hat


def cosine(a, b):
    """The cosine of the angle between a and b taken as single vectors (over all their entries).

    a, b: the same shape, e.g. (N, D) -> a number. (sg_quality reports 0 where a or b is all
    zero, as g_hat is before M's first fit; here that is 0 / 0.)
    """
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())     # <a, b> / (|a| |b|)


def dni_step(W1, b1, W2, b2, A, a, x, y, lr):
    """One DNI step of a two-module network, in arrays, with SGD at rate lr for every parameter.

    f_1: h_1 = relu(x W1 + b1); M_2, linear, on h_1: g_hat_1 = h_1 A + a; f_2: the logits
    z = h_1 W2 + b2; L = the mean over the batch of softmax cross-entropy.
    x: (N, D), y: (N,) integer labels in [0, C), W1: (D, H), b1: (H,), W2: (H, C), b2: (C,),
    A: (H, H), a: (H,), lr: a number. Returns (loss: a number, W1, b1, W2, b2, A, a after the step).
    """
    N = len(y)
    z1 = x @ W1 + b1
    h1 = np.maximum(z1, 0)                                  # f_1 forward: h_1
    g_hat = h1 @ A + a                                      # g_hat_1 = M_2(h_1), at once
    dz1 = g_hat * (z1 > 0)                                  # f_1's backward with g_hat_1, through its ReLU
    W1, b1 = W1 - lr * (x.T @ dz1), b1 - lr * dz1.sum(axis=0)      # f_1 updates now: no update lock
    z = h1 @ W2 + b2                                        # f_2 forward, on h_1 from before f_1's update
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))      # log softmax(z), shifted: no overflow
    loss = -log_p[np.arange(N), y].mean()
    dz = np.exp(log_p)
    dz[np.arange(N), y] -= 1
    dz /= N                                                 # dL/dz = (softmax(z) - onehot(y)) / N: the true gradient
    delta = dz @ W2.T                                       # delta_1 = dL/dh_1, with W2 from before its update
    W2, b2 = W2 - lr * (h1.T @ dz), b2 - lr * dz.sum(axis=0)
    dg = 2 * (g_hat - delta) / N                            # of the paper's L_M = mean_n ||g_hat_n - delta_1n||^2
    A, a = A - lr * (h1.T @ dg), a - lr * dg.sum(axis=0)     # M_2 fits: one SGD step on L_M
    return loss, W1, b1, W2, b2, A, a


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
    """The L2 loss of a linear synthetic-input model I(x) = x W + b against the real input h, in the
    paper's convention (as m_loss_and_grad: ||I(x_n) - h_n||^2 averaged over the batch), and its gradients.

    x: (N, D_x) the data, h: (N, D) the module's real input, W: (D_x, D), b: (D,).
    Returns (loss: (1/N) sum_n ||x_n W + b - h_n||^2, dW: (D_x, D), db: (D,)). Regressor.fit, which
    fits an I of complete unlock by minidni.losses.MSE (the mean over all N D entries), computes
    D times less of each: the same direction.
    """
    diff = x @ W + b - h                       # I(x) regressed on h, as M's g_hat on delta
    loss = (diff ** 2).sum() / len(diff)       # each sample's squared norm, averaged over the N samples
    d = diff * (2.0 / len(diff))               # d loss / d I(x)
    return loss, x.T @ d, d.sum(axis=0)


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
