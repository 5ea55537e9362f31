"""Weight initialisers. Each takes a numpy.random.Generator: no global random state."""
import numpy as np


def he_normal(rng, shape, fan_in):
    """N(0, 2 / fan_in): keeps activations' scale through ReLU layers (He et al. 2015)."""
    return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)


def xavier_uniform(rng, shape, fan_in, fan_out):
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)): for tanh / sigmoid layers (Glorot 2010)."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape)


def initialise(kind, rng, shape, fan_in, fan_out):
    """Dispatch on `kind`: "he", "xavier" or "zeros" (the synthetic-gradient models' output layer)."""
    if kind == "he":
        return he_normal(rng, shape, fan_in)
    if kind == "xavier":
        return xavier_uniform(rng, shape, fan_in, fan_out)
    if kind == "zeros":
        return np.zeros(shape)
    raise ValueError(f"unknown initialiser {kind!r}: choose 'he', 'xavier' or 'zeros'")
