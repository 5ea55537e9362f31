"""Truncated BPTT and DNI for RNNs: exactness at T = L, the oracle synthetic gradient, M's target."""
import dataclasses

import numpy as np
import pytest

from minidni import backend
from minidni.errors import ShapeError
from minidni.gradcheck import numerical_grad, rel_error
from minidni.nn.recurrent import SequenceModel, join_state, split_state
from minidni.train.tbptt import TBPTT, SequenceCrossEntropy, evaluate_bits

from conftest import randn

L, N, V, H = 7, 3, 5, 4


class GradientRecorder:
    """Stands in for the optimiser: sums the model's gradients over windows instead of stepping."""

    def __init__(self, model):
        self.model, self.total = model, None

    def step(self):
        g = {k: backend.to_numpy(v).copy() for k, v in self.model.grads.items()}
        self.total = g if self.total is None else {k: self.total[k] + g[k] for k in g}


def make_problem(rng, cell="lstm"):
    model = SequenceModel(V, V, H, rng, cell=cell, embed_dim=3)
    tokens = backend.to_device(rng.integers(0, V, (L, N)))
    targets = backend.to_device(rng.integers(0, V, (L, N)))
    mask = backend.to_device((rng.random((L, N)) < 0.7).astype(np.float64))
    return model, tokens, targets, mask


def full_loss(model, tokens, targets, mask, start=0, state=None):
    """Sum over steps start..L-1 of the batch-mean cross-entropy, from `state` at step `start`."""
    logits, _ = model.forward(tokens[start:], state)
    return SequenceCrossEntropy().forward(logits, targets[start:], mask[start:])


def full_bptt_grads(model, tokens, targets, mask):
    loss_fn = SequenceCrossEntropy()
    logits, _ = model.forward(tokens)
    loss_fn.forward(logits, targets, mask)
    model.backward(loss_fn.backward())
    return {k: backend.to_numpy(v).copy() for k, v in model.grads.items()}


def recorded_grads(trainer, tokens, targets, mask):
    trainer.optimizer = GradientRecorder(trainer.model)
    trainer.sequence(tokens, targets, mask)
    return trainer.optimizer.total


