"""Training methods, one file each, and the epoch loop they share."""
from .backprop import Backprop
from .loop import evaluate, fit

METHODS = {"backprop": Backprop}


def make_trainer(method, model, **options):
    """Build the trainer for `method` ("backprop", ...) on `model`."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    return METHODS[method](model, **options)
