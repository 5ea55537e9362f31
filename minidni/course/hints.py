"""Hints: the wrong answers that common mistakes compute, and what to say about each.

ARRAY_HINTS: name -> {output: [(formula, hint)]}. formula(**inputs) is what a common
mistake computes for that output of an exercise of ARRAY_EXERCISES; when a wrong answer
equals it, the checker adds the hint to its message. VALUE_HINTS: name -> [(wrong, hint)],
the same for VALUE_EXERCISES: wrong(**args) is a wrong answer of the same arguments.
dni_step_cause says what a wrong dni_step likely got wrong, from the first parameter that
differs from DNI.step's (a module's, by its list position, or an M's, by the paper's index).
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
    "sg_target": {
        "d_in": [(lambda x, W, b, g_hat: g_hat @ W.T, "did you forget the ReLU? mask g_hat with [x W + b > 0] first"),
                 (lambda x, W, b, g_hat: (g_hat * (x > 0)) @ W.T,
                  "the mask is [z > 0] of the ReLU's input z = x W + b, not of x"),
                 (lambda x, W, b, g_hat: (g_hat * (x @ W + b > 0)) @ W, "did you forget the transpose of W?")]},
    "m_loss_and_grad": {
        "loss": [(lambda g_hat, delta: ((g_hat - delta) ** 2).sum(),
                  "that is the sum of squares; M's loss is their mean over all N D entries, as Regressor.fit's MSE"),
                 (lambda g_hat, delta: ((g_hat - delta) ** 2).sum(axis=1).mean(),
                  "that divides by N only: the mean is over all N D entries, so divide by g_hat.size")],
        "dg_hat": [(lambda g_hat, delta: (g_hat - delta) / g_hat.size,
                    "the factor 2: the derivative of (g - delta)^2 is 2 (g - delta)"),
                   (lambda g_hat, delta: 2 * (delta - g_hat) / g_hat.size,
                    "the sign: the gradient is 2 (g_hat - delta) / (N D); a step against it moves g_hat "
                    "towards delta"),
                   (lambda g_hat, delta: 2 * (g_hat - delta),
                    "that is the gradient of the sum of squares; the loss is the mean, so divide by N D"),
                   (lambda g_hat, delta: 2 * (g_hat - delta) / len(g_hat),
                    "that divides by N only: the loss is a mean over all N D entries, so divide by g_hat.size")]},
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
        "loss": [(lambda x, h, W, b: ((x @ W + b - h) ** 2).sum(),
                  "that is the sum of squares; the loss is their mean over all N D entries"),
                 (lambda x, h, W, b: ((x @ W + b - h) ** 2).sum(axis=1).mean(),
                  "that divides by N only: the mean is over all N D entries")],
        "dW": [(lambda x, h, W, b: x.T @ (x @ W + b - h) / h.size,
                "the factor 2: the derivative of (I(x) - h)^2 is 2 (I(x) - h)"),
               (lambda x, h, W, b: x.T @ (2 * (h - x @ W - b) / h.size),
                "the sign: the residual is I(x) - h, the prediction minus its target"),
               (lambda x, h, W, b: (2 * (x @ W + b - h) / h.size).T @ x,
                "that is dW transposed: dW = xᵀ (dloss / dI(x)) has W's shape (D_x, D)"),
               (lambda x, h, W, b: x.T @ (2 * (x @ W + b - h) / len(h)),
                "that divides by N only: the loss is a mean over all N D entries")],
        "db": [(lambda x, h, W, b: (2 * (x @ W + b - h) / h.size).mean(axis=0),
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


def dni_step_cause(group, index, L, unchanged):
    """The likely mistake when a parameter of `group` ("modules" or "M") is the first of L modules'
    and their M's to differ from DNI.step's; `index`: a list position in trainer.modules, the
    paper's index in trainer.M (M[i + 1] sits on h_i, the output of modules[i - 1]);
    `unchanged`: it still holds its value from before the step."""
    if group == "modules" and index == L - 1:
        cause = ("the last module f_L has no M: it backpropagates the true gradient, trainer.loss_fn.backward(), "
                 f"then trainer.optimizers[{index}].step() updates it")
    elif group == "modules":
        i = index + 1                                    # modules[index] is f_i
        cause = (f"modules[{index}] is f_{i}: it backpropagates g_hat_{i} = trainer.M[{i + 1}].predict(h) of its "
                 f"own output h = h_{i}, then trainer.optimizers[{index}].step() updates it")
    else:
        i = index - 1                                    # M[index] = M_{i+1} sits on h_i
        cause = (f"M[{index}] predicts g_hat_{i} from h_{i}, the output of modules[{i - 1}], and is then fitted, "
                 f"trainer.M[{index}].fit(d_in), to the gradient d_in that modules[{i}].backward returns "
                 "(the bootstrapped target)")
    return f"it did not change; {cause}" if unchanged else cause
