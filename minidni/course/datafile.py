"""The release's data file as JSON: what `check` compares with when the solutions are not there.

A student release holds the expected outputs of every exercise on its fixed inputs (and each
typical mistake, sealed: minidni.course.mistakes). Nothing here is unpickled: the file is JSON,
and the few types JSON lacks are written as tagged objects and built back by this module alone:

    NumPy array   {"$array": nested lists, "dtype": "float64", "shape": [5, 4]}
    NumPy scalar  {"$scalar": 0.25, "dtype": "float64"}
    tuple         {"$tuple": [...]}          a trace Event: {"$event": [module, kind, step, start, end]}

Floats are written with Python's repr, which reads back to the same float64, so a check in
student mode compares exactly what the reference computed.
"""
import json

import numpy as np

from ..errors import DataFileError
from ..trace import Event


def _encode(value):
    if isinstance(value, np.ndarray):
        return {"$array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return {"$scalar": value.item(), "dtype": str(value.dtype)}
    if isinstance(value, Event):
        return {"$event": [_encode(v) for v in value]}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"the course data file takes string keys only, got {list(value)[:3]}")
        return {k: _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"the course data file cannot hold a {type(value).__name__}")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$array" in value:
        return np.array(value["$array"], dtype=value["dtype"]).reshape(value["shape"])
    if "$scalar" in value:
        return np.dtype(value["dtype"]).type(value["$scalar"])
    if "$event" in value:
        return Event(*(_decode(v) for v in value["$event"]))
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    return {k: _decode(v) for k, v in value.items()}


def dump(data, path):
    """Write `data` (dicts with string keys, lists, tuples, NumPy arrays and scalars, numbers) to `path`."""
    with open(path, "w") as f:
        json.dump(_encode(data), f)


def load(path):
    """Read what dump wrote; a file that is not such JSON is a DataFileError naming it."""
    try:
        with open(path) as f:
            return _decode(json.load(f))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise DataFileError(f"{path}: not a minidni course data file ({e})") from None
