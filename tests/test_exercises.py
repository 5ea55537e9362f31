"""The exercise checker: the references pass, a stub gets the reference, and each common
mistake is rejected with a message that names it. Everything is checked in float64."""
import inspect
import math
import re

import numpy as np
import pytest

from minidni import get_dtype
from minidni.course import CHECKS, ExerciseError, check, show_solution, solutions
from minidni.course.exercises import ARRAY_EXERCISES, VALUE_EXERCISES, _one_step, dni_schedule
from minidni.course.hints import ARRAY_HINTS, VALUE_HINTS
from minidni.experiments.locking import waiting_intervals
from minidni.losses import MSE, SoftmaxCrossEntropy
from minidni.models import build_mlp
from minidni.backend import to_device, to_numpy
from minidni.data.streams import DigitStreams
from minidni.gradcheck import rel_error
from minidni.nn import Linear, ReLU, Sequential
from minidni.nn.recurrent import SequenceModel
from minidni.synthetic import Regressor, gradient_agreement, make_input_model, make_synthetic_model
from minidni.train import DNI, Backprop
from minidni.train.tbptt import TBPTT


def _stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("name", list(CHECKS))
def test_every_reference_solution_passes_its_own_check(name, capsys):
    reference = getattr(solutions, name)
    assert check(name, reference) is reference
    assert capsys.readouterr().out.startswith(f"correct: {name}: ")


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_stub_that_raises_not_implemented_gets_the_reference_and_says_so(name, capsys):
    assert check(name, _stub) is getattr(solutions, name)
    assert f"not attempted: using the reference solution for {name}; show_solution('{name}')" in capsys.readouterr().out
    show_solution(name)
    assert f"def {name}(" in capsys.readouterr().out


def test_the_checker_works_in_float64_and_restores_the_dtype_even_when_the_answer_is_wrong():
    seen = []
    with pytest.raises(ExerciseError):
        check("relu_backward", lambda x, dy: seen.append(x.dtype) or dy)
    assert seen == [np.float64] and get_dtype() == np.float32


def test_an_unknown_exercise_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown exercise 'linear': choose linear_backward, relu_backward"):
        check("linear", _stub)


@pytest.mark.parametrize("name, fn, expected", [
    ("linear_backward", lambda x, W, dy: (dy @ W, x.T @ dy, dy.sum(0)),
     r"dx differs from the reference by 1.6 \(relative\); did you forget the transpose of W\? dx = dy Wᵀ"),
    ("linear_backward", lambda x, W, dy: (dy @ W.T, dy.T @ x, dy.sum(0)), "dW differs .*that is dW transposed"),
    ("linear_backward", lambda x, W, dy: (dy @ W.T, x.T @ dy),
     r"returned tuple of length 2; expected the 3 arrays \(dx, dW, db\)"),
    ("linear_backward", lambda x, W, dy: (dy @ W.T, x.T @ dy, 0 * dy[0]), "db differs .*db is zero"),
    ("linear_backward", lambda x, W, dy: (dy @ W.T, x.T @ dy, dy.mean(0)), "db .*not the mean"),
    ("linear_backward", lambda x, W, dy: (dy @ W.T, x.T @ dy, dy.sum(0, keepdims=True)),
     r"db has shape \(1, 4\), expected \(4,\)"),
    ("linear_backward", lambda x, W, dy: (dy @ W.T, (x.T @ dy).reshape(W.T.shape), dy.sum(0)),
     r"on x \(5, 4\), W \(4, 3\), dy \(5, 3\): dW has shape \(3, 4\), expected \(4, 3\)"),
    ("linear_backward", lambda x, W, dy: ((dy @ W.T).astype(np.float32), x.T @ dy, dy.sum(0)),
     "dx has dtype float32, expected float64"),
    ("linear_backward", lambda x, W, dy: (dy @ W.T, x @ dy, dy.sum(0)),
     r"linear_backward raised ValueError: .* \(on x \(5, 4\), W \(4, 4\), dy \(5, 4\)\)"),
    ("relu_backward", lambda x, dy: dy * (dy > 0), r"the mask is \[x > 0\], from the layer's input x, not from dy"),
    ("relu_backward", lambda x, dy: 1.0 * (x > 0), "you dropped dy"),
    ("relu_backward", lambda x, dy: x > 0, "dx has dtype bool, expected float64"),
    ("relu_backward", lambda x, dy: dy * np.maximum(x, 0), r"not by max\(x, 0\)"),
], ids=["dx-no-transpose", "dW-transposed", "no-bias-gradient", "db-zero", "db-mean", "db-keepdims",
        "dW-wrong-shape", "dx-float32", "dW-crash", "relu-mask-of-dy", "relu-no-dy", "relu-bool", "relu-times-x"])
