"""Hints: the wrong answers that common mistakes compute, and what to say about each.

ARRAY_HINTS: name -> {output: [(formula, hint)]}. formula(**inputs) is what a common
mistake computes for that output of an exercise of ARRAY_EXERCISES; when a wrong answer
equals it, the checker adds the hint to its message. VALUE_HINTS: name -> [(wrong, hint)],
the same for VALUE_EXERCISES: wrong(**args) is a wrong answer of the same arguments.
"""
import math

import numpy as np

from . import solutions
from .exercises import dni_schedule


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _onehot(y, classes):
    return np.eye(classes)[y]


def _event(events, module, kind):
    return next(e for e in events if e.module == module and e.kind == kind)


def _window_backward_every_step(w, h0, x, y, g_hat):
    """window_backward with g_hat added to the gradient at every step rather than once at h_T (a
    mistake, for a hint): the same as every target lowered by g_hat and no synthetic gradient."""
    return solutions.window_backward(w, h0, x, y - g_hat, 0 * g_hat)


def _dni_arrays(W1, b1, W2, b2, A, a, x, y, lr):
    """What dni_step computes before any update: f_1's ReLU mask [x W1 + b1 > 0], h_1,
    g_hat_1 = M_2(h_1), and the true gradient dz = dL/dz at the top."""
    z1 = x @ W1 + b1
    h1 = np.maximum(z1, 0)
    return z1 > 0, h1, h1 @ A + a, solutions.softmax_cross_entropy_backward(h1 @ W2 + b2, y)


def _f1_update(k, d_h1, mask=True):
    """(W1, b1) after f_1's SGD step with d_h1 arriving at h_1, through its ReLU's mask or not;
    k: dni_step's arguments by name."""
    dz1 = d_h1 * _dni_arrays(**k)[0] if mask else d_h1
    return k["W1"] - k["lr"] * (k["x"].T @ dz1), k["b1"] - k["lr"] * dz1.sum(axis=0)


def _m_update(k, scale, late_delta=False):
    """(A, a) after M_2's SGD step on the gradient scale (g_hat_1 - delta_1), delta_1 = dz W2ᵀ with
    W2 from before f_2's update (late_delta: from after it, a mistake)."""
    _, h1, g_hat, dz = _dni_arrays(**k)
    W2 = k["W2"] - k["lr"] * (h1.T @ dz) if late_delta else k["W2"]
    dg = scale * (g_hat - dz @ W2.T)
    return k["A"] - k["lr"] * (h1.T @ dg), k["a"] - k["lr"] * dg.sum(axis=0)


def _loss_after_f1_update(k):
    """The loss of f_2 on h_1 recomputed with f_1's updated W1, b1 (a mistake, for a hint)."""
    W1, b1 = _f1_update(k, _dni_arrays(**k)[2])
    z = np.maximum(k["x"] @ W1 + b1, 0) @ k["W2"] + k["b2"]
    return -np.log(_softmax(z)[np.arange(len(k["y"])), k["y"]]).mean()


def _dni_step_hints():
    """ARRAY_HINTS["dni_step"]: each mistake under the outputs it makes wrong first, (W1, b1) or (A, a)."""
    f1 = [(lambda k: _f1_update(k, _dni_arrays(**k)[3] @ k["W2"].T),
           "f_1 updates with the synthetic gradient g_hat_1 = h_1 A + a, at once; that is delta_1, the true "
           "gradient, for which f_1 would wait until f_2 has run: backprop"),
          (lambda k: _f1_update(k, _dni_arrays(**k)[2], mask=False),
           "f_1's backward runs through its ReLU: multiply g_hat_1 by [x W1 + b1 > 0] before xᵀ")]
    m = [(lambda k: _m_update(k, 2 / len(k["y"]), late_delta=True),
          "M_2's target delta_1 = dz W2ᵀ takes W2 as it was before f_2's update: compute delta_1 first"),
         (lambda k: _m_update(k, -2 / len(k["y"])),
          "the sign: M_2 steps against the gradient of L_M, A - lr h_1ᵀ dg with dg = 2 (g_hat_1 - delta_1) / N"),
         (lambda k: _m_update(k, 2 / k["y"].size / k["A"].shape[0]),
          "that is the mean over all N x H entries, as minidni.losses.MSE: the paper's L_M sums each "
          "sample's H squares, then averages over the N samples, so dg = 2 (g_hat_1 - delta_1) / N")]
    return {"loss": [(lambda **k: _loss_after_f1_update(k),
                      "f_2 runs on h_1 as f_1 computed it before its update (the h_1 M_2 saw), not on a "
                      "new h_1 from the updated W1, b1")],
            **{key: [(lambda j=j, f=f, **k: f(k)[j], hint) for f, hint in f1] for j, key in enumerate(("W1", "b1"))},
            **{key: [(lambda j=j, f=f, **k: f(k)[j], hint) for f, hint in m] for j, key in enumerate(("A", "a"))}}


