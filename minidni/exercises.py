"""Exercises for the tutorials: you write a function, `check` compares it with the reference.

In a notebook:

    def linear_backward(x, W, dy):
        raise NotImplementedError                         # your code here
    linear_backward = check("linear_backward", linear_backward)
    show_solution("linear_backward")                      # prints the reference solution

`check(name, fn)` runs `fn` on small random float64 inputs (integer labels where it takes
labels; made-up steps of a trace for update_wait) and compares what it returns with the
reference (minidni/exercise_solutions.py). It returns the function the rest of
the notebook should use: yours when it agrees ("correct: ..."), the reference while
yours raises NotImplementedError (not attempted yet, so the notebook still runs top to
bottom). When yours disagrees it raises ExerciseError naming the output that is wrong,
its shape or how far it is off, and the likely mistake where a common one explains it.

dni_step is checked strictly: two DNI trainers built alike take the same batches, one
with DNI.step and one with yours, and after every step each parameter of every module
and every M must be equal bit for bit.
"""
import inspect
import math

import numpy as np

from . import exercise_solutions as solutions
from .backend import get_dtype, set_dtype, to_device, to_numpy
from .gradcheck import rel_error
from .models import build_mlp
from .trace import Event
from .train import DNI

TOLERANCE = 1e-10        # relative error that float64 rounding explains; more is a mistake


def labels(n, classes):
    """An input of n integer labels in [0, classes), for a case of ARRAY_EXERCISES."""
    return lambda rng: rng.integers(0, classes, n)


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _onehot(y, classes):
    return np.eye(classes)[y]


