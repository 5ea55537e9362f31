"""Training methods, one file each, and the epoch loop they share."""
from .backprop import Backprop
from .dni import CDNI, DNI
from .loop import evaluate, fit

METHODS = {"backprop": Backprop, "dni": DNI, "cdni": CDNI}


def make_trainer(method, model, **options):
    """Build the trainer for `method` ("backprop", "dni", "cdni") on `model`.

    DNI and cDNI also need input_shape= and n_classes= (of the data) among `options`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    return METHODS[method](model, **options)
