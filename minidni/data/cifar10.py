"""CIFAR-10 from the BINARY distribution: fixed-size records, parsed with NumPy.

We use cifar-10-binary.tar.gz rather than the more common "python version" because
that one is a set of pickles, and unpickling a downloaded file can run arbitrary
code. The binary files are plain bytes: each record is

    <1 label byte, 0-9><1024 red bytes><1024 green bytes><1024 blue bytes>

the channels each a 32x32 image stored row by row, so a record's 3072 pixel bytes
reshape straight to (3, 32, 32), the (C, H, W) layout of our conv layers.

The archive holds cifar-10-batches-bin/data_batch_1.bin .. data_batch_5.bin
(10,000 training records each) and test_batch.bin (10,000 test records). They are
read straight from the archive; if the cache holds an extracted
cifar-10-batches-bin/ folder (next to where the archive would be), that is read
instead, checked like the archive: each file's size, then its SHA-256 against the
folder's manifest (SHA256SUMS, in `sha256sum` format). The manifest is written from
the archive the first time the folder is used, the archive beside the folder and
checked by its own SHA-256; a folder without a manifest and without the archive is
refused, since nothing says its files are CIFAR-10's.
"""
import hashlib
import os
import tempfile

import numpy as np

from ..backend import get_dtype
from ..errors import DataFileError
from .archive import read_members
from .cache import data_dir, fetch
from .mnist import split_off_last

ARCHIVE = "cifar-10-binary.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
# Published by TensorFlow Datasets (url_checksums/cifar10.txt); size 170,052,171 bytes,
# and its MD5 c32a1d4ab5d03f1284b67883e8d87530 matches the one on the CIFAR page.
SHA256 = {ARCHIVE: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"}

FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILES = ["test_batch.bin"]
RECORD = 1 + 3 * 32 * 32
BATCH_RECORDS = 10_000          # records in each batch file of the archive
MANIFEST = "SHA256SUMS"

# Per-channel mean and std of the 50,000 training images scaled to [0, 1] (the
# conventional constants; note some code copies 0.2023, 0.1994, 0.2010 for the std,
# which is not the pixel std of the training set).
MEAN = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
STD = np.array([0.2470, 0.2435, 0.2616]).reshape(1, 3, 1, 1)


def parse_batch(data, name):
    """One binary batch file's bytes -> (x uint8 (n, 3, 32, 32), y int64 (n,)).

    `name` is used in error messages: a size that is not a whole number of
    3073-byte records, or a label outside 0-9, is a DataFileError naming it.
    """
    if len(data) == 0 or len(data) % RECORD:
        raise DataFileError(f"{name}: {len(data)} bytes is not a whole number of {RECORD}-byte records "
                            "(1 label byte + 3072 pixel bytes): the file is truncated or corrupt")
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
    y = records[:, 0].astype(np.int64)
    if y.max() > 9:
        bad = int(np.argmax(y > 9))
        raise DataFileError(f"{name}: record {bad} has label {y[bad]}, expected 0-9: the file is corrupt")
    return records[:, 1:].reshape(-1, 3, 32, 32), y


def _read_folder(folder, names):
    """{name: bytes} for the batch files in an extracted cifar-10-batches-bin folder, each of the
    archive's size and with the SHA-256 its manifest records (DataFileError naming the file if not)."""
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataFileError(f"{folder} lacks {', '.join(missing)}: extract {ARCHIVE} there again, "
                            "or delete the folder to read the archive instead")
    for n in names:
        size = (folder / n).stat().st_size
        if size != BATCH_RECORDS * RECORD:
            raise DataFileError(f"{folder / n} is {size:,} bytes, expected {BATCH_RECORDS * RECORD:,} "
                                f"({BATCH_RECORDS:,} records of {RECORD:,} bytes): truncated or not from {ARCHIVE}; "
                                "extract it again")
    expected, raw = _manifest(folder, names), {}
    for n in names:
        raw[n] = (folder / n).read_bytes()
        actual = hashlib.sha256(raw[n]).hexdigest()
        if actual != expected[n]:
            raise DataFileError(f"{folder / n} has SHA-256 {actual}, but {ARCHIVE} holds it with {expected[n]} "
                                f"({folder / MANIFEST}): the file was changed or damaged; extract the archive again")
    return raw


def _manifest(folder, names):
    """{name: SHA-256} of the batch files as the verified archive holds them, from the folder's
    manifest; without one, from the archive beside the folder (checked by its own SHA-256), and
    the manifest is written for the next time. Neither: DataFileError, nothing to check against."""
    path = folder / MANIFEST
    if path.exists():
        return _read_manifest(path, names)
    archive = folder.parent / ARCHIVE
    if not archive.exists():
        raise DataFileError(f"{folder} has no {MANIFEST} to check its files against: put the verified {ARCHIVE} "
                            f"at {archive} (its SHA-256 is checked and the manifest written from it), or delete the "
                            "folder to read the archive itself")
    members = _from_archive(names)
    hashes = {n: hashlib.sha256(members[n]).hexdigest() for n in names}
    _write_manifest(path, hashes)
    return hashes


def _write_manifest(path, hashes):
    """Write `hashes` to `path` in `sha256sum` format, atomically: a temporary file, then a rename.
    Where that fails (a read-only cache) nothing is written, and the next use checks the archive again."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{MANIFEST}.", suffix=".part")
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{digest}  {name}\n" for name, digest in hashes.items())
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _read_manifest(path, names):
    """{name: SHA-256} from a manifest in `sha256sum` format; DataFileError if it is not one or lacks a file."""
    hashes = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise DataFileError(f"{path}, line {number}: not a SHA-256 and a file name; delete the manifest and put "
                                f"the verified {ARCHIVE} beside the folder to write it again")
        hashes[name] = digest
    missing = [n for n in names if n not in hashes]
    if missing:
        raise DataFileError(f"{path} lacks {', '.join(missing)}; delete the manifest and put the verified {ARCHIVE} "
                            "beside the folder to write it again")
    return hashes


def _from_archive(names):
    """{name: bytes} of the batch files in the archive (downloaded first where allowed), its SHA-256 checked."""
    return read_members(fetch(ARCHIVE, URL, SHA256[ARCHIVE], "cifar10"), FOLDER, names, "the CIFAR-10 binary archive")


def _standardise(x):
    """uint8 (N, 3, 32, 32) -> [0, 1] -> per-channel (x - MEAN) / STD in the default dtype."""
    x = x.astype(get_dtype())
    x /= 255
    x -= MEAN.astype(x.dtype)
    x /= STD.astype(x.dtype)
    return x


def load_cifar10():
    """CIFAR-10's fixed split: x_train (45000, 3, 32, 32), y_train, x_valid (5000, 3, 32, 32), y_valid,
    x_test (10000, 3, 32, 32), y_test. The validation images are the last 5,000 of the
    training batches (of data_batch_5); the test images are test_batch.

    x is standardised per channel, in the backend's default float dtype; y is int64.
    """
    names = TRAIN_FILES + TEST_FILES
    folder = data_dir() / "cifar10" / FOLDER
    if folder.is_dir():
        raw = _read_folder(folder, names)
    else:
        raw = _from_archive(names)
    train = [parse_batch(raw.pop(n), n) for n in TRAIN_FILES]
    x_test, y_test = parse_batch(raw.pop(TEST_FILES[0]), TEST_FILES[0])
    x_train, y_train = np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
    x_train, y_train, x_valid, y_valid = split_off_last(_standardise(x_train), y_train, 5_000, 1 / 10)
    return x_train, y_train, x_valid, y_valid, _standardise(x_test), y_test