# name -> (the outputs, in order; the inputs of each case; hints). An input is a shape (standard
# normal entries) or labels(n, classes). A hint is a wrong formula that a common mistake
# computes, and what to say when the answer equals it. The first case is square so that a
# forgotten transpose gives a wrong value (which a hint can name) rather than a crash; the
# second is not, so a transposed result has the wrong shape. An output may be a number
# (shape ()): a Python float counts as a float64.
ARRAY_EXERCISES = {
    "linear_backward": (
        ("dx", "dW", "db"),
        [dict(x=(5, 4), W=(4, 4), dy=(5, 4)), dict(x=(5, 4), W=(4, 3), dy=(5, 3))],
        {"dx": [(lambda x, W, dy: dy @ W, "did you forget the transpose of W? dx = dy Wᵀ")],
         "dW": [(lambda x, W, dy: dy.T @ x, "that is dW transposed: dW = xᵀ dy has W's shape (D_in, D_out)")],
         "db": [(lambda x, W, dy: dy.mean(axis=0), "db is the sum of dy over the batch, not the mean"),
                (lambda x, W, dy: 0 * dy[0], "db is zero: b is added to every row of h, so db = Σ_n dy_n")]}),
    "relu_backward": (
        ("dx",),
        [dict(x=(5, 4), dy=(5, 4))],
        {"dx": [(lambda x, dy: dy * (dy > 0), "the mask is [x > 0], from the layer's input x, not from dy"),
                (lambda x, dy: 1.0 * (x > 0), "you dropped dy: dx = dy * [x > 0]"),
                (lambda x, dy: dy * np.maximum(x, 0), "multiply dy by the indicator [x > 0], not by max(x, 0)")]}),
    "softmax_cross_entropy_backward": (
        ("dz",),
        [dict(z=(5, 4), y=labels(5, 4)), dict(z=(3, 10), y=labels(3, 10))],
        {"dz": [(lambda z, y: _softmax(z) - _onehot(y, z.shape[1]),
                 "did you forget to divide by N? L is the mean over the batch: dz = (softmax(z) - onehot(y)) / N"),
                (lambda z, y: _softmax(z) / len(y),
                 "did you forget to subtract onehot(y)? dz = (softmax(z) - onehot(y)) / N"),
                (lambda z, y: (_onehot(y, z.shape[1]) - _softmax(z)) / len(y),
                 "the sign: dz = (softmax(z) - onehot(y)) / N; raising the true class's logit lowers the loss"),
                (lambda z, y: (_softmax(z, axis=0) - _onehot(y, z.shape[1])) / len(y),
                 "softmax normalises each row over its C classes (axis=1), not each column over the batch"),
                (lambda z, y: (_softmax(z) - _onehot(y, z.shape[1])) / z.size,
                 "divide by N, the number of samples, not by N C, the number of logits")]}),
    "sg_target": (
        ("d_in",),
        [dict(x=(5, 4), W=(4, 4), b=(4,), g_hat=(5, 4)), dict(x=(5, 4), W=(4, 3), b=(3,), g_hat=(5, 3))],
        {"d_in": [(lambda x, W, b, g_hat: g_hat @ W.T, "did you forget the ReLU? mask g_hat with [x W + b > 0] first"),
                  (lambda x, W, b, g_hat: (g_hat * (x > 0)) @ W.T,
                   "the mask is [z > 0] of the ReLU's input z = x W + b, not of x"),
                  (lambda x, W, b, g_hat: (g_hat * (x @ W + b > 0)) @ W, "did you forget the transpose of W?")]}),
    "m_loss_and_grad": (
        ("loss", "dg_hat"),
        [dict(g_hat=(5, 4), delta=(5, 4)), dict(g_hat=(3, 6), delta=(3, 6))],
        {"loss": [(lambda g_hat, delta: ((g_hat - delta) ** 2).sum(),
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
                     "that divides by N only: the loss is a mean over all N D entries, so divide by g_hat.size")]}),
    "cosine": (
        ("cosine",),
        [dict(a=(5, 4), b=(5, 4)), dict(a=(3, 7), b=(3, 7))],
        {"cosine": [(lambda a, b: np.mean((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))),
                     "that is the mean of one cosine per row; take a and b each as one vector of all N D "
                     "entries: sum over every axis"),
                    (lambda a, b: (a * b).sum(), "that is the dot product <a, b>: divide it by |a| |b|"),
                    (lambda a, b: (a * b).sum() / ((a * a).sum() * (b * b).sum()),
                     "|a| is the square root of the sum of a^2: divide by sqrt(sum a^2 * sum b^2)")]}),
    "cdni_prediction": (
        ("g_hat",),
        [dict(h=(5, 4), c=labels(5, 3), W=(4, 4), V=(3, 4), b=(4,)),
         dict(h=(6, 3), c=labels(6, 5), W=(3, 3), V=(5, 3), b=(3,))],
        {"g_hat": [(lambda h, c, W, V, b: h @ W + b,
                    "that is DNI's M, blind to the label: cDNI adds V[c], the learned row of each sample's class"),
                   (lambda h, c, W, V, b: h @ W.T + b + V[c], "did you transpose W? g_hat = h W + b + V[c]"),
                   (lambda h, c, W, V, b: h @ W + V[c], "you left out the bias b: g_hat = h W + b + V[c]")]}),
    "input_model_grads": (
        ("loss", "dW", "db"),
        [dict(x=(5, 4), h=(5, 4), W=(4, 4), b=(4,)), dict(x=(6, 5), h=(6, 3), W=(5, 3), b=(3,))],
        {"loss": [(lambda x, h, W, b: ((x @ W + b - h) ** 2).sum(),
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
                 "db is the sum over the batch of dloss / dI(x), not the mean")]}),
    "window_backward": (
        ("dw", "dh0"),
        [dict(w=(), h0=(4,), x=(5, 4), y=(5, 4), g_hat=(4,)), dict(w=(), h0=(3,), x=(2, 3), y=(2, 3), g_hat=(3,))],
        {"dw": [(lambda w, h0, x, y, g_hat: solutions.window_backward(w, h0, x, y, 0 * g_hat)[0],
                 "that is plain truncated BPTT: the synthetic gradient g_hat adds to dL/dh_T before the "
                 "backward pass starts"),
                (lambda w, h0, x, y, g_hat: _window_backward_every_step(w, h0, x, y, g_hat)[0],
                 "g_hat stands for the losses after the window: it enters once, at h_T, not at every step")],
         "dh0": [(lambda w, h0, x, y, g_hat: solutions.window_backward(w, h0, x, y, 0 * g_hat)[1],
                  "that is plain truncated BPTT: the synthetic gradient g_hat adds to dL/dh_T before the "
                  "backward pass starts"),
                 (lambda w, h0, x, y, g_hat: solutions.window_backward(w, h0, x, y, g_hat)[1] / w,
                  "that is dL/dh_1; one more step back: h_1 = w h_0 + x_1, so dL/dh_0 = w dL/dh_1")]}),
    "stable_softmax": (
        ("p",),
        [dict(z=(4, 5)), dict(z=lambda rng: 800 * rng.standard_normal((3, 6)))],
        {"p": [(lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
                "exp overflows for large logits (exp(710) is inf in float64, exp(89) in float32): subtract "
                "each row's max from it first, which leaves the softmax unchanged"),
               (lambda z: _softmax(z, axis=0), "each row is normalised over its C classes: max and sum over axis=1")]}),
    "tick_targets": (
        ("counts",),
        [dict(y_step=lambda rng: rng.integers(0, 10, (12, 3)), K=lambda rng: 4, span=lambda rng: 2),
         dict(y_step=lambda rng: rng.integers(0, 10, (15, 2)), K=lambda rng: 3, span=lambda rng: 3)],
        {"counts": [(lambda y_step, K, span: solutions.tick_targets(y_step + 1, K, span),
                     "those are the even digits: a digit is odd when y % 2 == 1"),
                    (lambda y_step, K, span: solutions.tick_targets(y_step, K, len(y_step)),
                     "that counts from the start of the stream: only the last span x K steps count"),
                    (lambda y_step, K, span: solutions.tick_targets(y_step, 1, span)[K - 1::K],
                     "that counts the last span steps; B asks about the last span x K steps"),
                    (lambda y_step, K, span: np.stack([(y_step % 2)[max(t - span * K, 0):t].sum(axis=0)
                                                       for t in range(K - 1, len(y_step), K)]),
                     "that window stops one step early: the tick's own step t counts, steps t - span K + 1 ... t")]}),
}


