"""Conv2d, MaxPool2d, AvgPool2d and BatchNorm: finite-difference gradient checks,
agreement with PyTorch (which also cross-checks Linear and the activations), bad input."""
import numpy as np
import pytest

from minidni.backend import array_module, to_device, to_numpy
from minidni.errors import DTypeError, ShapeError
from minidni.gradcheck import check_module
from minidni.nn.conv import col2im, im2col
from minidni.nn import (AvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Sigmoid,
                        Tanh)

from conftest import randn

pytestmark = pytest.mark.usefixtures("float64")      # every test here builds float64 layers


def randomise(layer, rng):
    """Random values for every parameter (a zero bias or unit gamma would hide some mistakes)."""
    for p in layer.params.values():
        p[...] = randn(rng, *p.shape)
    return layer


def randomise_running_stats(layer, rng):
    features = layer.buffers["running_mean"].shape[0]
    layer.buffers["running_mean"][...] = randn(rng, features)
    layer.buffers["running_var"][...] = to_device(rng.uniform(0.5, 2.0, features), dtype=np.float64)
    return layer


CONVS = {   # id: (in_channels, out_channels, kernel_size, stride, padding, input shape)
    "3x3-stride1-pad0": (2, 3, 3, 1, 0, (2, 2, 5, 5)),
    "2x3-stride2-pad1": (3, 2, (2, 3), 2, 1, (2, 3, 6, 7)),
    "3x1-stride1-pad2": (2, 4, (3, 1), 1, 2, (1, 2, 4, 5)),
    "3x3-stride2-pad2": (2, 2, 3, 2, 2, (2, 2, 5, 4)),
    "1x2-stride2-pad0": (1, 3, (1, 2), 2, 0, (3, 1, 5, 6)),
}

POOLS = {   # id: (kernel_size, stride, padding, input shape)
    "2x2": (2, None, 0, (2, 3, 4, 4)),
    "2x2-ragged": (2, None, 0, (2, 3, 5, 7)),
    "3x3-stride2-pad1-overlapping": (3, 2, 1, (2, 2, 7, 6)),
    "2x3-stride1-overlapping": ((2, 3), 1, 0, (1, 2, 4, 5)),
    "3x3-stride3-pad1-ragged": (3, 3, 1, (2, 2, 7, 5)),
    "2x2-stride3-gaps": (2, 3, 0, (1, 2, 7, 8)),
}

NORM_SHAPES = {"features-(N,D)": (6, 4), "maps-(N,C,H,W)": (3, 2, 3, 2)}


def assert_gradients_correct(layer, x):
    errors = check_module(layer, x)
    assert set(errors) == {"x", *layer.params}
    assert max(errors.values()) < 1e-6, errors


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("C, F, k, stride, padding, shape", CONVS.values(), ids=CONVS.keys())
def test_conv2d_gradients_match_finite_differences(C, F, k, stride, padding, shape, rng):
    layer = randomise(Conv2d(C, F, k, stride, padding, rng=rng), rng)
    assert_gradients_correct(layer, randn(rng, *shape))


@pytest.mark.parametrize("Pool", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("k, stride, padding, shape", POOLS.values(), ids=POOLS.keys())
def test_pooling_gradients_match_finite_differences(Pool, k, stride, padding, shape, rng):
    assert_gradients_correct(Pool(k, stride, padding), randn(rng, *shape))


@pytest.mark.parametrize("shape", NORM_SHAPES.values(), ids=NORM_SHAPES.keys())
def test_batchnorm_gradients_match_finite_differences_in_train_mode(shape, rng):
    layer = randomise(BatchNorm(shape[1]), rng)
    assert_gradients_correct(layer, 3 + 2 * randn(rng, *shape))


@pytest.mark.parametrize("shape", NORM_SHAPES.values(), ids=NORM_SHAPES.keys())
def test_batchnorm_gradients_match_finite_differences_in_eval_mode(shape, rng):
    layer = randomise_running_stats(randomise(BatchNorm(shape[1]), rng), rng).eval()
    assert_gradients_correct(layer, randn(rng, *shape))


WINDOWS = {   # id: (kernel, stride, padding, input shape): each of col2im's ways to write back
    "overlapping (added)": ((3, 2), 1, 1, (2, 3, 5, 6)),
    "tiling the input (written into an empty array)": (2, 2, 0, (2, 3, 4, 6)),
    "side by side, a ragged edge left over (written into zeros)": (2, 2, 0, (2, 3, 5, 7)),
    "apart, leaving gaps (written into zeros)": ((2, 1), 3, 0, (2, 1, 8, 7)),
}


@pytest.mark.parametrize("kernel, stride, padding, shape", WINDOWS.values(), ids=WINDOWS.keys())
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding, shape, rng, monkeypatch):
    # <im2col(x), c> = <x, col2im(c)> for every x and c: col2im is the exact transpose, gaps and overlaps included
    x = randn(rng, *shape)
    cols = im2col(x, kernel, stride, padding)
    c = randn(rng, *cols.shape)
    xp = array_module(x)
    monkeypatch.setattr(xp, "empty", lambda shape, dtype=float: xp.full(shape, np.nan, dtype=dtype))
    dx = col2im(c, shape, stride, padding)        # "empty" memory is NaN here: a cell left unwritten shows
    assert dx.shape == shape
    assert np.isclose(float((cols * c).sum()), float((x * dx).sum()), rtol=1e-12)


