"""Synthetic-gradient and synthetic-input models: zero start, gradients, L2 fitting."""
import numpy as np
import pytest

from minidni import backend
from minidni.gradcheck import check_module
from minidni.synthetic import Regressor, make_input_model, make_synthetic_model

from conftest import randn

SHAPES = [(6,), (3, 4, 4)]


def _labels(rng, n, k):
    return backend.to_device(rng.integers(0, k, n))


CONDITIONS = [(0, "bias"), (4, "bias"), (4, "channels")]      # (n_classes, condition)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["linear", "mlp", "paper"])
@pytest.mark.parametrize("n_classes, condition", CONDITIONS)
def test_synthetic_model_outputs_exactly_zero_before_training(rng, shape, kind, n_classes, condition):
    M = make_synthetic_model(kind, shape, n_classes, hidden=5, rng=rng, condition=condition)
    g = M.forward(randn(rng, 7, *shape) * 10, _labels(rng, 7, 4) if n_classes else None)
    assert g.shape == (7,) + shape
    assert not backend.to_numpy(g).any()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["linear", "mlp", "paper"])
@pytest.mark.parametrize("n_classes, condition", CONDITIONS)
def test_synthetic_model_gradients_match_finite_differences(float64, rng, shape, kind, n_classes, condition):
    M = make_synthetic_model(kind, shape, n_classes, hidden=5, rng=rng, zero_last=False, condition=condition)
    for p in M.params.values():          # random values everywhere, so every path carries gradient
        p[...] = randn(rng, *p.shape)
    context = (_labels(rng, 5, 4),) if n_classes else ()
    errors = check_module(M, randn(rng, 5, *shape), *context)
    assert ("V" in errors) == (n_classes > 0 and condition == "bias")
    if kind == "paper":        # a bias just before batch norm has a true gradient of 0 (the mean is removed):
        for name in ("0.b", "3.b"):                   # relative errors of two round-offs mean nothing there
            assert np.abs(backend.to_numpy(M.grads[name])).max() < 1e-9
            errors.pop(name)
    assert max(errors.values()) < 1e-6, errors


def test_paper_m_for_maps_is_two_hidden_5x5_convolutions_of_128_channels(rng):
    M = make_synthetic_model("paper", (3, 4, 4), 10, rng=rng, condition="channels")
    convs = [M.params[name].shape for name in ("0.W", "3.W", "6.W")]
    assert convs == [(128, 3 + 10, 5, 5), (128, 128, 5, 5), (3, 128, 5, 5)]      # the label: 10 more inputs
    assert make_synthetic_model("paper", (6,), rng=rng).params["0.W"].shape == (6, 1024)


def test_label_channels_and_class_bias_are_one_function_for_vectors(float64, rng):
    """For vectors, W [h; onehot(c)] + b = W_h h + b + W_c[:, c]: the class bias is column c of W_c."""
    bias = make_synthetic_model("linear", (6,), 4, rng=rng, zero_last=False)
    channels = make_synthetic_model("linear", (6,), 4, rng=rng, zero_last=False, condition="channels")
    W = channels.params["0.W"]
    W[...] = randn(rng, *W.shape)
    bias.params["0.W"][...] = W[:6]                   # the map's weights are (in, out)
    bias.params["V"][...] = W[6:]
    h, c = randn(rng, 5, 6), _labels(rng, 5, 4)
    np.testing.assert_allclose(backend.to_numpy(channels.forward(h, c)), backend.to_numpy(bias.forward(h, c)))
    d = randn(rng, 5, 6)
    np.testing.assert_allclose(backend.to_numpy(channels.backward(d)), backend.to_numpy(bias.backward(d)))


def test_label_channels_make_a_conv_m_depend_on_the_label(rng):
    M = make_synthetic_model("linear", (2, 4, 4), 3, rng=rng, zero_last=False, condition="channels")
    h = randn(rng, 1, 2, 4, 4)
    a, b = (backend.to_numpy(M.forward(h, _labels(np.random.default_rng(0), 1, 1) + k)) for k in (0, 2))
    assert np.abs(a - b).max() > 1e-3
    with pytest.raises(ValueError, match="bias, channels"):
        make_synthetic_model("linear", (2, 4, 4), 3, condition="concat")


def test_input_model_maps_any_shape_and_has_correct_gradients(float64, rng):
    I = make_input_model((1, 4, 4), (3, 2, 2), rng)
    for p in I.params.values():
        p[...] = randn(rng, *p.shape)
    errors = check_module(I, randn(rng, 5, 1, 4, 4))
    assert I.forward(randn(rng, 2, 1, 4, 4)).shape == (2, 3, 2, 2)
    assert max(errors.values()) < 1e-6, errors


def test_conditional_model_without_labels_is_an_error(rng):
    with pytest.raises(ValueError, match="needs the labels"):
        make_synthetic_model("linear", (4,), 3).forward(randn(rng, 2, 4))


@pytest.mark.parametrize("n_classes", [0, 3])
def test_regressor_fits_a_linear_target_by_l2(rng, n_classes):
    """A linear M can learn delta = h A + a_c exactly; L2 training must drive its loss to ~0."""
    A = rng.standard_normal((4, 4)) * 0.5
    a = rng.standard_normal((3, 4))
    M = Regressor(make_synthetic_model("linear", (4,), n_classes, rng=rng), "adam", lr=0.05)
    first = last = None
    for _ in range(400):
        h, c = rng.standard_normal((32, 4)), rng.integers(0, 3, 32)
        target = h @ A + (a[c] if n_classes else 0)
        M.predict(backend.to_device(h, dtype=backend.get_dtype()), backend.to_device(c) if n_classes else None)
        last = float(M.fit(backend.to_device(target, dtype=backend.get_dtype())))
        first = first if first is not None else last
    assert last < 1e-3 * first
