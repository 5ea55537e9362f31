"""LSTM, tanh RNN, Embedding and SequenceModel: finite differences over a window, PyTorch cross-check."""
import numpy as np
import pytest

from minidni import backend
from minidni.errors import DTypeError, ShapeError
from minidni.gradcheck import numerical_grad, rel_error
from minidni.nn.recurrent import LSTM, RNN, Embedding, SequenceModel, join_state, split_state

from conftest import randn

TOL = 1e-6


def window_loss(core, x, state, r, r_state):
    """A scalar that depends on every output and on the final state: sum(y r) + sum(state_T r_state)."""
    y, state_T = core.forward(x, state)
    return (y * r).sum() + sum((s * rs).sum() for s, rs in zip(state_T, r_state))


def check_window(core, rng, T=5, N=3):
    """Relative errors of backward's dx, d_state_0 and every parameter gradient against finite differences."""
    x = randn(rng, T, N, core.input_size)
    state = tuple(randn(rng, N, core.hidden_size) * 0.5 for _ in range(core.n_state))
    r = randn(rng, T, N, core.hidden_size)
    r_state = tuple(randn(rng, N, core.hidden_size) for _ in range(core.n_state))

    def loss():
        return window_loss(core, x, state, r, r_state)

    loss()
    dx, d_state = core.backward(r, r_state)
    errors = {"x": rel_error(dx, numerical_grad(loss, x))}
    for k, (s, ds) in enumerate(zip(state, d_state)):
        errors[f"state[{k}]"] = rel_error(ds, numerical_grad(loss, s))
    analytic = {k: v.copy() for k, v in core.grads.items()}
    for name, p in core.params.items():
        errors[name] = rel_error(analytic[name], numerical_grad(loss, p))
    return errors


@pytest.mark.parametrize("cell", [LSTM, RNN])
def test_gradients_over_a_window_match_finite_differences_for_inputs_parameters_and_initial_state(float64, rng, cell):
    core = cell(4, 3, rng)
    core.params["b"][:] = backend.to_device(rng.standard_normal(core.params["b"].shape) * 0.3)
    errors = check_window(core, rng)
    assert set(errors) == {"x", "W_x", "W_h", "b"} | {f"state[{k}]" for k in range(core.n_state)}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("cell", [LSTM, RNN])
def test_no_final_state_gradient_is_the_same_as_a_zero_one(float64, rng, cell):
    core = cell(2, 3, rng)
    x = randn(rng, 4, 2, 2)
    dy = randn(rng, 4, 2, 3)
    core.forward(x)
    dx_none, ds_none = core.backward(dy, None)
    core.forward(x)
    dx_zero, ds_zero = core.backward(dy, core.init_state(2))
    assert rel_error(dx_none, dx_zero) == 0 and all(rel_error(a, b) == 0 for a, b in zip(ds_none, ds_zero))


@pytest.mark.parametrize("cell", [LSTM, RNN])
def test_one_window_of_2T_steps_equals_two_windows_of_T_chained_through_the_state(float64, rng, cell):
    core = cell(3, 4, rng)
    x = randn(rng, 6, 2, 3)
    y_full, s_full = core.forward(x)
    y_a, s_a = core.forward(x[:3])
    y_b, s_b = core.forward(x[3:], s_a)
    assert rel_error(y_full, np.concatenate([backend.to_numpy(y_a), backend.to_numpy(y_b)])) < 1e-14
    assert all(rel_error(u, v) < 1e-14 for u, v in zip(s_full, s_b))


def test_lstm_matches_torch_forward_and_backward(float64, rng):
    torch = pytest.importorskip("torch")
    T, N, D, H = 6, 4, 5, 7
    core = LSTM(D, H, rng)
    core.params["b"][:] = backend.to_device(rng.standard_normal(4 * H) * 0.3)
    ref = torch.nn.LSTM(D, H).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(backend.to_numpy(core.params["W_x"]).T))
        ref.weight_hh_l0.copy_(torch.from_numpy(backend.to_numpy(core.params["W_h"]).T))
        ref.bias_ih_l0.copy_(torch.from_numpy(backend.to_numpy(core.params["b"])))
        ref.bias_hh_l0.zero_()
    x, h0, c0 = randn(rng, T, N, D), randn(rng, N, H), randn(rng, N, H)
    dy, dhT, dcT = randn(rng, T, N, H), randn(rng, N, H), randn(rng, N, H)

    y, (hT, cT) = core.forward(x, (h0, c0))
    dx, (dh0, dc0) = core.backward(dy, (dhT, dcT))

    tx, th0, tc0 = (torch.tensor(backend.to_numpy(a), requires_grad=True) for a in (x, h0, c0))
    ty, (thT, tcT) = ref(tx, (th0[None], tc0[None]))
    torch_loss = sum((a * torch.from_numpy(backend.to_numpy(b))).sum()
                     for a, b in ((ty, dy), (thT[0], dhT), (tcT[0], dcT)))
    torch_loss.backward()
    for ours, theirs in ((y, ty), (hT, thT[0]), (cT, tcT[0]), (dx, tx.grad), (dh0, th0.grad), (dc0, tc0.grad),
                         (core.grads["W_x"], ref.weight_ih_l0.grad.T), (core.grads["W_h"], ref.weight_hh_l0.grad.T),
                         (core.grads["b"], ref.bias_ih_l0.grad)):
        assert rel_error(ours, theirs.detach().numpy()) < 1e-12