ARRAY_HINTS = {
    "linear_backward": {
        "dx": [(lambda x, W, dy: dy @ W, "did you forget the transpose of W? dx = dy Wᵀ")],
        "dW": [(lambda x, W, dy: dy.T @ x, "that is dW transposed: dW = xᵀ dy has W's shape (D_in, D_out)")],
        "db": [(lambda x, W, dy: dy.mean(axis=0), "db is the sum of dy over the batch, not the mean"),
               (lambda x, W, dy: 0 * dy[0], "db is zero: b is added to every row of h, so db = Σ_n dy_n")]},
    "relu_backward": {
        "dx": [(lambda x, dy: dy * (dy > 0), "the mask is [x > 0], from the layer's input x, not from dy"),
               (lambda x, dy: 1.0 * (x > 0), "you dropped dy: dx = dy * [x > 0]"),
               (lambda x, dy: dy * np.maximum(x, 0), "multiply dy by the indicator [x > 0], not by max(x, 0)")]},
    "softmax_cross_entropy_backward": {
        "dz": [(lambda z, y: _softmax(z) - _onehot(y, z.shape[1]),
                "did you forget to divide by N? L is the mean over the batch: dz = (softmax(z) - onehot(y)) / N"),
               (lambda z, y: _softmax(z) / len(y),
                "did you forget to subtract onehot(y)? dz = (softmax(z) - onehot(y)) / N"),
               (lambda z, y: (_onehot(y, z.shape[1]) - _softmax(z)) / len(y),
                "the sign: dz = (softmax(z) - onehot(y)) / N; raising the true class's logit lowers the loss"),
               (lambda z, y: (_softmax(z, axis=0) - _onehot(y, z.shape[1])) / len(y),
                "softmax normalises each row over its C classes (axis=1), not each column over the batch"),
               (lambda z, y: (_softmax(z) - _onehot(y, z.shape[1])) / z.size,
                "divide by N, the number of samples, not by N C, the number of logits")]},
    "m_loss_and_grad": {
        "loss": [(lambda g_hat, delta: ((g_hat - delta) ** 2).mean(),
                  "that is the mean over all N x D entries, as minidni.losses.MSE (and torch's MSELoss): the "
                  "paper's L_M sums each sample's D squares, then averages over the N samples"),
                 (lambda g_hat, delta: ((g_hat - delta) ** 2).sum(),
                  "that is the sum over the batch too: L_M is a mean over the N samples, so divide by N")],
        "dg_hat": [(lambda g_hat, delta: (g_hat - delta) / len(g_hat),
                    "the factor 2: the derivative of (g - delta)^2 is 2 (g - delta)"),
                   (lambda g_hat, delta: 2 * (delta - g_hat) / len(g_hat),
                    "the sign: the gradient is 2 (g_hat - delta) / N; a step against it moves g_hat "
                    "towards delta"),
                   (lambda g_hat, delta: 2 * (g_hat - delta),
                    "that is the gradient of the sum over the batch; the loss is a mean over the N samples, "
                    "so divide by N"),
                   (lambda g_hat, delta: 2 * (g_hat - delta) / g_hat.size,
                    "that divides by N x D, as minidni.losses.MSE does: the paper's L_M averages over the "
                    "N samples only, so divide by N")]},
    "cosine": {
        "cosine": [(lambda a, b: np.mean((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))),
                    "that is the mean of one cosine per row; take a and b each as one vector of all N D "
                    "entries: sum over every axis"),
                   (lambda a, b: (a * b).sum(), "that is the dot product <a, b>: divide it by |a| |b|"),
                   (lambda a, b: (a * b).sum() / ((a * a).sum() * (b * b).sum()),
                    "|a| is the square root of the sum of a^2: divide by sqrt(sum a^2 * sum b^2)")]},
    "cdni_prediction": {
        "g_hat": [(lambda h, c, W, V, b: h @ W + b,
                   "that is DNI's M, blind to the label: cDNI adds V[c], the learned row of each sample's class"),
                  (lambda h, c, W, V, b: h @ W.T + b + V[c], "did you transpose W? g_hat = h W + b + V[c]"),
                  (lambda h, c, W, V, b: h @ W + V[c], "you left out the bias b: g_hat = h W + b + V[c]")]},
    "input_model_grads": {
        "loss": [(lambda x, h, W, b: ((x @ W + b - h) ** 2).mean(),
                  "that is the mean over all N x D entries, as minidni.losses.MSE: the loss sums each "
                  "sample's D squares, then averages over the N samples"),
                 (lambda x, h, W, b: ((x @ W + b - h) ** 2).sum(),
                  "that is the sum over the batch too: the loss is a mean over the N samples, so divide by N")],
        "dW": [(lambda x, h, W, b: x.T @ (x @ W + b - h) / len(h),
                "the factor 2: the derivative of (I(x) - h)^2 is 2 (I(x) - h)"),
               (lambda x, h, W, b: x.T @ (2 * (h - x @ W - b) / len(h)),
                "the sign: the residual is I(x) - h, the prediction minus its target"),
               (lambda x, h, W, b: (2 * (x @ W + b - h) / len(h)).T @ x,
                "that is dW transposed: dW = xᵀ (dloss / dI(x)) has W's shape (D_x, D)"),
               (lambda x, h, W, b: x.T @ (2 * (x @ W + b - h)),
                "that is the gradient of the sum over the batch; the loss is a mean over the N samples, "
                "so divide by N"),
               (lambda x, h, W, b: x.T @ (2 * (x @ W + b - h) / h.size),
                "that divides by N x D, as minidni.losses.MSE does: the loss averages over the N samples "
                "only, so divide by N")],
        "db": [(lambda x, h, W, b: (2 * (x @ W + b - h) / len(h)).mean(axis=0),
                "db is the sum over the batch of dloss / dI(x), not the mean")]},
    "window_backward": {
        "dw": [(lambda w, h0, x, y, g_hat: solutions.window_backward(w, h0, x, y, 0 * g_hat)[0],
                "that is plain truncated BPTT: the synthetic gradient g_hat adds to dL/dh_T before the "
                "backward pass starts"),
               (lambda w, h0, x, y, g_hat: _window_backward_every_step(w, h0, x, y, g_hat)[0],
                "g_hat stands for the losses after the window: it enters once, at h_T, not at every step")],
        "dh0": [(lambda w, h0, x, y, g_hat: solutions.window_backward(w, h0, x, y, 0 * g_hat)[1],
                 "that is plain truncated BPTT: the synthetic gradient g_hat adds to dL/dh_T before the "
                 "backward pass starts"),
                (lambda w, h0, x, y, g_hat: solutions.window_backward(w, h0, x, y, g_hat)[1] / w,
                 "that is dL/dh_1; one more step back: h_1 = w h_0 + x_1, so dL/dh_0 = w dL/dh_1")]},
    "stable_softmax": {
        "p": [(lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
               "exp overflows for large logits (exp(710) is inf in float64, exp(89) in float32): subtract "
               "each row's max from it first, which leaves the softmax unchanged"),
              (lambda z: _softmax(z, axis=0), "each row is normalised over its C classes: max and sum over axis=1")]},
    "tick_targets": {
        "counts": [(lambda y_step, K, span: solutions.tick_targets(y_step + 1, K, span),
                    "those are the even digits: a digit is odd when y % 2 == 1"),
                   (lambda y_step, K, span: solutions.tick_targets(y_step, K, len(y_step)),
                    "that counts from the start of the stream: only the last span x K steps count"),
                   (lambda y_step, K, span: solutions.tick_targets(y_step, 1, span)[K - 1::K],
                    "that counts the last span steps; B asks about the last span x K steps"),
                   (lambda y_step, K, span: np.stack([(y_step % 2)[max(t - span * K, 0):t].sum(axis=0)
                                                      for t in range(K - 1, len(y_step), K)]),
                    "that window stops one step early: the tick's own step t counts, steps t - span K + 1 ... t")]},
    "dni_step": _dni_step_hints(),
}