def _one_step(schedule, rng):
    """Made-up events of one step (step 7) that runs `schedule`'s (module, kind) in order, each
    0.1 to 1 ms long after a pause of up to 0.1 ms; times in seconds, as a Trace records them."""
    events, t = [], 1.0
    for module, kind in schedule:
        start = t + rng.uniform(0, 1e-4)
        t = start + rng.uniform(1e-4, 1e-3)
        events.append(Event(module, kind, 7, start, t))
    return events


def _dni_schedule(L):
    """The (module, kind) of one DNI.step with an M after each of L modules, in the order it runs them."""
    return [event for i in range(L) for event in
            [(i, "forward")] + [(i, "sg_predict")] * (i < L - 1) + [(i, "backward"), (i, "update")]
            + [(i - 1, "sg_update")] * (i > 0)]


def _event(events, module, kind):
    return next(e for e in events if e.module == module and e.kind == kind)


def _search_records(rng, values):
    """Made-up records of a search over `values`: validation and test errors that disagree on the best."""
    valid = rng.uniform(0.02, 0.10, len(values))
    test = valid + rng.uniform(-0.005, 0.005, len(values))
    order = valid.argsort()
    test[order[1]] = test[order[0]] - 0.01             # the test set would pick the second best
    return [{"value": v, "valid_error": float(e), "test_error": float(t)} for v, e, t in zip(values, valid, test)]


def _window_backward_every_step(w, h0, x, y, g_hat):
    """window_backward with g_hat added to the gradient at every step rather than once at h_T (a
    mistake, for a hint): the same as every target lowered by g_hat and no synthetic gradient."""
    return solutions.window_backward(w, h0, x, y - g_hat, 0 * g_hat)


