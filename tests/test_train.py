"""End-to-end training on the embedded digits: accuracy reached, determinism, divergence."""
import numpy as np
import pytest

from minidni import backend
from minidni.data import load_dataset
from minidni.errors import DivergenceError
from minidni.models import build_cnn, build_mlp
from minidni.train import evaluate, fit, make_trainer


@pytest.fixture(scope="module")
def digits_flat():
    return load_dataset("digits", flat=True)


@pytest.fixture(scope="module")
def digits_images():
    return load_dataset("digits", flat=False)


def _train(data, model, method="backprop", epochs=10, seed=0, **options):
    rng = np.random.default_rng(seed)
    if method != "backprop":
        options.update(input_shape=data.input_shape, n_classes=data.n_classes, rng=rng)
    trainer = make_trainer(method, model, **options)
    history = fit(trainer, data, epochs, batch_size=64, rng=rng)
    return trainer, history


def test_mlp_reaches_95_percent_on_digits(digits_flat):
    model = build_mlp(64, 10, layers=3, hidden=128, rng=np.random.default_rng(0))
    _, history = _train(digits_flat, model, epochs=10)
    assert history[-1]["test_accuracy"] > 0.95
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_cnn_reaches_95_percent_on_digits(digits_images):
    model = build_cnn((1, 8, 8), 10, channels=(16, 32), rng=np.random.default_rng(0))
    _, history = _train(digits_images, model, epochs=8, lr=3e-3)
    assert history[-1]["test_accuracy"] > 0.95


def test_same_seed_gives_bit_identical_losses(digits_flat):
    if backend.get_backend() != "numpy":
        pytest.skip("bit-identical repeat runs are promised on the CPU")
    runs = []
    for _ in range(2):
        model = build_mlp(64, 10, layers=3, hidden=32, rng=np.random.default_rng(7))
        _, history = _train(digits_flat, model, epochs=2, seed=7)
        runs.append([h["train_loss"] for h in history] + [h["test_accuracy"] for h in history])
    assert runs[0] == runs[1]


def test_divergence_stops_training_with_the_step_named(digits_flat):
    model = build_mlp(64, 10, layers=3, hidden=32, rng=np.random.default_rng(0), batchnorm=False)
    with pytest.raises(DivergenceError, match=r"loss is (nan|inf) at step \d+;"):
        _train(digits_flat, model, epochs=1, optimizer="sgd", lr=1e30)


def test_evaluate_restores_training_mode(digits_flat):
    model = build_mlp(64, 10, layers=2, hidden=16, rng=np.random.default_rng(0))
    accuracy = evaluate(model, digits_flat.x_test, digits_flat.y_test)
    assert 0.0 <= accuracy <= 1.0 and model.training


@pytest.mark.parametrize("method", ["dni", "cdni"])
def test_decoupled_mlp_learns_digits(digits_flat, method):
    model = build_mlp(64, 10, layers=4, hidden=128, rng=np.random.default_rng(0))
    _, history = _train(digits_flat, model, method, epochs=10)
    assert history[-1]["test_accuracy"] > 0.9


def test_stochastic_updates_and_complete_unlock_still_learn_digits(digits_flat):
    """The paper's two stress tests of §3.2, at small budgets: p = 0.2, and synthetic inputs too."""
    model = build_mlp(64, 10, layers=4, hidden=128, rng=np.random.default_rng(0))
    _, history = _train(digits_flat, model, "cdni", epochs=15, update_prob=0.2)
    assert history[-1]["test_accuracy"] > 0.85
    model = build_mlp(64, 10, layers=4, hidden=128, rng=np.random.default_rng(0))
    _, history = _train(digits_flat, model, "cdni", epochs=10, complete_unlock=True)
    assert history[-1]["test_accuracy"] > 0.85