def test_conv2d_without_input_grad_returns_none_and_the_same_parameter_gradients(rng):
    x, dy = randn(rng, 2, 3, 6, 6), randn(rng, 2, 4, 6, 6)
    layer = Conv2d(3, 4, 3, padding=1, rng=rng)
    layer.forward(x)
    layer.backward(dy)
    expected = {k: to_numpy(v).copy() for k, v in layer.grads.items()}
    layer.input_grad = False
    layer.forward(x)
    assert layer.backward(dy) is None
    for name, grad in expected.items():
        assert np.array_equal(to_numpy(layer.grads[name]), grad)


def test_maxpool_sends_the_gradient_to_the_first_maximum_on_ties():
    pool = MaxPool2d(2)
    pool.forward(to_device(np.ones((1, 1, 4, 4))))
    dx = to_numpy(pool.backward(to_device(np.arange(1.0, 5.0).reshape(1, 1, 2, 2))))
    expected = np.zeros((4, 4))
    expected[::2, ::2] = [[1, 2], [3, 4]]
    assert np.array_equal(dx[0, 0], expected)


def test_maxpool_input_that_wins_overlapping_windows_collects_each_windows_gradient():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0                     # the maximum of all four 2x2 windows
    pool = MaxPool2d(2, stride=1)
    assert np.array_equal(to_numpy(pool.forward(to_device(x))), np.ones((1, 1, 2, 2)))
    dx = to_numpy(pool.backward(to_device(np.full((1, 1, 2, 2), 0.5))))
    assert dx[0, 0, 1, 1] == 2.0 and dx.sum() == 2.0


def test_batchnorm_eval_mode_uses_running_statistics(rng):
    layer = randomise_running_stats(BatchNorm(3), rng).eval()
    x = rng.standard_normal((4, 3))
    mean, var = to_numpy(layer.buffers["running_mean"]).copy(), to_numpy(layer.buffers["running_var"]).copy()
    assert np.allclose(to_numpy(layer.forward(to_device(x))), (x - mean) / np.sqrt(var + 1e-5))
    assert np.array_equal(to_numpy(layer.buffers["running_mean"]), mean)      # eval mode never updates them


# ---------------------------------------------------------------- agreement with PyTorch

def assert_close(a, b):
    a, b = to_numpy(a), to_numpy(b)
    assert a.shape == b.shape
    assert np.allclose(a, b, rtol=1e-9, atol=1e-12), np.max(np.abs(a - b))


def assert_same_as_torch(layer, tmodule, x, rng, pairs=None):
    """Copy `layer`'s parameters into `tmodule`, run both forward and backward on x and one
    random dy, and compare y, dx and every parameter gradient.

    pairs: minidni parameter name -> (torch parameter, layout), layout mapping one framework's
    layout to the other's in either direction (identity, or a transpose for Linear's W).
    """
    import torch
    pairs = pairs or {}
    assert set(pairs) == set(layer.params)
    with torch.no_grad():
        for name, (tp, layout) in pairs.items():
            tp.copy_(torch.from_numpy(layout(to_numpy(layer.params[name]))))
    y = layer.forward(to_device(x))
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(to_device(dy))
    tx = torch.from_numpy(x).requires_grad_()
    ty = tmodule(tx)
    ty.backward(torch.from_numpy(dy))
    assert_close(y, ty.detach().numpy())
    assert_close(dx, tx.grad.numpy())
    for name, (tp, layout) in pairs.items():
        assert_close(layer.grads[name], layout(tp.grad.numpy()))