def test_embedding_gradient_adds_up_repeated_symbols(float64, rng):
    emb = Embedding(5, 3, rng)
    tokens = backend.to_device(np.array([[0, 2], [2, 2]]))
    r = randn(rng, 2, 2, 3)

    def loss():
        return (emb.forward(tokens) * r).sum()

    loss()
    emb.backward(r)
    assert rel_error(emb.grads["W"], numerical_grad(loss, emb.params["W"])) < TOL


def test_embedding_of_several_symbols_per_step_is_their_sum_and_its_gradient_matches(float64, rng):
    emb = Embedding(6, 3, rng)
    tokens = backend.to_device(np.array([[[0, 2, 5], [2, 2, 2]], [[1, 3, 5], [4, 0, 4]]]))    # (T, N, K) = (2, 2, 3)
    r = randn(rng, 2, 2, 3)

    def loss():
        return (emb.forward(tokens) * r).sum()

    W = backend.to_numpy(emb.params["W"])
    assert np.allclose(backend.to_numpy(emb.forward(tokens))[1, 1], 2 * W[4] + W[0])
    loss()
    emb.backward(r)
    assert rel_error(emb.grads["W"], numerical_grad(loss, emb.params["W"])) < TOL


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_sequence_model_gradients_match_finite_differences(float64, rng, cell):
    model = SequenceModel(6, 4, 3, rng, cell=cell, embed_dim=2)
    tokens = backend.to_device(rng.integers(0, 6, (4, 2)))
    state = tuple(randn(rng, 2, 3) for _ in range(model.core.n_state))
    r, r_h = randn(rng, 4, 2, 4), randn(rng, 4, 2, 3)
    r_state = tuple(randn(rng, 2, 3) for _ in range(model.core.n_state))

    def loss():
        logits, state_T = model.forward(tokens, state)
        return (logits * r).sum() + (model.h * r_h).sum() + sum((s * q).sum() for s, q in zip(state_T, r_state))

    loss()
    d_state = model.backward(r, r_state, dh=r_h)
    analytic = {k: v.copy() for k, v in model.grads.items()}
    assert set(analytic) == {"embed.W", "core.W_x", "core.W_h", "core.b", "readout.W", "readout.b"}
    for name, p in model.params.items():
        assert rel_error(analytic[name], numerical_grad(loss, p)) < TOL, name
    for s, ds in zip(state, d_state):
        assert rel_error(ds, numerical_grad(loss, s)) < TOL


def test_join_and_split_state_are_inverse(rng):
    h, c = randn(rng, 3, 4), randn(rng, 3, 4)
    s = join_state((h, c))
    assert s.shape == (3, 8)
    h2, c2 = split_state(s, 2)
    assert rel_error(h, h2) == 0 and rel_error(c, c2) == 0
    assert join_state((h,)) is h


def test_recurrent_layers_reject_bad_inputs_and_states(rng):
    core = LSTM(3, 4, rng)
    with pytest.raises(ShapeError, match="3-D"):
        core.forward(randn(rng, 2, 3))
    with pytest.raises(ShapeError, match="last dimension 3"):
        core.forward(randn(rng, 2, 5, 4))
    with pytest.raises(ShapeError, match="tuple of 2"):
        core.forward(randn(rng, 2, 5, 3), (randn(rng, 5, 4),))
    with pytest.raises(ShapeError, match=r"\(5, 4\)"):
        core.forward(randn(rng, 2, 5, 3), (randn(rng, 5, 4), randn(rng, 6, 4)))
    emb = Embedding(4, 2, rng)
    with pytest.raises(DTypeError, match="integer"):
        emb.forward(randn(rng, 2, 2))
    with pytest.raises(ShapeError, match=r"\[0, 4\)"):
        emb.forward(backend.to_device(np.array([[0, 4]])))
