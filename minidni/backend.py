"""The one place that chooses between NumPy and CuPy.

Compute code never imports CuPy. It asks this module for the array module:

    xp = backend.array_module(x)    # numpy or cupy, whichever holds x
    xp = backend.xp()               # the current backend, for new arrays

and moves data across the host/device boundary only at the edges (data loading,
logging, plotting) with `to_device` and `to_numpy`.

The backend is NumPy unless `set_backend("cupy")` is called or the environment
variable MINIDNI_BACKEND=cupy is set. The default float dtype is float32;
`set_dtype("float64")` or MINIDNI_DTYPE=float64 changes it (gradient checks do).
A variable that names no backend or dtype is a BackendError at first use, not at
import: `python -m minidni --help` still works, and a command says so in one line.
"""
import os

import numpy

from .errors import BackendError

_cupy = None          # the cupy module once the cupy backend has been selected
_name = "numpy"
_dtype = numpy.dtype(numpy.float32)

_INSTALL_HINT = 'install the GPU extra for your CUDA: pip install -e ".[gpu-cuda12]" or ".[gpu-cuda13]"'

# Set by launchers to a process's index among the ranks on its own machine (MPICH's hydra,
# Open MPI, Slurm): under mpiexec each rank takes the GPU of that index, not all GPU 0.
_LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")


def _import_cupy():
    """Import CuPy and check for a usable GPU, or raise BackendError saying which is missing."""
    try:
        import cupy     # lazy: optional (the GPU extra), and only the cupy backend needs it
    except ImportError as e:
        raise BackendError(f"the cupy backend needs CuPy, which is not installed ({e}); {_INSTALL_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken: CuPy raises its own error types
        raise BackendError(f"CuPy is installed but no usable GPU was found ({e})") from None
    if count < 1:
        raise BackendError("CuPy is installed but no GPU was found")
    local = next((int(os.environ[v]) for v in _LOCAL_RANK_VARIABLES if v in os.environ), None)
    if local is not None:                       # one rank, one GPU
        cupy.cuda.Device(local % count).use()
    return cupy


def set_backend(name):
    """Select the array backend: "numpy" (default) or "cupy"."""
    global _cupy, _name
    name = str(name).lower()
    if name == "numpy":
        _name = "numpy"
    elif name == "cupy":
        _cupy = _import_cupy()
        _name = "cupy"
    else:
        raise BackendError(f"unknown backend {name!r}: choose 'numpy' or 'cupy'")


def get_backend():
    """The name of the current backend: "numpy" or "cupy"."""
    return _name


def gpu_available():
    """True when CuPy is installed and sees a GPU (never raises)."""
    try:
        _import_cupy()
        return True
    except BackendError:
        return False


def xp():
    """The array module of the current backend (numpy or cupy)."""
    if _name == "cupy":
        if _cupy is None:               # MINIDNI_BACKEND=cupy where CuPy or a GPU is missing
            raise _unavailable
        return _cupy
    return numpy


def array_module(*arrays):
    """The array module that holds `arrays` (numpy unless one is a CuPy array)."""
    if _cupy is None:
        return numpy
    return _cupy.get_array_module(*arrays)


def set_dtype(dtype):
    """Set the default float dtype for new parameters and data: float32 or float64."""
    global _dtype, _bad_dtype
    try:
        dtype = numpy.dtype(dtype)
    except TypeError:
        raise BackendError(f"default dtype must be float32 or float64, not {dtype!r}") from None
    if dtype not in (numpy.float32, numpy.float64):
        raise BackendError(f"default dtype must be float32 or float64, not {dtype}")
    _dtype, _bad_dtype = dtype, None


def get_dtype():
    """The default float dtype (numpy.float32 unless changed)."""
    if _bad_dtype is not None:          # MINIDNI_DTYPE named no dtype, and none was set since
        raise _bad_dtype
    return _dtype


def device_free_bytes():
    """The memory of the current GPU a run can still take, in bytes, on the cupy backend (None on
    NumPy): what the device has free, and what CuPy's pool holds from arrays already freed."""
    if _name != "cupy" or _cupy is None:
        return None
    return _cupy.cuda.runtime.memGetInfo()[0] + _cupy.get_default_memory_pool().free_bytes()


def to_device(a, dtype=None):
    """Copy a host array (or anything array-like) to the current backend."""
    return xp().asarray(a, dtype=dtype)


def to_numpy(a):
    """Copy an array from whatever device holds it to a NumPy array on the host."""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy.asnumpy(a)
    return numpy.asarray(a)


def synchronize():
    """Wait for queued GPU work (for timing); a no-op on NumPy."""
    if _name == "cupy":
        _cupy.cuda.get_current_stream().synchronize()


_unavailable = None    # why MINIDNI_BACKEND's choice failed: raised at first use, not at import
if os.environ.get("MINIDNI_BACKEND"):
    try:
        set_backend(os.environ["MINIDNI_BACKEND"])
    except BackendError as e:   # importing minidni (and `--help`) still works; computing does not
        _name, _unavailable = "cupy", BackendError(f"MINIDNI_BACKEND={os.environ['MINIDNI_BACKEND']}: {e}")
_bad_dtype = None      # why MINIDNI_DTYPE's choice failed: raised at first use, not at import
if os.environ.get("MINIDNI_DTYPE"):
    try:
        set_dtype(os.environ["MINIDNI_DTYPE"])
    except BackendError as e:
        _bad_dtype = BackendError(f"MINIDNI_DTYPE={os.environ['MINIDNI_DTYPE']}: {e}")