def test_a_wrong_answer_is_rejected_with_a_message_that_names_the_mistake(name, fn, expected):
    with pytest.raises(ExerciseError, match=expected):
        check(name, fn)


# --- every hint: the reference with one output computed by the hint's wrong formula is rejected with that hint ---

def _parameter_names(name):
    return list(inspect.signature(getattr(solutions, name)).parameters)


def _with_one_output_wrong(name, key, formula):
    """The reference of array exercise `name`, but output `key` is formula(...): one mistake."""
    outputs, names = ARRAY_EXERCISES[name][0], _parameter_names(name)

    def wrong(*args):
        values = list(getattr(solutions, name)(*args)) if len(outputs) > 1 else [None]
        values[outputs.index(key)] = formula(**dict(zip(names, args)))
        return tuple(values) if len(outputs) > 1 else values[0]
    return wrong


ARRAY_HINT_CASES = [pytest.param(name, key, formula, hint, id=f"{name}-{key}-{k}")
                    for name, hints in ARRAY_HINTS.items() for key, wrongs in hints.items()
                    for k, (formula, hint) in enumerate(wrongs)]
VALUE_HINT_CASES = [pytest.param(name, wrong, hint, id=f"{name}-{k}")
                    for name, hints in VALUE_HINTS.items() for k, (wrong, hint) in enumerate(hints)]


def test_every_hint_belongs_to_an_output_of_an_exercise_and_every_exercise_has_hints():
    assert list(ARRAY_HINTS) == list(ARRAY_EXERCISES) and list(VALUE_HINTS) == list(VALUE_EXERCISES)
    assert all(set(hints) <= set(ARRAY_EXERCISES[name][0]) for name, hints in ARRAY_HINTS.items())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")      # a mistake may overflow, as it would for the reader
@pytest.mark.parametrize("name, key, formula, hint", ARRAY_HINT_CASES)
def test_each_hint_of_an_array_exercise_is_what_its_mistake_gets(name, key, formula, hint):
    problem = f"{key} (differs from the reference|has \\d+ entries that are nan or inf)"
    with pytest.raises(ExerciseError, match=f"{problem}.*; {re.escape(hint)}$"):
        check(name, _with_one_output_wrong(name, key, formula))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name, wrong, hint", VALUE_HINT_CASES)
def test_each_hint_of_a_value_exercise_is_what_its_mistake_gets(name, wrong, hint):
    names = _parameter_names(name)
    with pytest.raises(ExerciseError, match=f"; {re.escape(hint)}$"):
        check(name, lambda *args: wrong(**dict(zip(names, args))))


# --- the new exercises of notebooks 01-03: the messages read as they should ---

