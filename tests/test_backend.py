"""The backend switch: NumPy by default, CuPy on request, clear errors when it can't be had."""
import subprocess
import sys

import numpy as np
import pytest

from minidni import backend
from minidni.errors import BackendError

from conftest import requires_gpu


def test_unknown_backend_names_the_choices():
    with pytest.raises(BackendError, match="choose 'numpy' or 'cupy'"):
        backend.set_backend("tpu")


def test_cupy_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)    # makes `import cupy` fail
    with pytest.raises(BackendError, match=r'not installed.*pip install -e "\.\[gpu-cuda12\]" or "\.\[gpu-cuda13\]"'):
        backend.set_backend("cupy")


def test_env_variable_selects_backend_at_import_and_reports_missing_cupy_at_first_use():
    code = "import minidni; print(minidni.get_backend())"
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        env={"MINIDNI_BACKEND": "numpy", "PATH": ""})
    assert ok.stdout.strip() == "numpy"
    if not backend.gpu_available():
        code += "; from minidni.backend import xp; xp()"
        bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={"MINIDNI_BACKEND": "cupy", "PATH": ""})
        assert bad.stdout.strip() == "cupy"                     # importing minidni still works ...
        assert bad.returncode != 0 and "BackendError: MINIDNI_BACKEND=cupy" in bad.stderr   # ... computing does not


def test_dtype_is_float32_by_default_and_only_floats_are_allowed():
    assert backend.get_dtype() == np.float32
    with pytest.raises(BackendError, match="float32 or float64"):
        backend.set_dtype("int32")


def test_compute_code_never_imports_cupy():
    import pathlib
    root = pathlib.Path(backend.__file__).parent
    offenders = [str(p) for p in root.rglob("*.py") if p.name != "backend.py"
                 and any(line.strip().startswith(("import cupy", "from cupy")) for line in p.read_text().splitlines())]
    assert offenders == []


@requires_gpu
def test_cupy_round_trip_moves_data_to_the_gpu_and_back():
    old = backend.get_backend()
    backend.set_backend("cupy")
    try:
        a = backend.to_device(np.arange(6.0))
        assert backend.array_module(a).__name__ == "cupy"
        np.testing.assert_array_equal(backend.to_numpy(a * 2), np.arange(6.0) * 2)
    finally:
        backend.set_backend(old)


def test_the_gpu_check_skips_cleanly_without_a_gpu():
    if backend.gpu_available():
        pytest.skip("a GPU is here: benchmarks/gpu_check.py runs for real")
    import os
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "gpu_check.py")
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("gpu_check: skipped:")


def test_each_mpi_rank_takes_the_gpu_of_its_local_rank(monkeypatch):
    import types
    used = []
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 2),
        Device=lambda i: types.SimpleNamespace(use=lambda: used.append(i))))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    for rank, device in (("0", 0), ("1", 1), ("3", 1)):
        monkeypatch.setenv("MPI_LOCALRANKID", rank)
        assert backend._import_cupy() is fake
        assert used[-1] == device
    monkeypatch.delenv("MPI_LOCALRANKID")
    backend._import_cupy()
    assert len(used) == 3                      # outside mpiexec: CuPy's current device, untouched
