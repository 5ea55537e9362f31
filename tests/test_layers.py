"""Linear, activations, Sequential and the losses: finite-difference checks in float64."""
import numpy as np
import pytest

from minidni import backend
from minidni.errors import DTypeError, LabelError, ShapeError
from minidni.gradcheck import check_module, numerical_grad, rel_error
from minidni.losses import MSE, SoftmaxCrossEntropy
from minidni.nn import Flatten, Linear, ReLU, Sequential, Sigmoid, Tanh

from conftest import randn

TOL = 1e-6


@pytest.mark.parametrize("n,d_in,d_out", [(1, 1, 1), (5, 7, 3), (16, 4, 9)])
def test_linear_gradients_match_finite_differences(float64, rng, n, d_in, d_out):
    errors = check_module(Linear(d_in, d_out, rng), randn(rng, n, d_in))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("layer", [ReLU, Tanh, Sigmoid])
@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 4, 5)])
def test_activation_gradients_match_finite_differences(float64, rng, layer, shape):
    x = randn(rng, *shape)
    if layer is ReLU:                      # keep away from the kink at 0, where no derivative exists
        x = x + 0.1 * backend.xp().sign(x)
    assert check_module(layer(), x)["x"] < TOL


def test_sequential_gradients_cover_every_layer(float64, rng):
    net = Sequential(Flatten(), Linear(12, 8, rng), Tanh(), Linear(8, 3, rng), Sigmoid())
    errors = check_module(net, randn(rng, 4, 3, 2, 2))
    assert set(errors) == {"x", "1.W", "1.b", "3.W", "3.b"}
    assert max(errors.values()) < TOL, errors


def test_sigmoid_does_not_overflow_for_large_inputs():
    x = backend.to_device(np.array([[-1000.0, 0.0, 1000.0]]), dtype=backend.get_dtype())
    h = backend.to_numpy(Sigmoid().forward(x))
    assert np.all(np.isfinite(h)) and h[0, 0] == 0.0 and h[0, 1] == 0.5 and h[0, 2] == 1.0


def test_softmax_cross_entropy_gradient_matches_finite_differences(float64, rng):
    z = randn(rng, 6, 4) * 3
    y = backend.to_device(rng.integers(0, 4, 6))
    loss = SoftmaxCrossEntropy()
    loss.forward(z, y)
    dz = loss.backward()
    assert rel_error(dz, numerical_grad(lambda: loss.forward(z, y), z)) < TOL


def test_softmax_cross_entropy_equals_log_sum_exp_definition_and_is_stable(float64, rng):
    z = randn(rng, 5, 3)
    y = backend.to_device(np.array([0, 1, 2, 1, 0]))
    zn, yn = backend.to_numpy(z), backend.to_numpy(y)
    expected = np.mean(np.log(np.exp(zn).sum(1)) - zn[np.arange(5), yn])
    assert float(SoftmaxCrossEntropy().forward(z, y)) == pytest.approx(expected, rel=1e-12)
    huge = backend.to_device(np.array([[1000.0, 0.0], [0.0, -1000.0]]))
    assert np.isfinite(float(SoftmaxCrossEntropy().forward(huge, backend.to_device(np.array([1, 1])))))


def test_mse_gradient_matches_finite_differences(float64, rng):
    pred, target = randn(rng, 4, 5), randn(rng, 4, 5)
    loss = MSE()
    loss.forward(pred, target)
    assert rel_error(loss.backward(), numerical_grad(lambda: loss.forward(pred, target), pred)) < TOL


def test_linear_rejects_wrong_width_with_a_shape_error(rng):
    with pytest.raises(ShapeError, match=r"expected last dimension 5, got shape \(3, 4\)"):
        Linear(5, 2, rng).forward(randn(rng, 3, 4))


def test_linear_rejects_wrong_rank_and_integer_input(rng):
    layer = Linear(4, 2, rng)
    with pytest.raises(ShapeError, match="2-D"):
        layer.forward(randn(rng, 3, 4, 1))
    with pytest.raises(DTypeError, match="float"):
        layer.forward(backend.to_device(np.ones((3, 4), dtype=np.int64)))


def test_linear_rejects_input_of_another_float_dtype(rng):
    layer = Linear(4, 2, rng)              # float32 parameters
    with pytest.raises(DTypeError, match="float64 does not match"):
        layer.forward(backend.to_device(np.ones((3, 4))))


@pytest.mark.parametrize("labels,error", [([0, 3], LabelError), ([-1, 0], LabelError),
                                           ([0.0, 1.0], DTypeError), ([0, 1, 2], ShapeError)])
def test_cross_entropy_rejects_bad_labels(rng, labels, error):
    with pytest.raises(error):
        SoftmaxCrossEntropy().forward(randn(rng, 2, 3), backend.to_device(np.array(labels)))


def test_mse_rejects_mismatched_shapes(rng):
    with pytest.raises(ShapeError, match="prediction shape"):
        MSE().forward(randn(rng, 2, 3), randn(rng, 3, 2))
