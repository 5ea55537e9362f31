"""The DNI trainer: wiring proved with an oracle, traces, stochastic updates, diagnostics."""
import numpy as np
import pytest

from minidni import backend
from minidni.losses import SoftmaxCrossEntropy
from minidni.models import build_cnn, build_mlp
from minidni.train import Backprop
from minidni.train.dni import CDNI, DNI, group

from conftest import randn


def _batch(rng, shape, n=8, k=5):
    return randn(rng, n, *shape), backend.to_device(rng.integers(0, k, n))


def _true_deltas(model, x, y):
    """dL/dh_i for every module output, by ordinary backprop on a copy's current parameters."""
    hs, h = [], x
    for f in model:
        h = f.forward(h)
        hs.append(h)
    loss = SoftmaxCrossEntropy()
    loss.forward(h, y)
    delta, deltas = loss.backward(), [None] * len(model)
    for i in reversed(range(len(model))):
        deltas[i] = delta
        delta = model[i].backward(delta)
    return deltas


class Oracle:
    """Stands in for M_i: returns the true gradient and records the targets it is fitted to."""

    def __init__(self, delta):
        self.delta, self.targets = delta, []

    def predict(self, h, c=None):
        return self.delta

    def fit(self, target):
        self.targets.append(target)


@pytest.mark.parametrize("build,shape", [(lambda rng: build_mlp(6, 5, layers=4, hidden=7, rng=rng), (6,)),
                                         (lambda rng: build_cnn((2, 4, 4), 5, channels=(3, 4), rng=rng), (2, 4, 4))])
def test_dni_with_oracle_gradients_takes_exactly_the_backprop_step(float64, build, shape):
    rng = np.random.default_rng(0)
    x, y = _batch(rng, shape)
    reference, decoupled, probe = (build(np.random.default_rng(1)) for _ in range(3))
    Backprop(reference, optimizer="sgd", lr=0.1).step(x, y)
    deltas = _true_deltas(probe, x, y)
    trainer = DNI(decoupled, shape, 5, optimizer="sgd", lr=0.1)
    trainer.M = {i + 1: Oracle(delta) for i, delta in enumerate(deltas[:-1], start=1)}   # M_{i+1}: delta_i
    trainer.step(x, y)
    for k, p in reference.params.items():
        np.testing.assert_allclose(backend.to_numpy(decoupled.params[k]), backend.to_numpy(p), rtol=1e-10, atol=1e-12)
    # each M_{i+1} was fitted to what f_{i+1}'s backward returned: with oracle SGs, the true delta_i
    for oracle, delta in zip(trainer.M.values(), deltas):
        assert len(oracle.targets) == 1
        np.testing.assert_allclose(backend.to_numpy(oracle.targets[0]), backend.to_numpy(delta), rtol=1e-10, atol=1e-14)


def test_backprop_trace_shows_update_locking(rng):
    trainer = Backprop(build_mlp(6, 5, layers=4, hidden=8, rng=rng))
    trainer.step(*_batch(rng, (6,)))
    last_backward = max(e.end for e in trainer.trace.select(kind="backward"))
    first_update = min(e.start for e in trainer.trace.select(kind="update"))
    assert first_update >= last_backward
    assert [e.module for e in trainer.trace.select(kind="backward")] == [3, 2, 1, 0]


def test_dni_trace_shows_the_first_module_updated_before_the_last_runs_forward(rng):
    trainer = DNI(build_mlp(6, 5, layers=4, hidden=8, rng=rng), (6,), 5)
    trainer.step(*_batch(rng, (6,)))
    first_update = trainer.trace.select(kind="update", module=0)[0]
    last_forward = trainer.trace.select(kind="forward", module=3)[0]
    assert first_update.end <= last_forward.start
    kinds = [(e.module, e.kind) for e in trainer.trace.events][:5]
    assert kinds == [(0, "forward"), (0, "sg_predict"), (0, "backward"), (0, "update"), (1, "forward")]
    assert len(trainer.trace.select(kind="sg_update")) == 3


def test_first_dni_step_leaves_hidden_modules_unchanged_because_sg_starts_at_zero(rng):
    model = build_mlp(6, 5, layers=3, hidden=8, rng=rng)
    before = {k: backend.to_numpy(v).copy() for k, v in model.params.items()}
    DNI(model, (6,), 5, optimizer="sgd", lr=0.1).step(*_batch(rng, (6,)))
    after = {k: backend.to_numpy(v) for k, v in model.params.items()}
    assert all(np.array_equal(before[k], after[k]) for k in before if not k.startswith("2."))
    assert not np.array_equal(before["2.0.W"], after["2.0.W"])     # the top module saw the true gradient


def test_stochastic_updates_skip_modules_with_probability_p(rng):
    trainer = DNI(build_mlp(6, 5, layers=3, hidden=8, rng=rng), (6,), 5, update_prob=0.25,
                  rng=np.random.default_rng(3))
    for _ in range(200):
        trainer.step(*_batch(rng, (6,)))
    counts = [len(trainer.trace.select(kind="update", module=i)) for i in range(3)]
    assert all(25 <= n <= 75 for n in counts), counts      # ~50 of 200 each


