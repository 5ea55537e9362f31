"""Finite-difference gradient checks (centred differences, float64), as in CS231n.

    err = check_module(layer, x)       # max relative error over dx and every dparam

Use float64 parameters and inputs (`minidni.set_dtype("float64")` before building).
"""
import numpy as np

from .backend import array_module, to_numpy


def rel_error(a, b):
    """||a - b|| / (||a|| + ||b||): ~1e-8 or smaller means they agree.

    Normwise rather than elementwise: an entry of 1e-5 next to entries of 1 carries
    finite-difference round-off of its neighbours' size, which no backward pass can beat.
    """
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def numerical_grad(f, x, eps=1e-6):
    """d f() / d x by centred differences; f reads x (which is perturbed in place) and returns a scalar.

    Indexes x element by element, so it works for non-contiguous arrays (views) too.
    """
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        old = x[i].item()
        x[i] = old + eps
        f_plus = float(f())
        x[i] = old - eps
        f_minus = float(f())
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_module(module, x, *context, rng=None, eps=1e-6):
    """Compare `module.backward` with finite differences for x and every parameter.

    The scalar checked is L = sum(forward(x, *context) * r) for a fixed random r, so
    dL/dy = r. `context` holds inputs that get no gradient (cDNI's labels).
    Returns {"x": err, "W": err, ...}: the relative error of each gradient.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    y = module.forward(x, *context)
    r = array_module(y).asarray(rng.standard_normal(y.shape), dtype=y.dtype)

    def loss():
        return (module.forward(x, *context) * r).sum()

    loss()
    dx = module.backward(r)
    analytic = {"x": dx, **{k: v.copy() for k, v in module.grads.items()}}
    errors = {"x": rel_error(dx, numerical_grad(loss, x, eps))}
    for name, p in module.params.items():
        errors[name] = rel_error(analytic[name], numerical_grad(loss, p, eps))
    return errors
