"""Shared fixtures. The suite runs on whichever backend MINIDNI_BACKEND selects."""
import numpy as np
import pytest

from minidni import backend

requires_gpu = pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")


@pytest.fixture
def float64():
    """Build parameters in float64 for the duration of a test (gradient checks)."""
    old = backend.get_dtype()
    backend.set_dtype("float64")
    yield
    backend.set_dtype(old)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def randn(rng, *shape, dtype=None):
    """A standard-normal array on the current backend, in the default dtype."""
    return backend.to_device(rng.standard_normal(shape), dtype=dtype or backend.get_dtype())