def same(a):
    return np.ascontiguousarray(a)


def transposed(a):
    return np.ascontiguousarray(a.T)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch", reason="PyTorch is the reference implementation for these tests")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)


@pytest.mark.parametrize("C, F, k, stride, padding, shape", CONVS.values(), ids=CONVS.keys())
def test_conv2d_matches_torch(torch, C, F, k, stride, padding, shape, rng):
    layer = randomise(Conv2d(C, F, k, stride, padding, rng=rng), rng)
    tconv = torch.nn.Conv2d(C, F, k, stride, padding)
    pairs = {"W": (tconv.weight, same), "b": (tconv.bias, same)}
    assert_same_as_torch(layer, tconv, rng.standard_normal(shape), rng, pairs)


@pytest.mark.parametrize("k, stride, padding, shape", POOLS.values(), ids=POOLS.keys())
def test_maxpool2d_matches_torch(torch, k, stride, padding, shape, rng):
    tpool = torch.nn.MaxPool2d(k, stride, padding)
    assert_same_as_torch(MaxPool2d(k, stride, padding), tpool, rng.standard_normal(shape), rng)


@pytest.mark.parametrize("k, stride, padding, shape", POOLS.values(), ids=POOLS.keys())
def test_avgpool2d_counting_padding_as_zeros_matches_torch(torch, k, stride, padding, shape, rng):
    tpool = torch.nn.AvgPool2d(k, stride, padding, count_include_pad=True)
    assert_same_as_torch(AvgPool2d(k, stride, padding), tpool, rng.standard_normal(shape), rng)


def torch_batchnorm(torch, shape):
    return (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(shape[1], momentum=0.1, eps=1e-5)


@pytest.mark.parametrize("shape", NORM_SHAPES.values(), ids=NORM_SHAPES.keys())
def test_batchnorm_train_mode_matches_torch_including_running_statistics(torch, shape, rng):
    layer, tbn = randomise(BatchNorm(shape[1]), rng), torch_batchnorm(torch, shape)
    pairs = {"gamma": (tbn.weight, same), "beta": (tbn.bias, same)}
    assert_same_as_torch(layer, tbn, 3 + 2 * rng.standard_normal(shape), rng, pairs)
    assert_close(layer.buffers["running_mean"], tbn.running_mean.numpy())
    assert_close(layer.buffers["running_var"], tbn.running_var.numpy())


@pytest.mark.parametrize("shape", NORM_SHAPES.values(), ids=NORM_SHAPES.keys())
def test_batchnorm_eval_mode_matches_torch(torch, shape, rng):
    layer = randomise_running_stats(randomise(BatchNorm(shape[1]), rng), rng).eval()
    tbn = torch_batchnorm(torch, shape).eval()
    with torch.no_grad():
        tbn.running_mean.copy_(torch.from_numpy(to_numpy(layer.buffers["running_mean"])))
        tbn.running_var.copy_(torch.from_numpy(to_numpy(layer.buffers["running_var"])))
    pairs = {"gamma": (tbn.weight, same), "beta": (tbn.bias, same)}
    assert_same_as_torch(layer, tbn, rng.standard_normal(shape), rng, pairs)


def test_linear_matches_torch_with_weight_transposed(torch, rng):
    layer, tlin = randomise(Linear(5, 3, rng=rng), rng), torch.nn.Linear(5, 3)
    pairs = {"W": (tlin.weight, transposed), "b": (tlin.bias, same)}
    assert_same_as_torch(layer, tlin, rng.standard_normal((4, 5)), rng, pairs)


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "Sigmoid", "Flatten"])
def test_parameter_free_layers_match_torch(torch, name, rng):
    layer = {"ReLU": ReLU, "Tanh": Tanh, "Sigmoid": Sigmoid, "Flatten": Flatten}[name]()
    assert_same_as_torch(layer, getattr(torch.nn, name)(), rng.standard_normal((3, 2, 4, 5)), rng)