@pytest.mark.parametrize("name, fn, expected", [
    ("softmax_cross_entropy_backward", lambda z, y: np.exp(z) / np.exp(z).sum(1, keepdims=True),
     r"on z \(5, 4\), y \(5,\): dz differs from the reference by 0.8 \(relative\)$"),      # two mistakes: no hint
    ("softmax_cross_entropy_backward", lambda z, y: z[:, :1] - 0 * y[:, None],
     r"dz has shape \(5, 1\), expected \(5, 4\)"),
    ("m_loss_and_grad", lambda g_hat, delta: float(((g_hat - delta) ** 2).mean()),
     r"returned float .*; expected the 2 arrays \(loss, dg_hat\)"),
    ("m_loss_and_grad", lambda g_hat, delta: (((g_hat - delta) ** 2).sum(0) / 5, 2 * (g_hat - delta) / 5),
     r"loss has shape \(4,\), expected \(\)"),
    ("cosine", lambda a, b: (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1)),
     r"cosine has shape \(5,\), expected \(\)"),
    ("cosine", lambda a, b: np.float32((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())),
     "cosine has dtype float32, expected float64"),
    ("backprop_schedule", lambda L: "forward, backward, update",
     r"backprop_schedule on L=4: returned 'forward, backward, update'; expected a list of 12 entries"),
    ("backprop_schedule", lambda L: None, r"returned None; expected a list of 12 entries, each a tuple$"),
    ("backprop_schedule", lambda L: solutions.backprop_schedule(L)[:-1], "returned 11 entries, the reference 12$"),
    ("backprop_schedule", lambda L: [[i, k] for i, k in solutions.backprop_schedule(L)][::-1],
     r"entry 1, \(3, 'update'\), is wrong$"),
    ("backprop_schedule", lambda L: solutions.backprop_schedule(L)[:5] + [(1, "backward"), (2, "backward")]
     + solutions.backprop_schedule(L)[7:], r"entry 6, \(1, 'backward'\), is wrong \(the 5 before it are right\)$"),
    ("update_wait", lambda events, module: [solutions.update_wait(events, module)],
     r"update_wait on events of length 12, module=2: returned list of length 1; expected a number"),
    ("update_wait", lambda events, module: 2 * solutions.update_wait(events, module),
     r"returned 0.00\d+, which differs from the reference by 1 \(relative\)$"),
], ids=["softmax-two-mistakes", "softmax-shape", "m-loss-only", "m-loss-per-column", "cosine-per-row",
        "cosine-float32", "schedule-a-string", "schedule-None", "schedule-short", "schedule-reversed",
        "schedule-entry-6", "wait-a-list", "wait-doubled"])
def test_a_wrong_answer_to_an_exercise_of_notebooks_01_to_03_says_what_is_wrong(name, fn, expected):
    with pytest.raises(ExerciseError, match=expected):
        check(name, fn)


def test_a_number_may_come_back_as_a_python_float_and_a_schedule_as_lists(capsys):
    check("cosine", lambda a, b: float((a * b).sum()) / math.sqrt(float((a * a).sum() * (b * b).sum())))
    check("backprop_schedule", lambda L: [[i, k] for i, k in solutions.backprop_schedule(L)])
    check("update_wait", lambda events, module: np.float64(solutions.update_wait(events, module)))
    assert capsys.readouterr().out.count("correct: ") == 3


# --- the references are the library's arithmetic and the library's order ---

def test_the_softmax_and_cosine_references_are_the_librarys_and_m_loss_d_times_its_mse(float64):
    rng = np.random.default_rng(1)
    z, y = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(z, y)
    assert np.allclose(solutions.softmax_cross_entropy_backward(z, y), loss_fn.backward(), rtol=1e-13, atol=0)
    g_hat, delta = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    mse = MSE()                                  # the mean over all N D entries: the paper's L_M over D = 5
    loss, dg_hat = solutions.m_loss_and_grad(g_hat, delta)
    assert np.isclose(loss, 5 * mse.forward(g_hat, delta), rtol=1e-13)
    assert np.allclose(dg_hat, 5 * mse.backward(), rtol=1e-13, atol=0)
    assert np.isclose(solutions.cosine(g_hat, delta), gradient_agreement(g_hat, delta)["cosine"], rtol=1e-13)


def _traced_step(trainer):
    rng = np.random.default_rng(0)
    trainer.step(rng.standard_normal((8, 6)), rng.integers(0, 3, 8))
    return list(trainer.trace.events)


def test_the_schedules_are_the_order_that_a_traced_backprop_and_dni_step_record(float64):
    for L in (2, 4):
        backprop = _traced_step(Backprop(build_mlp(6, 3, layers=L, hidden=5, rng=np.random.default_rng(0))))
        dni = _traced_step(DNI(build_mlp(6, 3, layers=L, hidden=5, rng=np.random.default_rng(0)), (6,), 3))
        assert [(e.module, e.kind) for e in backprop] == solutions.backprop_schedule(L)
        assert [(e.module, e.kind) for e in dni] == dni_schedule(L)
        for events in (backprop, dni):
            intervals = waiting_intervals(events)
            assert all(solutions.update_wait(events, i) == b - a for (i, _), (a, b) in intervals.items())