def test_complete_unlock_runs_every_module_on_a_predicted_input(rng):
    """Module i's forward reads I_i(x), not the real h_{i-1}: its cached input is the prediction."""
    trainer = DNI(build_mlp(6, 5, layers=3, hidden=8, rng=rng), (6,), 5, complete_unlock=True)
    predictions = []
    for I in trainer.I.values():
        predict = I.predict
        I.predict = lambda x, c=None, predict=predict: predictions.append(predict(x)) or predictions[-1]
    x, y = _batch(rng, (6,))
    trainer.step(x, y)
    assert [e.module for e in trainer.trace.select(kind="input_predict")] == [1, 2]
    assert len(trainer.trace.select(kind="input_update")) == 2
    for i in (1, 2):
        first_layer = trainer.modules[i].layers[0]
        np.testing.assert_array_equal(backend.to_numpy(first_layer.x), backend.to_numpy(predictions[i - 1]))


def test_cut_points_group_modules_so_only_chosen_boundaries_are_decoupled(rng):
    model = build_mlp(6, 5, layers=5, hidden=8, rng=rng)
    assert len(group(list(model), [1])) == 2
    trainer = DNI(model, (6,), 5, cuts=[1])
    assert list(trainer.M) == [2]
    with pytest.raises(ValueError, match="cut points"):
        group(list(model), [4])


def test_cdni_needs_and_uses_labels(rng):
    """Only the labels change: the step's g_hat changes, so module 1's update and V's gradient do too."""
    import copy
    trainer = CDNI(build_mlp(6, 5, layers=3, hidden=8, rng=rng), (6,), 5, optimizer="sgd", lr=0.1)
    assert all("V" in M.model.params for M in trainer.M.values())
    for M in trainer.M.values():                             # past the zero start: give M weights
        for p in M.model.params.values():
            p[...] = backend.to_device(rng.standard_normal(p.shape), p.dtype)
    x, y = _batch(rng, (6,))
    twin = copy.deepcopy(trainer)
    trainer.step(x, y)
    twin.step(x, (y + 1) % 5)
    first = [backend.to_numpy(t.modules[0].params["0.W"]) for t in (trainer, twin)]
    assert not np.allclose(*first)                     # module 1 updated with a label-dependent g_hat
    dV = [backend.to_numpy(t.M[3].model.grads["V"]) for t in (trainer, twin)]
    assert not np.allclose(*dV)


def test_sg_quality_reports_perfect_cosine_for_an_oracle_and_changes_nothing(float64, rng):
    model = build_mlp(6, 5, layers=3, hidden=8, rng=rng)
    trainer = DNI(model, (6,), 5)
    x, y = _batch(rng, (6,))
    before = {k: backend.to_numpy(v).copy() for k, v in {**model.params, **model.buffers}.items()}
    quality = trainer.sg_quality(x, y)
    assert [q["cosine"] for q in quality] == [0.0, 0.0]          # zero-initialised M: no prediction yet
    after = {k: backend.to_numpy(v) for k, v in {**model.params, **model.buffers}.items()}
    assert all(np.array_equal(before[k], after[k]) for k in before)
    deltas = _true_deltas(trainer.modules, x, y)                   # an M that returns the true delta_i ...
    for M, delta in zip(trainer.M.values(), deltas):
        M.model.forward = lambda h, c=None, delta=delta: delta
    quality = trainer.sg_quality(x, y)
    assert all(abs(q["cosine"] - 1.0) < 1e-12 and q["relative_error"] < 1e-6 for q in quality), quality   # ... scores 1
    for M, delta in zip(trainer.M.values(), deltas):
        M.model.forward = lambda h, c=None, delta=delta: -delta
    assert all(abs(q["cosine"] + 1.0) < 1e-12 for q in trainer.sg_quality(x, y))        # and its negative -1


def test_synthetic_gradients_learn_to_point_along_the_true_gradient():
    """cDNI on the digits: the mean cosine between g_hat_i and delta_i starts at 0 and passes 0.25."""
    from minidni.data import load_dataset
    from minidni.train import fit
    data = load_dataset("digits", flat=True)
    rng = np.random.default_rng(0)
    trainer = CDNI(build_mlp(64, 10, layers=4, hidden=256, rng=rng), data.input_shape, data.n_classes,
                   lr=1e-3, sg_lr=1e-4, diagnose_every=23, rng=rng)   # slow enough to watch M catch up
    fit(trainer, data, epochs=8, batch_size=64, rng=rng)
    mean_cos = [np.mean([m["cosine"] for m in d["modules"]]) for d in trainer.diagnostics]
    assert mean_cos[0] == 0.0
    assert max(mean_cos) > 0.25, mean_cos


def test_sg_condition_channels_gives_each_conv_m_the_label_as_input_channels():
    from minidni.data import load_dataset
    from minidni.experiments import TrainConfig
    from minidni.experiments.feedforward import build_trainer
    data = load_dataset("digits", flat=False)
    trainer = build_trainer(TrainConfig(method="cdni", model="cnn", sg_condition="channels"), data)
    first = [M.model.params["0.W"].shape for M in trainer.M.values()]
    assert first == [(16, 16 + 10, 3, 3), (32, 32 + 10, 3, 3)]          # (out, C + 10 label channels, 3, 3)
    assert all("V" not in M.model.params for M in trainer.M.values())
    paper = build_trainer(TrainConfig(method="dni", model="cnn", sg="paper", sg_hidden=8), data)
    assert paper.M[2].model.params["0.W"].shape == (8, 16, 5, 5)