VALUE_HINTS = {
    "backprop_schedule": [
        (lambda L: [(i, k) for k in ("forward", "backward", "update") for i in range(L)],
         "the backward pass runs from the top down: f_i's backward needs delta_i, which f_{i+1}'s "
         "backward returns (the loss's gradient at the top)"),
        (lambda L: [(i, "forward") for i in range(L)] + [(i, k) for i in reversed(range(L))
                                                         for k in ("backward", "update")],
         "Backprop.step updates no module before the whole backward pass has run, then all of them in "
         "one loop (notebook 01 printed it); updating each right after its backward is allowed by the "
         "gradients, but it is not what Backprop.step does"),
        (lambda L: [(i, "forward") for i in range(L)] + [(i, k) for k in ("backward", "update")
                                                         for i in reversed(range(L))],
         "Backprop.step's update loop runs over the modules in order, from module 0 up"),
        (lambda L: [(i, k) for i in range(L) for k in ("forward", "backward", "update")],
         "that is a decoupled schedule: under backprop no module can run backward before the loss is known"),
        (lambda L: [(i, "forward") for i in range(L)] + [(i, "backward") for i in reversed(range(L))],
         "every module also updates once per step, after the backward pass"),
        (lambda L: [(i + 1, k) for i, k in solutions.backprop_schedule(L)],
         "number the modules from 0, as the trace does: f_1 of the text is module 0")],
    "update_wait": [
        (lambda events, module: _event(events, module, "update").start - _event(events, module, "forward").start,
         "measure from the end of its forward (e.end): while it runs forward the module works, it does not wait"),
        (lambda events, module: _event(events, module, "update").end - _event(events, module, "forward").end,
         "stop at the start of its update (e.start): the update is work, not waiting"),
        (lambda events, module: _event(events, module, "update").end - _event(events, module, "forward").start,
         "that runs from the start of its forward to the end of its update; the wait lies between the "
         "forward's end and the update's start"),
        (lambda events, module: 1e3 * (_event(events, module, "update").start - _event(events, module, "forward").end),
         "return seconds, as the trace records its times; the notebook prints milliseconds"),
        (lambda events, module: (min(e.start for e in events if e.kind == "update")
                                 - _event(events, module, "forward").end),
         "that is the step's first update; measure to the start of this module's own update"),
        (lambda events, module: (_event(events, module - 1, "update").start
                                 - _event(events, module - 1, "forward").end),
         "`module` is numbered from 0, as the trace's e.module is: compare e.module with it as it is")],
    "choose_on_validation": [
        (lambda records: min(records, key=lambda r: r["test_error"])["value"],
         "that is the setting with the lowest *test* error: choose on validation; the test set is read "
         "once, for the chosen setting, after the choice"),
        (lambda records: max(records, key=lambda r: r["valid_error"])["value"],
         "that one has the highest validation error: keep the lowest"),
        (lambda records: min(r["valid_error"] for r in records),
         "that is the lowest validation error itself; return the setting that reached it, its \"value\"")],
    "stochastic_schedule": [
        (lambda L, updates: [e for e in solutions.stochastic_schedule(L, updates)
                             if updates[e[0]] or e[1] == "sg_update"],
         "a module whose coin came up tails still runs forward (and predicts g_hat): the modules above "
         "need its output"),
        (lambda L, updates: dni_schedule(L),
         "that is the schedule with every coin heads: a module whose coin came up tails only runs forward "
         "and sg_predict"),
        (lambda L, updates: [e for i in range(L) for e in [(i, "forward")] + [(i, "sg_predict")] * (i < L - 1)
                             + [(i, "backward")] + [(i, "update"), (i - 1, "sg_update")][:2 - (i == 0)] * updates[i]],
         "a module that will not update has no use for a backward pass: DNI.step skips its backward "
         "with its update"),
        (lambda L, updates: [(i + (k == "sg_update"), k) for i, k in solutions.stochastic_schedule(L, updates)],
         "the fit after module i's backward is recorded under module i - 1: it fits M[i + 1], the M on "
         "module i - 1's output")],
    "window_bounds": [
        (lambda L, T: [(s, s + T, s + T == L) for s in range(0, L - T + 1, T)],
         "the last window may be shorter than T: start at 0, T, 2T, ... < L and end at min(start + T, L)"),
        (lambda L, T: [(s, s + T, s + T >= L) for s in range(0, L, T)],
         "a window ends at min(start + T, L): the sequence has no step L"),
        (lambda L, T: [(s, min(s + T, L), False) for s in range(0, L, T)],
         "the last window has last = True: nothing follows it, so it gets no synthetic gradient")],
    "relative_error": [
        (lambda a, b: np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)),
         "when a and b are both zero, ||a|| + ||b|| = 0: they agree, so return 0, not 0 / 0 = nan"),
        (lambda a, b: np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))),
         "that is the largest entry-wise error, which one tiny entry can dominate: take the norms of the "
         "whole arrays, ||a - b|| / (||a|| + ||b||)"),
        (lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(a),
         "divide by ||a|| + ||b||: then it does not matter which array is the reference"),
        (lambda a, b: np.linalg.norm(a - b), "that is the absolute error: divide it by ||a|| + ||b||")],
    "constant_guess_error": [
        (lambda n, p: 1 - solutions.constant_guess_error(n, p),
         "that is how often the best guess is right; the error is 1 minus it"),
        (lambda n, p: n / (n + 1),
         "that is guessing a count uniformly at random among the n + 1 counts; the best constant guess "
         "is the most likely count"),
        (lambda n, p: 1 - math.comb(n, round(n * p)) * p ** round(n * p) * (1 - p) ** (n - round(n * p)),
         "the most likely count is not always n p rounded (for n = 2, p = 0.7 it is 2, not 1): take the "
         "largest C(n, k) p^k (1 - p)^(n - k) over every k"),
        (lambda n, p: 1 - math.comb(n, n // 2) * p ** (n // 2) * (1 - p) ** (n - n // 2),
         "the most likely count is n / 2 only when p = 1/2: take the largest "
         "C(n, k) p^k (1 - p)^(n - k) over every k")],
}