def test_the_made_up_steps_that_update_wait_is_checked_on_run_back_to_back_with_pauses():
    events = _one_step(solutions.backprop_schedule(4), np.random.default_rng(0))
    assert [(e.module, e.kind) for e in events] == solutions.backprop_schedule(4)
    assert all(a.end < b.start for a, b in zip(events, events[1:])) and all(e.start < e.end for e in events)


# --- dni_step: the reference is a step of the library's DNI trainer configured alike; whole wrong steps ---

def _sgd_dni(H, lr, rng):
    """The library's DNI as notebook 09 configures it: f_1 = Linear-ReLU (6 -> H), f_2 = Linear (H -> 3), a
    linear M_2 (zero at the start), plain SGD at lr, and M's rate lr H (its MSE averages over N x H entries)."""
    trainer = DNI(Sequential(Sequential(Linear(6, H, rng), ReLU()), Linear(H, 3, rng)), (6,), 3,
                  optimizer="sgd", lr=lr, sg_optimizer="sgd", sg_lr=lr * H, rng=rng)
    for optimizer in trainer.optimizers + [M.optimizer for M in trainer.M.values()]:
        optimizer.momentum = 0.0                        # make_optimizer's SGD has momentum 0.9
    return trainer


def _arrays(trainer):
    """Host copies of (W1, b1, W2, b2, A, a), the trainer's parameters in dni_step's order."""
    f1, f2, M2 = trainer.modules[0].params, trainer.modules[1].params, trainer.M[2].model.params
    return [to_numpy(p).copy() for p in (f1["0.W"], f1["0.b"], f2["W"], f2["b"], M2["0.W"], M2["0.b"])]


def test_the_dni_step_reference_is_a_step_of_the_librarys_dni_trainer_with_sgd_and_a_linear_m(float64):
    rng, lr = np.random.default_rng(6), 0.05
    trainer = _sgd_dni(5, lr, rng)
    arrays = _arrays(trainer)
    for _ in range(20):
        x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
        want = float(trainer.step(to_device(x), to_device(y)))
        loss, *arrays = solutions.dni_step(*arrays, x, y, lr)
        assert np.isclose(loss, want, rtol=1e-12, atol=0)
    assert arrays[4].any() and all(rel_error(a, b) < 1e-12 for a, b in zip(arrays, _arrays(trainer)))


def _m_step_by_mse(W1, b1, W2, b2, A, a, x, y, lr):
    """The reference, but M_2's step H times too small, as if it minimised MSE (notebook 09's demo)."""
    loss, W1, b1, W2, b2, A_new, a_new = solutions.dni_step(W1, b1, W2, b2, A.copy(), a.copy(), x, y, lr)
    return loss, W1, b1, W2, b2, A + (A_new - A) / len(A), a + (a_new - a) / len(A)


def _in_place(W1, b1, W2, b2, A, a, x, y, lr):
    """The reference, writing the new values into its arguments and returning those."""
    loss, *new = solutions.dni_step(W1, b1, W2, b2, A, a, x, y, lr)
    for old, value in zip((W1, b1, W2, b2, A, a), new):
        old[...] = value
    return loss, W1, b1, W2, b2, A, a


@pytest.mark.parametrize("fn, expected", [
    (lambda *args: solutions.dni_step(*args)[0],
     r"dni_step returned float64 .*; expected the 7 arrays \(loss, W1, b1, W2, b2, A, a\)$"),
    (lambda *args: solutions.dni_step(*args)[:5] + args[4:6],
     r"on W1 \(4, 4\), b1 \(4,\), .* lr=0.1: A differs from the reference by [\d.e-]+ \(relative\)$"),
    (_m_step_by_mse, r"A differs from the reference by .*; that is the mean over all N x H entries"),
], ids=["only-the-loss", "M-not-updated", "M-by-MSE"])
def test_a_wrong_dni_step_is_rejected_naming_the_first_wrong_output(fn, expected):
    with pytest.raises(ExerciseError, match=expected):
        check("dni_step", fn)


