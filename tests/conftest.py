"""Shared fixtures. The suite runs on whichever backend MINIDNI_BACKEND selects.

BLAS runs on one thread here and in the notebook kernels nbmake starts (they inherit the
environment), unless OMP_NUM_THREADS is set: the tests' matrices are small, and on a busy
two-core machine several BLAS threads per process spin against each other and the MPI
ranks (a run took 12 minutes that way instead of 3). The notebooks run quick (below).
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("OMP_NUM_THREADS", "1"))
# The notebooks nbmake runs keep to their quick setting even if MINIDNI_FULL=1 is left exported
# (say from `MINIDNI_FULL=1 jupyter lab`); MINIDNI_QUICK=0 on the command line lets it through.
os.environ.setdefault("MINIDNI_QUICK", "1")

import numpy as np  # noqa: E402  (after the thread settings, which BLAS reads when it loads)
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from minidni import backend  # noqa: E402

threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))     # in case BLAS was loaded before this file

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