def test_conv_relu_pool_batchnorm_stack_matches_torch_end_to_end(torch, rng):
    # conv and pooling outputs are views of (C, H, W, N) memory; this checks they compose correctly
    layers = [Conv2d(2, 3, 3, padding=1, rng=rng), BatchNorm(3), ReLU(), MaxPool2d(2),
              Conv2d(3, 4, 2, stride=2, rng=rng), AvgPool2d(3, 1, 1), Tanh(), Flatten(), Linear(16, 2, rng=rng)]
    tlayers = [torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
               torch.nn.Conv2d(3, 4, 2, stride=2), torch.nn.AvgPool2d(3, 1, 1), torch.nn.Tanh(), torch.nn.Flatten(),
               torch.nn.Linear(16, 2)]
    pairs = {}
    for i, (layer, tlayer) in enumerate(zip(layers, tlayers)):
        randomise(layer, rng)
        for name, tname in zip(layer.params, ("weight", "bias")):
            pairs[f"{i}.{name}"] = (getattr(tlayer, tname), transposed if isinstance(layer, Linear) else same)
    assert_same_as_torch(Sequential(*layers), torch.nn.Sequential(*tlayers), rng.standard_normal((2, 2, 8, 8)),
                         rng, pairs)


# ---------------------------------------------------------------- bad input

def test_conv2d_rejects_a_wrong_channel_count_with_shape_error():
    with pytest.raises(ShapeError, match="expected size along axis 1 3"):
        Conv2d(3, 4, 3).forward(to_device(np.zeros((2, 4, 5, 5))))


def test_conv2d_rejects_a_3d_input_with_shape_error():
    with pytest.raises(ShapeError, match="4-D"):
        Conv2d(3, 4, 3).forward(to_device(np.zeros((3, 5, 5))))


def test_conv2d_rejects_integer_input_with_dtype_error():
    with pytest.raises(DTypeError, match="float"):
        Conv2d(3, 4, 3).forward(to_device(np.zeros((2, 3, 5, 5), dtype=np.int64)))


def test_conv2d_rejects_an_input_smaller_than_the_kernel_with_shape_error():
    with pytest.raises(ShapeError, match="does not fit"):
        Conv2d(1, 1, 5).forward(to_device(np.zeros((1, 1, 3, 3))))


@pytest.mark.parametrize("Pool", [MaxPool2d, AvgPool2d])
def test_pooling_rejects_a_3d_input_with_shape_error(Pool):
    with pytest.raises(ShapeError, match="4-D"):
        Pool(2).forward(to_device(np.zeros((3, 4, 4))))


@pytest.mark.parametrize("Pool", [MaxPool2d, AvgPool2d])
def test_pooling_rejects_padding_over_half_the_kernel(Pool):
    with pytest.raises(ValueError, match="half the kernel"):
        Pool(2, padding=2)


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 2, 2), (4, 3, 2)])
def test_batchnorm_rejects_a_wrong_feature_count_or_ndim_with_shape_error(shape):
    with pytest.raises(ShapeError, match="BatchNorm"):
        BatchNorm(3).forward(to_device(np.zeros(shape)))


def test_batchnorm_in_train_mode_rejects_a_single_value_per_feature():
    with pytest.raises(ShapeError, match="more than one value"):
        BatchNorm(3).forward(to_device(np.zeros((1, 3))))


def test_recompute_statistics_sets_the_running_statistics_to_the_batches_average(rng):
    from minidni.backend import get_dtype
    from minidni.nn.norm import recompute_statistics
    model = Sequential(Linear(3, 4, rng), BatchNorm(4), ReLU())
    batches = [to_device(rng.standard_normal((50, 3)) * (k + 1), get_dtype()) for k in range(3)]
    model.eval()
    recompute_statistics(model, batches)
    bn = model.layers[1]
    h = [to_numpy(model.layers[0].forward(x)) for x in batches]
    np.testing.assert_allclose(to_numpy(bn.buffers["running_mean"]), np.mean([a.mean(0) for a in h], axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(bn.buffers["running_var"]), np.mean([a.var(0, ddof=1) for a in h], axis=0),
                               rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1 and not model.training          # put back as it was