# Exercises whose answer is not an array: name -> (the arguments of each case, made from a random
# generator; hints, as above: a wrong function of the same arguments and what to say when the
# answer equals it). A list answer must be equal; a number within TOLERANCE (relative).
VALUE_EXERCISES = {
    "backprop_schedule": (
        lambda rng: [dict(L=4), dict(L=2), dict(L=6)],
        [(lambda L: [(i, k) for k in ("forward", "backward", "update") for i in range(L)],
          "the backward pass runs from the top down: module i's backward needs delta_i, which module "
          "i + 1's backward returns (the loss's gradient at the top)"),
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
          "number the modules from 0, as the trace does: module 1 of the text is module 0")]),
    "update_wait": (
        lambda rng: [dict(events=_one_step(solutions.backprop_schedule(4), rng), module=2),
                     dict(events=_one_step(_dni_schedule(4), rng), module=1),
                     dict(events=_one_step(solutions.backprop_schedule(4), rng), module=0)],
        [(lambda events, module: _event(events, module, "update").start - _event(events, module, "forward").start,
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
          "`module` is numbered from 0, as the trace's e.module is: compare e.module with it as it is")]),
    "choose_on_validation": (
        lambda rng: [dict(records=_search_records(rng, values)) for values in
                     ([1e-4, 3e-4, 1e-3, 3e-3], [0.1, 1.0, 10.0], [2, 3, 4, 6, 8])],
        [(lambda records: min(records, key=lambda r: r["test_error"])["value"],
          "that is the setting with the lowest *test* error: choose on validation; the test set is read "
          "once, for the chosen setting, after the choice"),
         (lambda records: max(records, key=lambda r: r["valid_error"])["value"],
          "that one has the highest validation error: keep the lowest"),
         (lambda records: min(r["valid_error"] for r in records),
          "that is the lowest validation error itself; return the setting that reached it, its \"value\"")]),
    "stochastic_schedule": (
        lambda rng: [dict(L=4, updates=[True, False, True, False]), dict(L=3, updates=[False, True, True]),
                     dict(L=5, updates=[bool(u) for u in rng.random(5) < 0.5])],
        [(lambda L, updates: [e for e in solutions.stochastic_schedule(L, updates)
                              if updates[e[0]] or e[1] == "sg_update"],
          "a module whose coin came up tails still runs forward (and predicts g_hat): the modules above "
          "need its output"),
         (lambda L, updates: _dni_schedule(L),
          "that is the schedule with every coin heads: a module whose coin came up tails only runs forward "
          "and sg_predict"),
         (lambda L, updates: [e for i in range(L) for e in [(i, "forward")] + [(i, "sg_predict")] * (i < L - 1)
                              + [(i, "backward")] + [(i, "update"), (i - 1, "sg_update")][:2 - (i == 0)] * updates[i]],
          "a module that will not update has no use for a backward pass: DNI.step skips its backward "
          "with its update"),
         (lambda L, updates: [(i + (k == "sg_update"), k) for i, k in solutions.stochastic_schedule(L, updates)],
          "the fit of sgs[i - 1] is recorded under module i - 1: it is the M below module i that learns")]),
    "window_bounds": (
        lambda rng: [dict(L=10, T=3), dict(L=8, T=4), dict(L=5, T=8)],
        [(lambda L, T: [(s, s + T, s + T == L) for s in range(0, L - T + 1, T)],
          "the last window may be shorter than T: start at 0, T, 2T, ... < L and end at min(start + T, L)"),
         (lambda L, T: [(s, s + T, s + T >= L) for s in range(0, L, T)],
          "a window ends at min(start + T, L): the sequence has no step L"),
         (lambda L, T: [(s, min(s + T, L), False) for s in range(0, L, T)],
          "the last window has last = True: nothing follows it, so it gets no synthetic gradient")]),
    "relative_error": (
        lambda rng: [dict(a=(a := rng.standard_normal((4, 3))), b=a + 1e-3 * rng.standard_normal((4, 3))),
                     dict(a=rng.standard_normal(5), b=rng.standard_normal(5)),
                     dict(a=np.zeros(3), b=np.zeros(3))],
        [(lambda a, b: np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)),
          "when a and b are both zero, ||a|| + ||b|| = 0: they agree, so return 0, not 0 / 0 = nan"),
         (lambda a, b: np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))),
          "that is the largest entry-wise error, which one tiny entry can dominate: take the norms of the "
          "whole arrays, ||a - b|| / (||a|| + ||b||)"),
         (lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(a),
          "divide by ||a|| + ||b||: then it does not matter which array is the reference"),
         (lambda a, b: np.linalg.norm(a - b), "that is the absolute error: divide it by ||a|| + ||b||")]),
    "constant_guess_error": (
        lambda rng: [dict(n=12, p=0.5), dict(n=4, p=0.5), dict(n=7, p=0.3), dict(n=2, p=0.7)],
        [(lambda n, p: 1 - solutions.constant_guess_error(n, p),
          "that is how often the best guess is right; the error is 1 minus it"),
         (lambda n, p: n / (n + 1),
          "that is guessing a count uniformly at random among the n + 1 counts; the best constant guess "
          "is the most likely count"),
         (lambda n, p: 1 - math.comb(n, round(n * p)) * p ** round(n * p) * (1 - p) ** (n - round(n * p)),
          "the most likely count is not always n p rounded (for n = 2, p = 0.7 it is 2, not 1): take the "
          "largest C(n, k) p^k (1 - p)^(n - k) over every k"),
         (lambda n, p: 1 - math.comb(n, n // 2) * p ** (n // 2) * (1 - p) ** (n - n // 2),
          "the most likely count is n / 2 only when p = 1/2: take the largest "
          "C(n, k) p^k (1 - p)^(n - k) over every k")]),
}


