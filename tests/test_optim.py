"""SGD with momentum and Adam walk params/grads; checked against PyTorch's optimisers."""
import numpy as np
import pytest

from minidni import backend
from minidni.nn import Linear
from minidni.optim import SGD, Adam, clip_grad_norm, make_optimizer

torch = pytest.importorskip("torch", reason="PyTorch is the reference for the optimiser tests")


def _run_both(make_ours, make_theirs, steps=5):
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, rng)
    W0 = backend.to_numpy(layer.params["W"]).astype(np.float64)
    W_t = torch.tensor(W0, requires_grad=True)
    ours, theirs = make_ours(layer), make_theirs([W_t])
    for _ in range(steps):
        g = rng.standard_normal(W0.shape)
        layer.grads = {"W": backend.to_device(g, dtype=layer.params["W"].dtype),
                       "b": backend.xp().zeros_like(layer.params["b"])}
        ours.step()
        W_t.grad = torch.tensor(g)
        theirs.step()
    return backend.to_numpy(layer.params["W"]), W_t.detach().numpy()


@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 0.0), (0.9, 1e-2)])
def test_sgd_matches_torch(float64, momentum, wd):
    a, b = _run_both(lambda m: SGD(m, lr=0.1, momentum=momentum, weight_decay=wd),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=momentum, weight_decay=wd))
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_adam_matches_torch(float64):
    a, b = _run_both(lambda m: Adam(m, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01))
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_make_optimizer_names_the_choices():
    with pytest.raises(ValueError, match="choose one of adam, sgd"):
        make_optimizer("rmsprop", Linear(2, 2), 0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_place_is_the_textbook_expression_bit_for_bit(dtype):
    """The update writes into reused buffers; its numbers are those of the plain formula, exactly."""
    rng = np.random.default_rng(0)
    layer = Linear(5, 4, rng)
    layer.params = {k: backend.to_device(backend.to_numpy(v), dtype=dtype) for k, v in layer.params.items()}
    ref = {k: backend.to_numpy(v).copy() for k, v in layer.params.items()}
    m, v = ({k: np.zeros_like(p) for k, p in ref.items()} for _ in range(2))
    opt = Adam(layer, lr=3e-3)
    for t in range(1, 20):
        grads = {k: rng.standard_normal(p.shape).astype(dtype) for k, p in ref.items()}
        layer.grads = {k: backend.to_device(g, dtype=dtype) for k, g in grads.items()}
        opt.step()
        for k, g in grads.items():
            m[k] = 0.9 * m[k] + (1 - 0.9) * g
            v[k] = 0.999 * v[k] + (1 - 0.999) * g * g
            ref[k] -= 3e-3 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    for k in ref:
        np.testing.assert_array_equal(backend.to_numpy(layer.params[k]), ref[k], err_msg=k)


def _layer_with_grads(rng, scale):
    layer = Linear(4, 3, rng)
    layer.grads = {k: backend.to_device(scale * rng.standard_normal(p.shape), dtype=p.dtype)
                   for k, p in layer.params.items()}
    return layer


@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_torch_and_leaves_a_small_gradient_alone(float64, scale):
    layer = _layer_with_grads(np.random.default_rng(0), scale)
    before = {k: backend.to_numpy(g).copy() for k, g in layer.grads.items()}
    theirs = [torch.tensor(v, requires_grad=True) for v in before.values()]
    for t, v in zip(theirs, before.values()):
        t.grad = torch.tensor(v)
    norm = clip_grad_norm(layer, 1.0)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert np.isclose(float(norm), float(torch_norm), rtol=1e-12)
    for (k, g), t in zip(layer.grads.items(), theirs):
        np.testing.assert_allclose(backend.to_numpy(g), t.grad.numpy(), rtol=1e-10, atol=0)
    after = np.sqrt(sum((backend.to_numpy(g) ** 2).sum() for g in layer.grads.values()))
    assert (np.isclose(after, 1.0) if float(norm) > 1 else
            all(np.array_equal(backend.to_numpy(layer.grads[k]), v) for k, v in before.items()))