def test_sequence_cross_entropy_gradient_matches_finite_differences_and_ignores_masked_steps(float64, rng):
    logits = randn(rng, 4, 3, 5)
    targets = backend.to_device(rng.integers(0, 5, (4, 3)))
    mask = backend.to_device(np.array([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=float))
    loss = SequenceCrossEntropy()
    loss.forward(logits, targets, mask)
    d = loss.backward()
    assert rel_error(d, numerical_grad(lambda: loss.forward(logits, targets, mask), logits)) < 1e-6
    assert float(abs(backend.to_numpy(d)[0, 1]).sum()) == 0.0 and loss.n_scored == 7


def test_sequence_cross_entropy_over_several_digits_per_step_sums_their_two_way_softmaxes(float64, rng):
    logits = randn(rng, 3, 2, 6)                                   # 3 digits per step, 2 logits each
    targets = backend.to_device(rng.integers(0, 2, (3, 2, 3)))
    mask = backend.to_device(np.array([[1, 0], [1, 1], [0, 1]], dtype=float))
    loss = SequenceCrossEntropy()
    value = loss.forward(logits, targets, mask)
    z, y = backend.to_numpy(logits).reshape(3, 2, 3, 2), backend.to_numpy(targets)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    by_hand = -(np.take_along_axis(log_p, y[..., None], -1)[..., 0].sum(-1) * backend.to_numpy(mask)).sum() / 2
    assert np.isclose(float(value), by_hand) and float(loss.n_scored) == 4       # scored steps, not digits
    d = loss.backward()
    assert rel_error(d, numerical_grad(lambda: loss.forward(logits, targets, mask), logits)) < 1e-6
    with pytest.raises(ShapeError, match="multiple of 3"):
        loss.forward(randn(rng, 3, 2, 5), targets)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_tbptt_with_T_equal_to_the_sequence_length_is_full_bptt(float64, rng, cell):
    model, tokens, targets, mask = make_problem(rng, cell)
    grads = recorded_grads(TBPTT(model, T=L), tokens, targets, mask)
    for name, p in model.params.items():         # full BPTT, by finite differences of the whole sequence's loss
        assert rel_error(grads[name], numerical_grad(lambda: full_loss(model, tokens, targets, mask), p)) < 1e-6, name


def test_tbptt_with_shorter_windows_is_truncated_and_loses_the_long_range_gradient(float64, rng):
    model, tokens, targets, mask = make_problem(rng)
    truncated = recorded_grads(TBPTT(model, T=3), tokens, targets, mask)
    full = full_bptt_grads(model, tokens, targets, mask)
    assert rel_error(truncated["core.W_h"], full["core.W_h"]) > 1e-3


def _boundaries(model, tokens, targets, mask, T):
    """[(joined state h_k, per-sequence true gradient of all losses after k)] at k = T, 2T, ... < L."""
    out, state = [], None
    for k in range(T, L, T):
        _, state = model.forward(tokens[k - T:k], state)
        loss_fn = SequenceCrossEntropy()
        logits, _ = model.forward(tokens[k:], state)
        loss_fn.forward(logits, targets[k:], mask[k:])
        d_state = model.backward(loss_fn.backward())
        out.append((backend.to_numpy(join_state(state)), N * backend.to_numpy(join_state(d_state))))
    return out


class OracleM:
    """A synthetic-gradient model that knows the true future gradient at every window boundary.

    Like M, it speaks per sequence: N times the gradient of the batch-mean loss.
    """

    def __init__(self, boundaries):
        self.boundaries = boundaries      # [(joined state, joined true gradient of all later losses)]

    def predict(self, s):
        for state, grad in self.boundaries:
            if np.allclose(backend.to_numpy(s), state, rtol=1e-12, atol=1e-12):
                return backend.to_device(grad)
        return backend.xp().zeros_like(s)   # a window's start at step 0 (only fitted, never used)

    def fit(self, target):
        return 0.0


@pytest.mark.parametrize("T", [2, 3])
def test_an_oracle_synthetic_gradient_makes_tbptt_equal_full_bptt(float64, rng, T):
    model, tokens, targets, mask = make_problem(rng)
    boundaries = _boundaries(model, tokens, targets, mask, T)   # true d(losses after k) / d state_k, by BPTT
    full = full_bptt_grads(model, tokens, targets, mask)
    trainer = TBPTT(model, T=T, method="dni")
    trainer.M = OracleM(boundaries)
    grads = recorded_grads(trainer, tokens, targets, mask)
    for name in full:
        assert rel_error(grads[name], full[name]) < 1e-10, name


def test_future_gradient_quality_scores_an_oracle_m_1_its_negative_minus_1_and_a_zero_m_0(float64, rng):
    model, tokens, targets, mask = make_problem(rng)
    trainer = TBPTT(model, T=2, method="dni")
    assert [q["cosine"] for q in trainer.future_gradient_quality(tokens, targets, mask)] == [0.0, 0.0, 0.0]
    boundaries = _boundaries(model, tokens, targets, mask, 2)
    trainer.M = OracleM(boundaries)
    quality = trainer.future_gradient_quality(tokens, targets, mask)
    assert [q["step"] for q in quality] == [2, 4, 6]
    assert all(abs(q["cosine"] - 1) < 1e-12 and q["relative_error"] < 1e-10 for q in quality), quality
    trainer.M = OracleM([(s, -g) for s, g in boundaries])
    assert all(abs(q["cosine"] + 1) < 1e-12 for q in trainer.future_gradient_quality(tokens, targets, mask))
    with pytest.raises(ValueError, match="dni"):
        TBPTT(model, T=2).future_gradient_quality(tokens, targets, mask)


def test_the_true_future_gradient_matches_finite_differences_of_the_later_losses(float64, rng):
    model, tokens, targets, mask = make_problem(rng)
    (s, grad), *_ = _boundaries(model, tokens, targets, mask, 3)
    s = backend.to_device(s)
    numerical = numerical_grad(lambda: float(backend.to_numpy(
        full_loss(model, tokens, targets, mask, start=3, state=split_state(s, 2)))), s)
    assert rel_error(N * numerical, grad) < 1e-7


class SpyM:
    """Records what M was asked to predict at and what it was fitted to; predicts a fixed g_hat."""

    def __init__(self, g_hat):
        self.g_hat, self.calls = g_hat, []

    def predict(self, s):
        self.calls.append(("predict", backend.to_numpy(s).copy()))
        return self.g_hat

    def fit(self, target):
        self.calls.append(("fit", backend.to_numpy(target).copy()))
        return 0.0


def test_m_is_fitted_at_the_window_start_to_the_gradient_arriving_there_including_the_bootstrapped_sg(float64, rng):
    model, tokens, targets, mask = make_problem(rng)
    T, s0 = 3, tuple(randn(rng, N, H) for _ in range(2))
    g_hat = randn(rng, N, 2 * H)
    trainer = TBPTT(model, T=T, method="dni", sg_scale=0.5)
    trainer.M = spy = SpyM(g_hat)
    trainer.optimizer = GradientRecorder(model)
    _, sT = trainer.window(tokens[:T], targets[:T], mask[:T], s0)
    kinds = [k for k, _ in spy.calls]
    assert kinds == ["predict", "predict", "fit"]
    assert rel_error(spy.calls[0][1], join_state(sT)) == 0          # g_hat predicted at the window's end ...
    assert rel_error(spy.calls[1][1], join_state(s0)) == 0          # ... M fitted at its start ...

    def objective():                           # ... to N d(in-window loss + <0.5 g_hat / N, s_T>)/ds_0: per sequence
        logits, s_end = model.forward(tokens[:T], s0)
        sg = split_state(0.5 * g_hat / N, 2)
        in_window = SequenceCrossEntropy().forward(logits, targets[:T], mask[:T])
        return in_window + sum((a * b).sum() for a, b in zip(sg, s_end))

    expected = N * np.concatenate([numerical_grad(objective, s) for s in s0], axis=1)
    assert rel_error(spy.calls[2][1], expected) < 1e-6


def test_no_synthetic_gradient_is_used_after_the_last_window_of_a_sequence(float64, rng):
    model, tokens, targets, mask = make_problem(rng)
    trainer = TBPTT(model, T=L, method="dni")
    trainer.M = spy = SpyM(randn(rng, N, 2 * H) * 100)
    trainer.optimizer = GradientRecorder(model)
    trainer.sequence(tokens, targets, mask)
    assert [k for k, _ in spy.calls] == ["predict", "fit"]          # fitted at the start, never asked about the end
    full = full_bptt_grads(model, tokens, targets, mask)
    assert all(rel_error(trainer.optimizer.total[k], full[k]) < 1e-12 for k in full)


def test_zero_initialised_m_and_aux_head_make_the_first_window_identical_to_bptt(rng):
    results = []
    for method in ("bptt", "dni", "dni-aux"):
        model, tokens, targets, mask = make_problem(np.random.default_rng(5))
        trainer = TBPTT(model, T=3, method=method, rng=np.random.default_rng(0))
        trainer.window(tokens[:3], targets[:3], mask[:3])
        results.append({k: backend.to_numpy(v).copy() for k, v in model.params.items()})
    for other in results[1:]:
        assert all(np.array_equal(results[0][k], other[k]) for k in results[0])


def test_aux_task_at_every_step_gradient_on_the_core_outputs_matches_finite_differences(float64, rng):
    model, tokens, targets, mask = make_problem(rng)
    trainer = TBPTT(model, T=3, method="dni-aux", aux_weight=0.7)
    trainer.aux.params["W"][:] = randn(rng, H, 2 * H)
    model.forward(tokens[:3])
    g_hat = randn(rng, N, 2 * H)
    dh = trainer._aux_task(g_hat)
    dW, h = trainer.aux.grads["W"].copy(), model.h

    def aux_loss():
        diff = np.stack([backend.to_numpy(trainer.aux.forward(h[k]) - g_hat) for k in range(3)])
        return 0.7 * (diff * diff).sum() / (3 * N)           # every step predicts the window end's g_hat

    assert np.isclose(float(trainer.aux_loss), aux_loss())
    assert rel_error(dh, numerical_grad(aux_loss, h)) < 1e-6
    assert all(float(abs(backend.to_numpy(dh[k])).sum()) > 0 for k in range(3))
    assert rel_error(dW, numerical_grad(aux_loss, trainer.aux.params["W"])) < 1e-6     # the head's own gradient


def test_dni_trains_m_and_the_sg_loss_is_reported(rng):
    model, tokens, targets, mask = make_problem(rng)
    trainer = TBPTT(model, T=2, method="dni", lr=1e-2, sg_lr=1e-2, rng=rng)
    for _ in range(3):
        trainer.sequence(tokens, targets, mask)
    W = backend.to_numpy(trainer.M.model.params["0.W"])
    assert trainer.sg_loss is not None and np.abs(W).sum() > 0


def test_evaluate_bits_of_a_uniform_model_is_log2_of_the_alphabet(rng):
    model, tokens, targets, _ = make_problem(rng)
    for p in model.params.values():
        p[...] = 0
    bits, _ = evaluate_bits(model, tokens, targets, chunk=3)
    assert bits == pytest.approx(np.log2(V))


def test_bounded_sg_input_shows_m_h_and_tanh_c_and_predicts_the_gradient_on_h_and_c(float64, rng):
    model, tokens, targets, mask = make_problem(rng)
    trainer = TBPTT(model, T=3, method="dni", sg_input="bounded")
    spy = SpyM(backend.xp().ones((N, 2 * H)))
    trainer.M = spy
    _, (h, c) = trainer.window(tokens[:3], targets[:3], mask[:3])
    seen = spy.calls[0][1]                              # M's input at the window's end
    np.testing.assert_array_equal(seen, np.concatenate([backend.to_numpy(h), np.tanh(backend.to_numpy(c))], 1))
    assert np.abs(backend.to_numpy(c)).max() > 0 and seen.shape == (N, 2 * H)
    plain = TBPTT(model, T=3, method="dni")
    assert np.array_equal(backend.to_numpy(plain.m_input((h, c))),
                          np.concatenate([backend.to_numpy(h), backend.to_numpy(c)], 1))
    with pytest.raises(ValueError, match="sg_input"):
        TBPTT(model, T=3, method="dni", sg_input="tanh")


def test_unknown_method_and_bad_T_are_rejected(rng):
    model, *_ = make_problem(rng)
    with pytest.raises(ValueError, match="unknown method"):
        TBPTT(model, T=3, method="cdni")
    with pytest.raises(ValueError, match="at least 1"):
        TBPTT(model, T=0)


def test_copy_diagnostics_leave_training_exactly_as_without_them():
    from minidni.experiments import RNNConfig
    from minidni.experiments.recurrent import run_copy
    plain = RNNConfig(task="copy", method="dni", T=2, steps=30, quick=True).check().resolved()
    watched = run_copy(dataclasses.replace(plain, diagnose_every=10))
    assert [d["step"] for d in watched["diagnostics"]] == [10, 20, 30]
    assert all(d["cosine"] is None or -1 <= d["cosine"] <= 1 for d in watched["diagnostics"])
    unwatched = run_copy(plain)
    assert "diagnostics" not in unwatched and watched["solved"] == unwatched["solved"]
    assert [(h["bits"], h["n"]) for h in watched["history"]] == [(h["bits"], h["n"]) for h in unwatched["history"]]


def test_quick_runs_of_every_task_and_method_produce_results_and_figures(tmp_path):
    from minidni.experiments import RNNCompareConfig, results_table, run
    from minidni.plots.recurrent import plot_copy_table, plot_curves
    copy = run(RNNCompareConfig("copy", runs=["bptt:2", "dni:2", "dni-aux:2"], quick=True, steps=6))
    assert [r["method"] for r in copy] == ["bptt", "dni", "dni-aux"] and all(r["history"] for r in copy)
    assert "| dni | M on (h, tanh c) | 0 |" in results_table("copy", copy)
    lm = run(RNNCompareConfig("charlm", runs=[("bptt", 8), ("dni", 8)], quick=True, chars=2000))
    assert all(0 < r["bpc"] < 8 and r["history"][0]["chars"] == 0 for r in lm)
    assert "valid BPC" in results_table("charlm", lm)
    paths = plot_curves(lm, str(tmp_path / "lm")) + plot_curves(copy, str(tmp_path / "copy"))
    paths.append(plot_copy_table({"copy": copy}, str(tmp_path / "table.png")))
    assert all((tmp_path / p.split("/")[-1]).stat().st_size > 1000 for p in paths)


def test_copy_bars_only_where_a_method_ran(tmp_path):
    from minidni.plots.recurrent import plot_copy_table, solved_per_T
    config = {"bits": 8, "hidden": 8, "cell": "lstm", "batch_size": 4, "lr": 3e-3, "sg_lr": 1e-3, "sg_input": "bounded"}
    runs = [{"task": "repeat-copy", "method": m, "T": T, "seed": s, "solved": T + s, "steps": 10, "config": config}
            for m, Ts in (("bptt", (2, 8)), ("dni-aux", (8,))) for T in Ts for s in (0, 1)]
    assert solved_per_T(runs, "dni-aux", [2, 8]) == [(1, [8, 9])]
    assert solved_per_T(runs, "bptt", [2, 8]) == [(0, [2, 3]), (1, [8, 9])]
    assert (tmp_path / "t.png").name in plot_copy_table({"repeat-copy": runs}, str(tmp_path / "t.png"))


def _lm_result(method, T, seed, curve, sg_scale=1.0):
    """A charlm result whose history is [(seconds, bpc), ...]."""
    history = [{"step": i, "chars": i, "seconds": t, "bpc": b} for i, (t, b) in enumerate(curve)]
    config = {"hidden": 8, "cell": "lstm", "batch_size": 4, "lr": 3e-3, "sg_lr": 1e-4, "sg_scale": sg_scale,
              "sg_input": "bounded"}
    return {"task": "charlm", "method": method, "T": T, "seed": seed, "corpus": "c", "corpus_sha256": "ab" * 32,
            "python": "3", "bpc": curve[-1][1], "test_bpc": 2.0, "chars": len(curve), "seconds": curve[-1][0],
            "config": config, "history": history}


def test_results_table_reads_best_bpc_per_seed_and_times_against_bptt40s_own_time_to_its_best():
    from minidni.experiments.recurrent_report import results_table, time_ratios
    results = [_lm_result("bptt", 40, 0, [(0, 5), (10, 3), (20, 2.5), (30, 2.6)]),     # best 2.5, reached at 20 s
               _lm_result("dni", 8, 0, [(0, 5), (5, 2.4), (40, 2.7)]),                 # reaches 2.5 at 5 s
               _lm_result("bptt", 8, 0, [(0, 5), (30, 2.55)]),                        # never
               _lm_result("bptt", 40, 1, [(0, 5), (10, 2.0)]),
               _lm_result("dni", 8, 1, [(0, 5), (8, 1.9)])]
    assert time_ratios(results, "dni", 8) == {0: 0.25, 1: 0.8}
    assert time_ratios(results, "bptt", 8) == {0: None}
    table = results_table("charlm", results)
    assert "| dni | 8 | M on (h, tanh c) | 2.150 (1.900–2.400) | 2.300 (1.900–2.700) |" in table
    assert "own time to it: seed 0 0.25, seed 1 0.80." in table and "own time to it: seed 0 never." in table
    assert "seeds 0, 1" in table and "no gradient clipping" in table
    clipped = [dict(r, config=dict(r["config"], clip=5.0)) for r in results]
    assert "Adam lr 0.003 (M: 0.0001), gradient clipped at norm 5, corpus c" in results_table("charlm", clipped)
    slow = [dict(r, config=dict(r["config"], m_average=0.999)) for r in results]
    assert "| dni | 8 | M on (h, tanh c), g_hat from M's average (decay 0.999) |" in results_table("charlm", slow)
    capped = [dict(r, config=dict(r["config"], target_clip=10.0)) for r in results]
    assert "| dni | 8 | M on (h, tanh c), M's target clipped at norm 10 |" in results_table("charlm", capped)


def test_runs_of_one_method_whose_m_differs_are_rows_of_their_own_and_timed_apart():
    from minidni.experiments.recurrent_report import results_table, time_ratios
    results = [_lm_result("bptt", 40, 0, [(0, 5), (10, 3), (20, 2.5)]),
               _lm_result("dni", 8, 0, [(0, 5), (5, 2.4)]),
               _lm_result("dni", 8, 0, [(0, 5), (15, 2.2)], sg_scale=0.1)]
    results[2]["config"]["target_clip"] = 10.0
    table = results_table("charlm", results)
    assert "| dni | 8 | M on (h, tanh c) | 2.400 |" in table
    assert "| dni | 8 | M on (h, tanh c), M's target clipped at norm 10, **discounted: sg_scale 0.1** | 2.200 |" in table
    assert "DNI-8: training time to reach BPTT-40's best validation BPC, over BPTT-40's own time to it: seed 0 0.25." in table
    assert "DNI-8 (M's target clipped at norm 10, **discounted: sg_scale 0.1**): training" in table
    assert "over BPTT-40's own time to it: seed 0 0.75." in table
    with pytest.raises(ValueError, match="2 different settings"):
        time_ratios(results, "dni", 8)
    from minidni.plots.recurrent import _label, _style
    assert _label(results[1]) == "DNI, T=8" and _style(results[1], [8, 40])["linestyle"] == "-"
    assert _label(results[2]) == "DNI, T=8 (M's target clipped at norm 10, discounted: sg_scale 0.1)"
    assert _style(results[2], [8, 40])["linestyle"] == "--"
    copy = [{"task": "copy", "method": "dni", "T": 2, "seed": 0, "solved": n, "steps": 10,
             "config": {"bits": 8, "hidden": 8, "cell": "lstm", "batch_size": 4, "lr": 3e-3, "sg_lr": 1e-3,
                        "sg_input": "bounded", "target_clip": clip}} for n, clip in ((3, 0.0), (5, 10.0))]
    copy_table = results_table("copy", copy)
    assert "| dni | M on (h, tanh c) | 3 |" in copy_table and "| dni | M on (h, tanh c), M's target clipped at norm 10 | 5 |" in copy_table


def test_results_table_names_a_discount_and_gives_the_spread_of_copy_seeds():
    from minidni.experiments.recurrent_report import results_table
    config = {"bits": 8, "max_repeats": 0, "hidden": 8, "cell": "lstm", "batch_size": 4, "lr": 3e-3, "sg_lr": 1e-3,
              "sg_input": "state"}
    runs = [{"task": "copy", "method": "dni", "T": T, "seed": s, "solved": T + s, "steps": 10,
             "config": dict(config, sg_scale=0.5)} for T in (2, 3) for s in (0, 1, 2)]
    table = results_table("copy", runs[:-1] + [dict(runs[0], method="bptt")])
    assert "| dni | M on (h, c), **discounted: sg_scale 0.5** | 3.0 (2–4) | 3.5 (3–4) [2 of 3 seeds] |" in table
    assert "| bptt | — | 2 [1 of 3 seeds] | not run |" in table
    assert table.startswith("8-bit patterns")


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_clip_bounds_the_norm_of_the_gradient_the_core_updates_with_and_zero_means_never(float64, clip):
    rng = np.random.default_rng(0)
    model, tokens, targets, mask = make_problem(rng)
    W = backend.to_device(rng.standard_normal((2 * H, 2 * H)))            # an M far from zero: a large g_hat
    norms = []
    for c in (clip, 0.0):                                                 # then the same window unclipped
        trainer = TBPTT(model, 3, "dni", clip=c)
        trainer.optimizer = GradientRecorder(model)
        trainer.M.model.params["0.W"][...] = W
        trainer.window(tokens[:3], targets[:3], mask[:3])
        norms.append(np.sqrt(sum((g ** 2).sum() for g in trainer.optimizer.total.values())))
    norm, raw = norms
    assert raw > 0.05 and (np.isclose(norm, clip) if clip else np.isclose(norm, raw, rtol=1e-12))


def test_m_average_takes_g_hat_from_a_moving_average_of_m_and_rejects_a_decay_of_one(float64):
    rng = np.random.default_rng(0)
    model, tokens, targets, mask = make_problem(rng)
    trainer = TBPTT(model, 3, "dni", m_average=0.5, sg_lr=0.1)
    state = None
    for start in (0, 3):
        before = {k: backend.to_numpy(p).copy() for k, p in trainer.M_slow.params.items()}
        _, state = trainer.window(tokens[start:start + 3], targets[start:start + 3], mask[start:start + 3], state)
        for k, p in trainer.M_slow.params.items():          # slow <- 0.5 slow + 0.5 M, after M's fit
            np.testing.assert_allclose(backend.to_numpy(p), 0.5 * before[k] + 0.5 * backend.to_numpy(
                trainer.M.model.params[k]), rtol=1e-12)
    assert np.abs(backend.to_numpy(trainer.M_slow.params["0.W"])).max() > 0
    h_end = model.init_state(N)
    np.testing.assert_allclose(backend.to_numpy(trainer.M_slow.forward(trainer.m_input(h_end))),
                               backend.to_numpy(trainer.M_slow.params["0.b"])[None].repeat(N, 0), rtol=1e-12)
    with pytest.raises(ValueError, match=r"m_average is a decay in \[0, 1\), got 1"):
        TBPTT(model, 3, "dni", m_average=1.0)


def test_the_gradient_norm_script_of_the_docs_records_every_window():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "docs" / "rnn_gradient_norms.py"
    spec = importlib.util.spec_from_file_location("rnn_gradient_norms", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    found = script.measure("dni", 0, 6, corpus="embedded", hidden=8)
    assert found["model"].shape == (6,) and (found["model"] > 0).all()
    assert found["target"].shape == (6, 32) and found["g_hat"].shape == (6, 32)
    assert (found["g_hat"][0] == 0).all()                  # M starts at zero


def test_target_clip_bounds_the_norm_of_each_sequence_s_target_for_m_and_leaves_small_ones_alone(float64):
    rng = np.random.default_rng(0)
    model, tokens, targets, mask = make_problem(rng)
    seen = {}
    for clip in (0.0, 1e-3, 1e6):
        trainer = TBPTT(model, 3, "dni", target_clip=clip)
        trainer.optimizer = GradientRecorder(model)
        trainer.M.fit = lambda target, clip=clip: seen.__setitem__(clip, backend.to_numpy(target).copy())
        trainer.window(tokens[:3], targets[:3], mask[:3])
    big = np.linalg.norm(seen[0.0], axis=1) > 1e-3
    assert big.sum() >= 2                                   # (a sequence with no scored step has no target)
    np.testing.assert_allclose(np.linalg.norm(seen[1e-3], axis=1)[big], 1e-3, rtol=1e-9)
    np.testing.assert_array_equal(seen[1e-3][~big], seen[0.0][~big])
    np.testing.assert_array_equal(seen[1e6], seen[0.0])
    with pytest.raises(ValueError, match="target_clip is a norm"):
        TBPTT(model, 3, "dni", target_clip=-1)