def test_a_dni_step_that_updates_its_arguments_in_place_passes(capsys):
    check("dni_step", _in_place)
    assert capsys.readouterr().out.startswith("correct: dni_step: loss, W1, b1, W2, b2, A, a agree")


# --- the exercises of notebooks 04-08: each reference is what the library computes ---

def test_cdni_prediction_is_a_linear_conditional_m_and_input_model_grads_d_times_what_fitting_i_computes(float64):
    rng = np.random.default_rng(2)
    M = make_synthetic_model("linear", (4,), n_classes=3, rng=rng, zero_last=False)
    M.V[...] = rng.standard_normal(M.V.shape)                   # V starts at zero: give it values
    h, c, p = rng.standard_normal((5, 4)), rng.integers(0, 3, 5), M.params
    assert np.allclose(solutions.cdni_prediction(h, c, p["0.W"], p["V"], p["0.b"]), M.forward(h, c),
                       rtol=1e-13, atol=0)
    I = Regressor(make_input_model((6,), (4,), rng), "sgd", lr=0.0)
    W = I.model.params["1.W"]
    W[...] = rng.standard_normal(W.shape)                       # I starts at zero too
    x, h_real = rng.standard_normal((5, 6)), rng.standard_normal((5, 4))
    I.predict(x)
    loss = I.fit(h_real)
    ours = solutions.input_model_grads(x, h_real, W, I.model.params["1.b"])     # D = 4 times what fit's MSE gives
    assert np.isclose(ours[0], 4 * loss, rtol=1e-13)
    assert np.allclose(ours[1], 4 * I.model.grads["1.W"], rtol=1e-13) and np.allclose(ours[2], 4 * I.model.grads["1.b"])


def test_stochastic_schedule_is_what_a_traced_dni_step_with_update_probability_records(float64):
    trainer = DNI(build_mlp(6, 3, layers=4, hidden=5, rng=np.random.default_rng(0)), (6,), 3, update_prob=0.5,
                  rng=np.random.default_rng(3))
    rng, coins = np.random.default_rng(0), np.random.default_rng(3)      # the trainer's coin flips, replayed
    for t in range(1, 6):
        updates = [bool(u) for u in coins.random(4) < 0.5]
        trainer.step(rng.standard_normal((8, 6)), rng.integers(0, 3, 8))
        events = [(e.module, e.kind) for e in trainer.trace.events if e.step == t]
        assert events == solutions.stochastic_schedule(4, updates)


def test_window_bounds_are_the_windows_tbptt_sequence_trains_on(float64):
    for L, T in [(10, 3), (8, 4), (5, 8)]:
        trainer = TBPTT(SequenceModel(4, 4, 3, rng=np.random.default_rng(0)), T)
        seen = []
        trainer.window = lambda tokens, targets, mask, state, last: seen.append((len(tokens), last)) or (0.0, None)
        trainer.loss_fn.nats = trainer.loss_fn.n_scored = 0.0
        trainer.sequence(np.zeros((L, 2), dtype=np.int64), np.zeros((L, 2), dtype=np.int64))
        assert seen == [(end - start, last) for start, end, last in solutions.window_bounds(L, T)]


def test_window_backward_is_the_gradient_of_the_window_loss_plus_g_hat_dot_h_T_by_finite_differences():
    rng = np.random.default_rng(4)
    w, h0, x, y, g_hat = 0.7, rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), \
        rng.standard_normal(3)

    def objective(w, h0):
        h, total = h0, 0.0
        for t in range(len(x)):
            h = w * h + x[t]
            total += ((h - y[t]) ** 2).sum() / 2
        return total + (g_hat * h).sum()                         # g_hat . h_T: its gradient at h_T is g_hat
    dw, dh0 = solutions.window_backward(w, h0, x, y, g_hat)
    eps = 1e-6
    assert np.isclose(dw, (objective(w + eps, h0) - objective(w - eps, h0)) / (2 * eps), rtol=1e-7)
    numeric = [(objective(w, h0 + eps * e) - objective(w, h0 - eps * e)) / (2 * eps) for e in np.eye(3)]
    assert np.allclose(dh0, numeric, rtol=1e-7)


