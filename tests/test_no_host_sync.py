"""No training step waits for the host: the rule a GPU needs, held on the CPU.

The steps run on StrictArray, a NumPy array that refuses to become a Python number or a
host array (float(), int(), bool(), .item(), .tolist(), to_numpy), as a CuPy array
makes the GPU wait for each of those. A step of each method (backprop, DNI, cDNI, TBPTT
with DNI) must run on it from start to end.
"""
import sys

import numpy as np
import pytest

from minidni import backend

pytestmark = pytest.mark.skipif(backend.get_backend() != "numpy", reason="the CPU stand-in for a device array")


class HostTransfer(AssertionError):
    pass


class StrictArray(np.ndarray):
    """Keeps even 0-d results as StrictArray, and refuses every conversion to the host."""

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        return super().__array_wrap__(obj, context, False)

    def _refuse(self, *args, **kwargs):
        raise HostTransfer("a training step converted a device array to a Python value or a host array")

    __float__ = __int__ = __bool__ = __index__ = __complex__ = item = tolist = _refuse


def strict(a):
    return np.asarray(a).view(StrictArray)


@pytest.fixture
def no_host(monkeypatch):
    """Every minidni module's to_numpy refuses a StrictArray, as moving it to the host would sync."""
    original = backend.to_numpy

    def to_numpy(a):
        if isinstance(a, StrictArray):
            raise HostTransfer("a training step called to_numpy")
        return original(a)
    for name, module in list(sys.modules.items()):
        if name.startswith("minidni") and getattr(module, "to_numpy", None) is original:
            monkeypatch.setattr(module, "to_numpy", to_numpy)


def make_strict(obj, seen=None):
    """Turn every parameter reachable from a trainer into a StrictArray view (same memory, updated in place)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return obj
    seen.add(id(obj))
    params = getattr(obj, "__dict__", {}).get("params")
    if isinstance(params, dict):
        for k, v in params.items():
            if isinstance(v, np.ndarray):
                params[k] = v.view(StrictArray)
    children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else \
        [v for v in getattr(obj, "__dict__", {}).values() if type(v).__module__.startswith("minidni")
         or isinstance(v, (list, tuple, dict))]
    for child in children:
        make_strict(child, seen)
    return obj


def feed_forward(method, rng):
    from minidni.models import build_mlp
    from minidni.train import make_trainer
    model = build_mlp(16, 10, layers=3, hidden=32, rng=rng)
    options = {} if method == "backprop" else dict(input_shape=(16,), n_classes=10, rng=rng)
    return make_strict(make_trainer(method, model, **options))


@pytest.mark.parametrize("method", ["backprop", "dni", "cdni"])
def test_a_feed_forward_step_never_converts_to_the_host(method, rng, no_host):
    trainer = feed_forward(method, rng)
    for _ in range(3):
        x = strict(rng.standard_normal((8, 16)).astype(np.float32))
        loss = trainer.step(x, strict(rng.integers(0, 10, 8)))
    assert isinstance(loss, StrictArray)


@pytest.mark.parametrize("method", ["dni", "dni-aux"])
def test_a_tbptt_window_with_dni_never_converts_to_the_host(method, rng, no_host):
    from minidni.nn.recurrent import SequenceModel
    from minidni.train.tbptt import TBPTT
    trainer = make_strict(TBPTT(SequenceModel(5, 5, 8, rng), T=4, method=method, rng=rng))
    state = None
    for _ in range(3):
        tokens = strict(rng.integers(0, 5, (4, 3)))
        loss, state = trainer.window(tokens, strict(rng.integers(0, 5, (4, 3))), state=state)
    assert isinstance(loss, StrictArray)
    assert isinstance(trainer.sequence(strict(rng.integers(0, 5, (9, 3))), strict(rng.integers(0, 5, (9, 3)))),
                      StrictArray)


def test_the_check_catches_one_float_put_back_into_a_step(rng, no_host, monkeypatch):
    from minidni.losses import SoftmaxCrossEntropy
    forward = SoftmaxCrossEntropy.forward
    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", lambda self, z, y: float(forward(self, z, y)))
    trainer = feed_forward("dni", rng)
    with pytest.raises(HostTransfer):
        trainer.step(strict(rng.standard_normal((8, 16)).astype(np.float32)), strict(rng.integers(0, 10, 8)))


def test_the_check_catches_a_label_range_read_per_step(rng, no_host, monkeypatch):
    from minidni.nn import module
    monkeypatch.setattr(module, "numpy", type("AnyArray", (), {"ndarray": StrictArray}))   # range check on
    trainer = feed_forward("backprop", rng)
    with pytest.raises(HostTransfer):
        trainer.step(strict(rng.standard_normal((8, 16)).astype(np.float32)), strict(rng.integers(0, 10, 8)))