class ExerciseError(AssertionError):
    """A student's function disagrees with the reference; the message says where and how."""


def check(name, fn):
    """Check `fn` against exercise `name`; return yours if right, the reference if not attempted.

    Prints one line saying which. A wrong answer raises ExerciseError with what is wrong.
    """
    run = CHECKS[_known(name)]
    old = get_dtype()
    set_dtype("float64")               # rounding then cannot hide a mistake
    try:
        passed = run(fn)
    except NotImplementedError:
        print(f"not attempted: using the reference solution for {name}; show_solution({name!r}) prints it")
        return getattr(solutions, name)
    finally:
        set_dtype(old)
    print(f"correct: {name}: {passed}")
    return fn


def show_solution(name):
    """Print the source of exercise `name`'s reference solution."""
    print(inspect.getsource(getattr(solutions, _known(name))))


def _known(name):
    if name not in CHECKS:
        raise ValueError(f"unknown exercise {name!r}: choose {', '.join(CHECKS)}")
    return name


def _call(name, fn, args):
    """fn(*args.values()); an error it raises is reported with the inputs' shapes (NotImplementedError passes)."""
    try:
        return fn(*args.values())
    except (NotImplementedError, ExerciseError):
        raise
    except Exception as e:
        raise ExerciseError(f"{name} raised {type(e).__name__}: {e} (on {_shapes(args)})") from e


def _shapes(args):
    """The arguments in brief: an array's shape, a number's value, a list's length."""
    return ", ".join(f"{k} {tuple(v.shape)}" if hasattr(v, "shape") else
                     f"{k} of length {len(v)}" if isinstance(v, (list, tuple)) else f"{k}={v!r}"
                     for k, v in args.items())


def _array_checker(name):
    """The check of an exercise of ARRAY_EXERCISES: each output's type, shape, dtype, then values."""
    outputs, cases, hints = ARRAY_EXERCISES[name]

    def run(fn):
        rng = np.random.default_rng(0)
        for inputs in cases:
            args = {k: s(rng) if callable(s) else rng.standard_normal(s) for k, s in inputs.items()}
            want = _as_tuple(getattr(solutions, name)(*args.values()), outputs, name)
            fresh = {k: v.copy() if hasattr(v, "copy") else v for k, v in args.items()}   # yours may change them
            got = _as_tuple(_call(name, fn, fresh), outputs, name)
            for key, a, b in zip(outputs, got, want):
                problem = _array_difference(key, a, b, args, hints.get(key, ()))
                if problem:
                    raise ExerciseError(f"{name} on {_shapes(args)}: {problem}")
        agree = "agrees" if len(outputs) == 1 else "agree"
        return f"{', '.join(outputs)} {agree} with the reference on {len(cases)} random float64 case(s)"
    return run


def _as_tuple(value, outputs, name):
    if len(outputs) == 1:
        return (value,)
    if not isinstance(value, (tuple, list)) or len(value) != len(outputs):
        raise ExerciseError(f"{name} returned {type(value).__name__} {_brief(value)}; "
                            f"expected the {len(outputs)} arrays ({', '.join(outputs)})")
    return tuple(value)


