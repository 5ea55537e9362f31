"""Save and load a model's parameters, buffers and optimiser state as .npz.

Files are written atomically (a temporary file in the same directory, then a rename),
so an interrupted save never destroys the previous checkpoint; they are read with
allow_pickle=False, so loading a file never runs code.
"""
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
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path, model, optimizers=()):
    """Load `path` into `model` (and optimisers) in place; a mismatch raises CheckpointError."""
    optimizers = list(optimizers)
    stored = _read(path, lambda files: files)
    stored = {k: v for k, v in stored.items() if not k.startswith("meta/")}
    params = {k: v for k, v in stored.items() if k.startswith(("param/", "buffer/"))}
    expected = _arrays(model, [])
    if params.keys() != expected.keys():
        missing, extra = sorted(expected.keys() - params.keys()), sorted(params.keys() - expected.keys())
        raise CheckpointError(f"checkpoint {path} is for another model: missing {missing[:5]}, unexpected {extra[:5]}")
    for k, target in expected.items():
        if params[k].shape != tuple(target.shape):
            raise CheckpointError(f"checkpoint {path}: {k} has shape {params[k].shape}, the model has {tuple(target.shape)}")
    slots = []   # (optimiser, slot key, stored value, parameter): all checked before anything changes
    for i, opt in enumerate(optimizers):
        prefix = f"optim{i}/"
        if prefix + "t" not in stored:
            raise CheckpointError(f"checkpoint {path} has no state for optimiser {i}")
        module_params = opt.module.params
        for k, v in stored.items():
            if k.startswith(prefix) and k != prefix + "t":
                key = k[len(prefix):]                      # "<slot>/<param name>"
                p = module_params.get(key.split("/", 1)[-1])
                if p is None or v.shape != tuple(p.shape):
                    raise CheckpointError(f"checkpoint {path}: optimiser state {k} matches no parameter of its module")
                slots.append((opt, key, v, p))
    for k, target in expected.items():
        target[...] = array_module(target).asarray(params[k], dtype=target.dtype)
    for i, opt in enumerate(optimizers):
        opt.t, opt.state = int(stored[f"optim{i}/t"]), {}
    for opt, key, v, p in slots:
        opt.state[key] = array_module(p).asarray(v, dtype=p.dtype)


def _read(path, keys):
    """{key: array} for the keys keys(files) picks, or CheckpointError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys(f.files)}
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"checkpoint {path} is not a readable .npz file ({type(e).__name__}: {e})") from None


def read_meta(path):
    """The metadata dict stored by save(meta=...)."""
    stored = _read(path, lambda files: [k for k in files if k.startswith("meta/")])
    return {k[5:]: v.item() for k, v in stored.items()}


def verify(path):
    """Read every array of `path` (the zip checks each one's CRC); CheckpointError if any is damaged."""
    _read(path, lambda files: files)
