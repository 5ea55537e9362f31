"""The typical mistakes, sealed: a hint is readable only to an answer that makes its mistake.

A hint often states the right formula (after "did you forget to divide by N?" comes dz), and the data file of a
student release is a file anyone can read. So a case's typical mistakes are kept as
(digest, sealed hint) pairs: the SHA-256 of the wrong output's fingerprint, and the hint sealed
with that fingerprint (questions.seal_with). The checker fingerprints your output; where it is a
mistake's, the fingerprint opens that hint, and nothing else does.

The fingerprint is the output with the float rounding taken out: an array as its largest entry to 9
significant digits and every entry rounded to 8 decimals of that one (so 1e-17 and 0 agree, and two
orders of summation give the same text), a number to 9 significant digits, a list (a schedule) as
its entries in plain Python.
"""
import hashlib

import numpy as np

from ..backend import to_numpy
from .questions import seal_with, unseal_with

DECIMALS = 8          # of an array's largest entry


def fingerprint(value):
    """The text of `value` that a mistake is known by; None where it has none (an object of no known kind)."""
    try:
        if isinstance(value, (list, tuple)):
            return repr([plain(entry) for entry in value])
        a = np.asarray(to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if a.ndim == 0:
        return f"{float(a) + 0.0:.9g}"                                   # + 0.0: -0.0 is 0
    finite = np.isfinite(a)
    scale = np.abs(a[finite]).max(initial=0.0)
    q = np.where(finite, np.round(a / scale, DECIMALS) + 0.0 if scale > 0 else 0.0, a)
    return f"{a.shape}:{scale:.9g}:" + ",".join(map(repr, q.ravel().tolist()))


def plain(entry):
    """An entry of a list answer as plain Python: a tuple of numbers and strings, NumPy scalars unwrapped."""
    if isinstance(entry, (list, tuple)):
        return tuple(plain(x) for x in entry)
    return entry.item() if isinstance(entry, np.generic) else entry


def _digest(label, print_):
    return hashlib.sha256(f"minidni-mistake:{label}:{print_}".encode()).hexdigest()


def sealed(label, wrongs):
    """[(digest, sealed hint)] of `wrongs`, [(what a mistake returns, or None, its hint)], for exercise output
    `label` ("linear_backward.dx", or the exercise's name where it has one output)."""
    found = []
    for wrong, hint in wrongs:
        print_ = None if wrong is None else fingerprint(wrong)
        if print_ is not None:
            found.append((_digest(label, print_), seal_with(f"mistake:{label}:{print_}", hint)))
    return found


def hint(label, got, mistakes):
    """The hint of the first of `mistakes` (as `sealed` makes them) that `got` makes, or None."""
    print_ = fingerprint(got)
    if print_ is None:
        return None
    digest = _digest(label, print_)
    return next((unseal_with(f"mistake:{label}:{print_}", text) for d, text in mistakes if d == digest), None)
