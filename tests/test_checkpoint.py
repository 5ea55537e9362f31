"""Checkpoints round-trip, are written atomically, and refuse a model they don't fit."""
import os

import numpy as np
import pytest

from minidni import backend
from minidni.checkpoint import load, read_meta, save
from minidni.errors import CheckpointError
from minidni.nn import Linear, ReLU, Sequential
from minidni.optim import Adam

from conftest import randn


def _net(seed, hidden=5):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(3, hidden, rng), ReLU(), Linear(hidden, 2, rng))


def _train_one_step(net, opt, rng):
    net.forward(randn(rng, 4, 3))
    net.backward(randn(rng, 4, 2))
    opt.step()


def test_save_then_load_restores_parameters_and_optimiser_state(tmp_path, rng):
    net, other = _net(0), _net(1)
    opt, other_opt = Adam(net), Adam(other)
    _train_one_step(net, opt, rng)
    save(tmp_path / "ckpt.npz", net, [opt], meta={"method": "backprop"})
    load(tmp_path / "ckpt.npz", other, [other_opt])
    for k, v in net.params.items():
        np.testing.assert_array_equal(backend.to_numpy(v), backend.to_numpy(other.params[k]))
    assert other_opt.t == 1 and other_opt.state.keys() == opt.state.keys()
    np.testing.assert_array_equal(backend.to_numpy(opt.state["m/0.W"]), backend.to_numpy(other_opt.state["m/0.W"]))
    assert read_meta(tmp_path / "ckpt.npz") == {"method": "backprop"}


def test_loaded_parameters_are_the_same_arrays_the_optimiser_updates(tmp_path, rng):
    net, copy = _net(0), _net(1)
    save(tmp_path / "a.npz", net)
    W = copy.params["0.W"]
    load(tmp_path / "a.npz", copy)
    assert copy.params["0.W"] is W       # updated in place, so optimisers keep working


def test_loading_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    save(tmp_path / "small.npz", _net(0, hidden=5))
    with pytest.raises(CheckpointError, match=r"0.W has shape \(3, 5\), the model has \(3, 7\)"):
        load(tmp_path / "small.npz", _net(0, hidden=7))
    with pytest.raises(CheckpointError, match="another model"):
        load(tmp_path / "small.npz", Sequential(Linear(3, 2)))


def test_failed_load_leaves_the_model_untouched(tmp_path, rng):
    net = _net(0)
    opt = Adam(net)
    save(tmp_path / "no-optim.npz", net)             # saved without optimiser state
    target = _net(1)
    before = backend.to_numpy(target.params["0.W"]).copy()
    with pytest.raises(CheckpointError, match="no state for optimiser 0"):
        load(tmp_path / "no-optim.npz", target, [opt])
    np.testing.assert_array_equal(backend.to_numpy(target.params["0.W"]), before)


def test_truncated_or_missing_checkpoint_is_a_clear_error(tmp_path):
    save(tmp_path / "good.npz", _net(0))
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "bad.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="bad.npz is not a readable"):
        load(tmp_path / "bad.npz", _net(0))
    with pytest.raises(CheckpointError, match="does not exist"):
        load(tmp_path / "nope.npz", _net(0))


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save(path, _net(0))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save(path, _net(1))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.npz"]    # no temporary file left behind


def test_checkpoints_never_unpickle(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"param/0.0.W": np.array([object()], dtype=object)})
    with pytest.raises(CheckpointError, match="not a readable"):
        load(path, _net(0))
