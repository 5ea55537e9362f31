"""MNIST from the four canonical IDX files, read with gzip and NumPy alone.

The IDX format (LeCun et al.) is a 4-byte magic number, then one big-endian uint32
per dimension, then the array, big-endian, row-major:

    magic = 0x00 0x00 <type code> <number of dimensions>
    train-images-idx3-ubyte: 0x00000803, dims 60000 28 28, then 47,040,000 pixel bytes
    train-labels-idx1-ubyte: 0x00000801, dims 60000, then 60,000 label bytes

Pixels are scaled to [0, 1], then standardised with the conventional MNIST training
set mean and std (0.1307, 0.3081), the same constants every reference uses, so
numbers stay comparable with published curves.
"""
import gzip
import struct
import zlib

import numpy as np

from ..backend import get_dtype
from ..errors import DataFileError
from .cache import fetch

# The mirror TensorFlow's datasets use (yann.lecun.com now often refuses downloads).
URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"

# SHA-256 of the published files, as listed by TensorFlow Datasets' url_checksums and
# torchvision; the byte sizes are 9,912,422 / 28,881 / 1,648,877 / 4,542.
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

MEAN, STD = 0.1307, 0.3081

# IDX type code -> big-endian NumPy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    """The file's bytes, gunzipped if its name ends in .gz; a bad gzip stream is a DataFileError."""
    if not str(path).endswith(".gz"):
        with open(path, "rb") as f:
            return f.read()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:    # BadGzipFile is an OSError; EOFError: cut-off stream
        raise DataFileError(f"{path}: not a valid gzip file ({e}); delete it and download it again") from None


def read_idx(path, ndim=None):
    """Parse an IDX file (gzipped if the name ends in .gz) into a NumPy array.

    Checks the magic number's zero bytes, the type code, the dimension count (against
    `ndim` when given) and that the data is exactly as long as the header says; any
    mismatch is a DataFileError naming the file, what was expected and what was found.
    Returns an array of shape dims, in the file's type, native byte order.
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFileError(f"{path}: not an IDX file: magic number {raw[:4].hex()!r}, "
                            "expected 0000 then a type code and a dimension count")
    code, n = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataFileError(f"{path}: unknown IDX type code 0x{code:02x}, expected one of "
                            + ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES))
    if ndim is not None and n != ndim:
        raise DataFileError(f"{path}: IDX file has {n} dimensions, expected {ndim}")
    start = 4 + 4 * n
    if len(raw) < start:
        raise DataFileError(f"{path}: header cut short: {n} dimensions need {start} bytes, file has {len(raw)}")
    shape = struct.unpack(f">{n}I", raw[4:start])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected, found = int(np.prod(shape)) * dtype.itemsize, len(raw) - start
    if found != expected:
        raise DataFileError(f"{path}: header says shape {shape}, {expected} bytes of data, but found {found} bytes: "
                            "the file is truncated or corrupt; delete it and download it again")
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _split(images, labels):
    """(x uint8 (N, 1, 28, 28), y int64 (N,)) from one images file and one labels file."""
    paths = [fetch(name, URL + name, SHA256[name], "mnist") for name in (images, labels)]
    x, y = read_idx(paths[0], ndim=3), read_idx(paths[1], ndim=1)
    if x.dtype != np.uint8 or y.dtype != np.uint8:
        raise DataFileError(f"{images}, {labels}: expected unsigned-byte IDX files, found {x.dtype} and {y.dtype}")
    if len(x) != len(y):
        raise DataFileError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    if len(y) and y.max() > 9:
        raise DataFileError(f"{labels}: label {y.max()} found, expected digits 0-9")
    return x[:, None], y.astype(np.int64)


def _standardise(x):
    """uint8 pixels -> [0, 1] -> (x - MEAN) / STD, in the default dtype (in place: one copy)."""
    x = x.astype(get_dtype())
    x /= 255
    x -= MEAN
    x /= STD
    return x


def split_off_last(x, y, n, fraction):
    """(x_train, y_train, x_valid, y_valid): the last `n` examples validate, or the last
    `fraction` of them when the training file is smaller than the published one (a test's)."""
    n = n if len(x) > 2 * n else max(1, int(len(x) * fraction))
    return x[:-n], y[:-n], x[-n:], y[-n:]


def load_mnist():
    """MNIST's fixed split: x_train (50000, 1, 28, 28), y_train, x_valid (10000, 1, 28, 28), y_valid,
    x_test (10000, 1, 28, 28), y_test. The validation images are the last 10,000 of the
    training file, the usual choice; the test images are the official test file.

    x is standardised, in the backend's default float dtype; y is int64.
    """
    x_train, y_train = _split("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    x_test, y_test = _split("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    x_train, y_train, x_valid, y_valid = split_off_last(_standardise(x_train), y_train, 10_000, 1 / 6)
    return x_train, y_train, x_valid, y_valid, _standardise(x_test), y_test