def test_stable_softmax_relative_error_and_tick_targets_are_the_librarys(float64):
    rng = np.random.default_rng(5)
    z = 500 * rng.standard_normal((4, 6))
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(z, np.zeros(4, dtype=np.int64))
    assert np.allclose(solutions.stable_softmax(z), np.exp(loss_fn.log_p), rtol=1e-12, atol=1e-300)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert solutions.relative_error(a, b) == rel_error(a, b) and solutions.relative_error(0 * a, 0 * a) == 0.0
    streams = DigitStreams(np.zeros((10, 1)), np.arange(10), K=3, ticks=5, span=2)
    _, y_step, y_tick = streams.batch(4, rng)
    assert np.array_equal(solutions.tick_targets(to_numpy(y_step), 3, 2), to_numpy(y_tick))


def test_constant_guess_error_is_one_minus_the_binomial_mode_as_counting_every_outcome_finds():
    for n, p in [(4, 0.5), (5, 0.3)]:
        outcomes = np.array(np.meshgrid(*[[0, 1]] * n)).reshape(n, -1).T      # every odd/even pattern
        chance = np.prod(np.where(outcomes == 1, p, 1 - p), axis=1)
        by_count = np.bincount(outcomes.sum(1), weights=chance)
        assert np.isclose(solutions.constant_guess_error(n, p), 1 - by_count.max(), rtol=1e-13)


def test_a_mistake_computed_another_way_still_earns_its_hint_and_the_hint_is_sealed():
    from minidni.course import mistakes
    from minidni.course.checker import reference_cases

    def forgets_n(z, y):                           # (softmax(z) - onehot(y)), by a log-sum-exp: other rounding
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return np.exp(log_p) - np.eye(z.shape[1])[y]
    args, want, wrongs = reference_cases("softmax_cross_entropy_backward")[0]
    exact = np.exp(args["z"]) / np.exp(args["z"]).sum(axis=1, keepdims=True) - np.eye(4)[args["y"]]
    assert 0 < np.abs(forgets_n(**args) - exact).max() < 1e-14       # not the same bits, the same mistake
    assert "forget to divide by N" in mistakes.hint("softmax_cross_entropy_backward.dz", forgets_n(**args),
                                                    wrongs["dz"])
    assert mistakes.hint("softmax_cross_entropy_backward.dz", 2 * forgets_n(**args), wrongs["dz"]) is None
    assert not any("divide" in str(text) for _, text in wrongs["dz"])          # sealed: base64 of XOR
    with pytest.raises(ExerciseError, match="did you forget to divide by N"):
        check("softmax_cross_entropy_backward", forgets_n)


def test_grading_checks_inputs_the_data_file_does_not_hold_so_a_lookup_of_its_outputs_scores_nothing():
    import pickle
    from minidni.course.checker import CHECKS, reference_cases, run_check
    from minidni.course.grading import GRADING_SEED, grade
    for name in CHECKS:
        shown = reference_cases(name)                      # what the release's data file holds (seed 0)
        seen = {pickle.dumps(args) for args, _, _ in shown}
        assert any(pickle.dumps(args) not in seen for args, _, _ in reference_cases(name, GRADING_SEED)), name

        def lookup(*args, shown=shown):                    # a "student" who returns the data file's outputs
            for case, want, _ in shown:
                if all(np.array_equal(a, b) if hasattr(b, "shape") else a == b for a, b in zip(args, case.values())):
                    return want[0] if isinstance(want, tuple) and len(want) == 1 else want
            raise KeyError("inputs the data file does not hold")
        if isinstance(shown[0][1], list):                  # a list answer is kept as digests: nothing to copy
            assert all(len(d) == 64 and int(d, 16) >= 0 for _, want, _ in shown for d in want), name
        else:
            run_check(name, lookup)                        # it passes the release's own check...
        with pytest.raises(AssertionError):                # ...and fails the hidden test
            grade(name, lookup)
