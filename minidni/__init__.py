"""minidni: Decoupled Neural Interfaces using Synthetic Gradients, from scratch.

    import minidni as dni
    dni.set_backend("cupy")          # or MINIDNI_BACKEND=cupy; NumPy by default
"""
from .backend import get_backend, get_dtype, set_backend, set_dtype, to_device, to_numpy
from .errors import UserError

__version__ = "0.1.0"