def _brief(value):
    return f"of length {len(value)}" if isinstance(value, (tuple, list)) else repr(value)[:40]


def _what(value):
    """`value` in brief with its type where the brief leaves it out: "list of length 3", "None", "0.5"."""
    return f"{type(value).__name__} {_brief(value)}" if isinstance(value, (tuple, list)) else _brief(value)


def _array_difference(key, got, want, args, hints):
    """What is wrong with output `key`, or None when it equals `want` up to TOLERANCE."""
    if isinstance(got, float):
        got = np.float64(got)              # a number computed with math or float()
    if not hasattr(got, "shape"):
        return f"{key} is {_brief(got)}, expected an array of shape {want.shape}"
    if got.shape != want.shape:
        return f"{key} has shape {tuple(got.shape)}, expected {want.shape}"
    integers = np.issubdtype(got.dtype, np.integer) and np.issubdtype(want.dtype, np.integer)
    if got.dtype != want.dtype and not integers:      # counts may come as int32 or int64 alike
        return f"{key} has dtype {got.dtype}, expected {want.dtype}" + (
            " (integers: e.g. .astype(np.int64))" if np.issubdtype(want.dtype, np.integer) else "")
    finite = np.isfinite(to_numpy(got))
    if finite.all():
        error = rel_error(got, want)
        if error <= TOLERANCE:
            return None
        problem = f"{key} differs from the reference by {error:.2g} (relative)"
    else:
        problem = f"{key} has {int((~finite).sum())} entries that are nan or inf, the reference none"
    for formula, hint in hints:
        try:
            with np.errstate(all="ignore"):        # a hint's mistake may overflow, as yours did
                wrong = formula(**args)
        except ValueError:                 # the mistake cannot even be made at these shapes
            continue
        if np.shape(wrong) == got.shape and _same_array(got, wrong):
            return f"{problem}; {hint}"
    return problem


def _same_array(a, b):
    """a equals b up to TOLERANCE, with nan and inf where b has them."""
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return False
    finite = np.isfinite(a)
    return (np.array_equal(a[~finite], b[~finite], equal_nan=True)
            and rel_error(a[finite], b[finite]) <= TOLERANCE)


def _value_checker(name):
    """The check of an exercise of VALUE_EXERCISES: a list must be equal, a number close."""
    cases, hints = VALUE_EXERCISES[name]

    def run(fn):
        all_args = cases(np.random.default_rng(0))
        for args in all_args:
            want = getattr(solutions, name)(**args)
            got = _call(name, fn, args)
            problem = _value_difference(got, want)
            if problem:
                hint = next((h for wrong, h in hints if _same_value(got, _hint_value(wrong, args))), None)
                raise ExerciseError(f"{name} on {_shapes(args)}: {problem}" + (f"; {hint}" if hint else ""))
        return f"agrees with the reference on {len(all_args)} case(s)"
    return run


def _hint_value(wrong, args):
    try:
        with np.errstate(all="ignore"):
            return wrong(**args)
    except Exception:                  # the mistake cannot be made on these arguments
        return None


def _value_difference(got, want):
    """What is wrong with `got`, or None when it equals `want` (a list) or is within TOLERANCE (a number)."""
    if isinstance(want, list):
        try:
            pairs = None if isinstance(got, str) else [tuple(entry) for entry in got]
        except TypeError:
            pairs = None
        if pairs is None:
            what = "pairs" if len(want[0]) == 2 else "entries"
            return f"returned {_what(got)}; expected a list of {len(want)} {what} like {want[0]!r}"
        got = pairs
        if got == want:
            return None
        k = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), None)
        if k is None:
            return f"returned {len(got)} entries, the reference {len(want)}"
        return f"entry {k + 1}, {got[k]!r}, is wrong" + (f" (the {k} before it are right)" if k else "")
    try:
        number = float(got)
    except (TypeError, ValueError):
        return f"returned {_what(got)}; expected a number"
    if math.isnan(number):
        return "returned nan, expected a number"
    error = abs(number - want) / abs(want) if want else abs(number)
    if error <= TOLERANCE:
        return None
    return f"returned {number:.4g}, which differs from the reference by {error:.2g} (relative)"


