"""Save and load a model's parameters, buffers and optimiser state as .npz.

Files are written atomically (a temporary file in the same directory, then a rename),
so an interrupted save never destroys the previous checkpoint; they are read with
allow_pickle=False, so loading a file never runs code, and only after every array's
header has been checked against its size in the file (and, by load, against the model),
so a header that claims 10^12 values is refused instead of allocated.
"""
import contextlib
import math
import os
import tempfile
import zipfile

import numpy as np

from .backend import array_module, to_numpy
from .errors import CheckpointError


def _arrays(model, optimizers):
    out = {f"param/{k}": v for k, v in model.params.items()}
    out.update({f"buffer/{k}": v for k, v in model.buffers.items()})
    for i, opt in enumerate(optimizers):
        out.update({f"optim{i}/{k}": v for k, v in opt.state.items()})
        out[f"optim{i}/t"] = np.array(opt.t)
    return out


def save(path, model, optimizers=(), meta=None):
    """Write `model`'s params and buffers (and each optimiser's state) to `path` (.npz)."""
    arrays = {k: to_numpy(v) for k, v in _arrays(model, list(optimizers)).items()}
    if meta:
        arrays.update({f"meta/{k}": np.array(v) for k, v in meta.items()})
    atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write(path, write, mode="wb"):
    """Fill `path` by write(f): into a temporary file in the same directory, synced, then renamed over
    `path`, so a failed write never leaves half a file over a good one. A link keeps pointing at the
    file it named: that file is the one replaced."""
    target = os.path.realpath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path, model, optimizers=()):
    """Load `path` into `model` (and optimisers) in place; a mismatch raises CheckpointError.

    Every name and shape is checked against the model from the file's headers, before an
    array is read (a header may claim any size), and before anything changes.
    """
    optimizers = list(optimizers)
    shapes = {k: shape for k, (shape, _) in _headers(path).items() if not k.startswith("meta/")}
    expected = _arrays(model, [])
    params = {k for k in shapes if k.startswith(("param/", "buffer/"))}
    if params != expected.keys():
        missing, extra = sorted(expected.keys() - params), sorted(params - expected.keys())
        raise CheckpointError(f"checkpoint {path} is for another model: missing {missing[:5]}, unexpected {extra[:5]}")
    for k, target in expected.items():
        if shapes[k] != tuple(target.shape):
            raise CheckpointError(f"checkpoint {path}: {k} has shape {shapes[k]}, the model has {tuple(target.shape)}")
    slots = []   # (optimiser, slot key, stored key, parameter): all checked before anything changes
    for i, opt in enumerate(optimizers):
        prefix = f"optim{i}/"
        if prefix + "t" not in shapes:
            raise CheckpointError(f"checkpoint {path} has no state for optimiser {i}")
        module_params = opt.module.params
        for k, shape in shapes.items():
            if k.startswith(prefix) and k != prefix + "t":
                key = k[len(prefix):]                      # "<slot>/<param name>"
                p = module_params.get(key.split("/", 1)[-1])
                if p is None or shape != tuple(p.shape):
                    raise CheckpointError(f"checkpoint {path}: optimiser state {k} matches no parameter of its module")
                slots.append((opt, key, k, p))
    stored = _read(path, list(shapes))
    for k, target in expected.items():
        target[...] = array_module(target).asarray(stored[k], dtype=target.dtype)
    for i, opt in enumerate(optimizers):
        opt.t, opt.state = int(stored[f"optim{i}/t"]), {}
    for opt, key, k, p in slots:
        opt.state[key] = array_module(p).asarray(stored[k], dtype=p.dtype)


@contextlib.contextmanager
def _reading(path):
    """Turn what reading `path` can raise into a CheckpointError naming the file."""
    try:
        yield
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"checkpoint {path} is not a readable .npz file ({type(e).__name__}: {e})") from None


def _headers(path):
    """{key: (shape, dtype)} of every array in `path`, from its .npy headers alone: nothing is allocated.

    What a header claims (shape x item size) must be what its zip entry holds, and an
    uncompressed entry no larger than the file; else CheckpointError naming the file, the
    array and the claimed size (a damaged or forged header would have numpy allocate it).
    """
    with _reading(path), zipfile.ZipFile(path) as z:
        return dict(_header(path, z, info) for info in z.infolist())


def _header(path, z, info):
    """(key, (shape, dtype)) of one .npy entry `info` of the open zip `z`, its claimed size checked."""
    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise CheckpointError(f"checkpoint {path}: {key} has .npy format version {version}, not 1.0 or 2.0")
        shape, _, dtype = read(f)
        offset = f.tell()
    if dtype.hasobject:                # read as a "not a readable" file, as np.load(allow_pickle=False) would
        raise ValueError(f"{key} holds Python objects (a pickle), and checkpoints are never unpickled")
    count, holds, disk = math.prod(shape), info.file_size - offset, os.path.getsize(path)
    if count * dtype.itemsize != holds or (info.compress_type == zipfile.ZIP_STORED and info.file_size > disk):
        raise CheckpointError(f"checkpoint {path}: {key} claims {count:,} values of {dtype} "
                              f"({count * dtype.itemsize:,} bytes) but holds {max(holds, 0):,} bytes "
                              f"(the file: {disk:,} bytes)")
    return key, (tuple(shape), dtype)


def _read(path, keys):
    """{key: array} of `keys` (their headers checked by _headers first), or CheckpointError naming the file."""
    with _reading(path), np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in keys}


def read_meta(path):
    """The metadata dict stored by save(meta=...)."""
    meta = {k: shape for k, (shape, _) in _headers(path).items() if k.startswith("meta/")}
    wide = [k for k, shape in meta.items() if shape != ()]
    if wide:                                  # save() writes single values: anything else is not its file
        raise CheckpointError(f"checkpoint {path}: {wide[0]} is not a single value")
    return {k[5:]: v.item() for k, v in _read(path, list(meta)).items()}


def verify(path):
    """Check every array of `path`: its header (_headers) and the zip's CRC of its bytes, read in
    chunks without building the arrays; CheckpointError if any is damaged."""
    _headers(path)
    with _reading(path), zipfile.ZipFile(path) as z:
        damaged = z.testzip()
    if damaged is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: {damaged} fails its CRC check")
