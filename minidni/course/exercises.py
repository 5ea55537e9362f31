"""The exercises: what each answer returns and the inputs it is checked on.

ARRAY_EXERCISES: name -> (the outputs, in order; the inputs of each case). An input is a
shape (standard normal entries), labels(n, classes), or a function of a random generator
(integer labels, made-up steps of a trace, a learning rate). The first case is square so that a forgotten
transpose gives a wrong value (which a hint of minidni.course.hints can name) rather than
a crash; the second is not, so a transposed result has the wrong shape. An output may be
a number (shape ()): a Python float counts as a float64.

VALUE_EXERCISES: the exercises whose answer is not an array: name -> a function of a
random generator that makes the arguments of each case. A list answer must be equal; a number
within the checker's TOLERANCE (relative). Every exercise has a case drawn from the generator, so
that grading's seed (minidni.course.grading) checks inputs the data file does not hold.
"""
import numpy as np

from . import solutions
from ..trace import Event


def labels(n, classes):
    """An input of n integer labels in [0, classes), for a case of ARRAY_EXERCISES."""
    return lambda rng: rng.integers(0, classes, n)


ARRAY_EXERCISES = {
    "linear_backward": (("dx", "dW", "db"),
                        [dict(x=(5, 4), W=(4, 4), dy=(5, 4)), dict(x=(5, 4), W=(4, 3), dy=(5, 3))]),
    "relu_backward": (("dx",), [dict(x=(5, 4), dy=(5, 4))]),
    "softmax_cross_entropy_backward": (("dz",), [dict(z=(5, 4), y=labels(5, 4)), dict(z=(3, 10), y=labels(3, 10))]),
    "m_loss_and_grad": (("loss", "dg_hat"), [dict(g_hat=(5, 4), delta=(5, 4)), dict(g_hat=(3, 6), delta=(3, 6))]),
    "cosine": (("cosine",), [dict(a=(5, 4), b=(5, 4)), dict(a=(3, 7), b=(3, 7))]),
    "cdni_prediction": (("g_hat",), [dict(h=(5, 4), c=labels(5, 3), W=(4, 4), V=(3, 4), b=(4,)),
                                     dict(h=(6, 3), c=labels(6, 5), W=(3, 3), V=(5, 3), b=(3,))]),
    "input_model_grads": (("loss", "dW", "db"), [dict(x=(5, 4), h=(5, 4), W=(4, 4), b=(4,)),
                                                 dict(x=(6, 5), h=(6, 3), W=(5, 3), b=(3,))]),
    "window_backward": (("dw", "dh0"), [dict(w=(), h0=(4,), x=(5, 4), y=(5, 4), g_hat=(4,)),
                                        dict(w=(), h0=(3,), x=(2, 3), y=(2, 3), g_hat=(3,))]),
    "stable_softmax": (("p",), [dict(z=(4, 5)), dict(z=lambda rng: 800 * rng.standard_normal((3, 6)))]),
    "tick_targets": (("counts",),
                     [dict(y_step=lambda rng: rng.integers(0, 10, (12, 3)), K=lambda rng: 4, span=lambda rng: 2),
                      dict(y_step=lambda rng: rng.integers(0, 10, (15, 2)), K=lambda rng: 3, span=lambda rng: 3)]),
    # x: (N, D), W1: (D, H), W2: (H, C), A: (H, H); A and a nonzero, so that f_1's update is not zero
    "dni_step": (("loss", "W1", "b1", "W2", "b2", "A", "a"),
                 [dict(W1=(4, 4), b1=(4,), W2=(4, 4), b2=(4,), A=(4, 4), a=(4,), x=(4, 4), y=labels(4, 4),
                       lr=lambda rng: 0.1),
                  dict(W1=(3, 5), b1=(5,), W2=(5, 6), b2=(6,), A=(5, 5), a=(5,), x=(7, 3), y=labels(7, 6),
                       lr=lambda rng: 0.1)]),
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


def dni_schedule(L):
    """The (module, kind) of one DNI.step on L modules (M_2 ... M_L, no options), in the order it runs them."""
    return [event for i in range(L) for event in
            [(i, "forward")] + [(i, "sg_predict")] * (i < L - 1) + [(i, "backward"), (i, "update")]
            + [(i - 1, "sg_update")] * (i > 0)]


def _search_records(rng, values):
    """Made-up records of a search over `values`: validation and test errors that disagree on the best."""
    valid = rng.uniform(0.02, 0.10, len(values))
    test = valid + rng.uniform(-0.005, 0.005, len(values))
    order = valid.argsort()
    test[order[1]] = test[order[0]] - 0.01             # the test set would pick the second best
    return [{"value": v, "valid_error": float(e), "test_error": float(t)} for v, e, t in zip(values, valid, test)]


VALUE_EXERCISES = {
    "backprop_schedule": lambda rng: [dict(L=4), dict(L=2), dict(L=6), dict(L=int(rng.integers(7, 13)))],
    "update_wait": lambda rng: [dict(events=_one_step(solutions.backprop_schedule(4), rng), module=2),
                                dict(events=_one_step(dni_schedule(4), rng), module=1),
                                dict(events=_one_step(solutions.backprop_schedule(4), rng), module=0)],
    "choose_on_validation": lambda rng: [dict(records=_search_records(rng, values)) for values in
                                         ([1e-4, 3e-4, 1e-3, 3e-3], [0.1, 1.0, 10.0], [2, 3, 4, 6, 8])],
    "stochastic_schedule": lambda rng: [dict(L=4, updates=[True, False, True, False]),
                                        dict(L=3, updates=[False, True, True]),
                                        dict(L=5, updates=[bool(u) for u in rng.random(5) < 0.5])],
    "window_bounds": lambda rng: [dict(L=10, T=3), dict(L=8, T=4), dict(L=5, T=8),
                                  dict(L=int(rng.integers(11, 40)), T=int(rng.integers(2, 9)))],
    "relative_error": lambda rng: [dict(a=(a := rng.standard_normal((4, 3))), b=a + 1e-3 * rng.standard_normal((4, 3))),
                                   dict(a=rng.standard_normal(5), b=rng.standard_normal(5)),
                                   dict(a=np.zeros(3), b=np.zeros(3))],
    "constant_guess_error": lambda rng: [dict(n=12, p=0.5), dict(n=4, p=0.5), dict(n=7, p=0.3), dict(n=2, p=0.7),
                                         dict(n=int(rng.integers(3, 20)), p=float(rng.uniform(0.2, 0.8)))],
}