def _same_value(got, wrong):
    try:
        both_nan = math.isnan(float(got)) and math.isnan(float(wrong))
    except (TypeError, ValueError):
        both_nan = False
    return wrong is not None and (both_nan or _value_difference(got, wrong) is None)


def _twin_trainers():
    """Two DNI trainers, alike to the bit: 3 modules (Linear-ReLU, Linear-ReLU, Linear), linear M's, Adam."""
    return [DNI(build_mlp(6, 3, layers=3, hidden=5, rng=np.random.default_rng(0), batchnorm=False), (6,), 3,
                rng=np.random.default_rng(0)) for _ in range(2)]


def _parameters(trainer):
    """{("modules" or "sgs", i, name): a host copy} of every parameter of the modules and the M's."""
    groups = {"modules": trainer.modules, "sgs": [sg.model for sg in trainer.sgs]}
    return {(g, i, k): to_numpy(p).copy() for g, ms in groups.items() for i, m in enumerate(ms)
            for k, p in m.params.items()}


def _refuse_step(x, y):
    raise ExerciseError("dni_step called trainer.step, the library's step: write the step from the trainer's parts")


def _check_dni_step(fn, steps=3):
    """Run DNI.step on one trainer and `fn` on its twin, batch by batch; compare every parameter exactly.

    Three steps: M starts at zero, so the true gradient at the top needs one step per M
    to reach, through the bootstrapped targets, the first module.
    """
    reference, twin = _twin_trainers()
    twin.step = _refuse_step
    rng = np.random.default_rng(0)
    for t in range(1, steps + 1):
        x, y = to_device(rng.standard_normal((8, 6))), to_device(rng.integers(0, 3, 8))
        before = _parameters(twin)
        loss = reference.step(x, y)
        got = _call("dni_step", fn, {"trainer": twin, "x": x, "y": y})
        problem = _parameter_difference(_parameters(reference), _parameters(twin), before, len(twin.modules))
        if problem:
            raise ExerciseError(f"dni_step, step {t}: the parameters differ from DNI.step's at {problem}")
        if not _same_number(got, loss):
            raise ExerciseError(f"dni_step, step {t}: returned {_brief(got)}; DNI.step returns the loss at the top, "
                                f"{float(loss)!r} (what trainer.loss_fn.forward returns)")
    return (f"every parameter of the {len(twin.modules)} modules and {len(twin.sgs)} M's equals DNI.step's, "
            f"bit for bit, after each of {steps} steps")


def _same_number(a, b):
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _parameter_difference(want, got, before, L):
    """Where `got` first differs from `want`, by how much, and the likely cause; None if equal."""
    wrong = [k for k in want if not np.array_equal(got[k], want[k])]
    if not wrong:
        return None
    group, i, name = first = wrong[0]
    where = f"{group}[{i}] {name}: max |diff| {np.abs(got[first] - want[first]).max():.1e}"
    if len(wrong) > 1:
        where += f" (and {len(wrong) - 1} more)"
    if group == "modules" and i == L - 1:
        cause = ("the last module has no M: it backpropagates the true gradient, trainer.loss_fn.backward(), "
                 f"then trainer.optimizers[{i}].step() updates it")
    elif group == "modules":
        cause = (f"modules[{i}] backpropagates g_hat = trainer.sgs[{i}].predict(h) of its own output h, "
                 f"then trainer.optimizers[{i}].step() updates it")
    else:
        cause = (f"sgs[{i}] predicts from modules[{i}]'s output and is then fitted, trainer.sgs[{i}].fit(d_in), "
                 f"to the gradient d_in that modules[{i + 1}].backward returns (the bootstrapped target)")
    if np.array_equal(got[first], before[first]):
        cause = f"it did not change; {cause}"
    return f"{where}; {cause}"


# Every exercise: name -> run(fn), which raises ExerciseError or returns what it found right.
CHECKS = {**{name: _array_checker(name) for name in ARRAY_EXERCISES},
          **{name: _value_checker(name) for name in VALUE_EXERCISES}, "dni_step": _check_dni_step}
