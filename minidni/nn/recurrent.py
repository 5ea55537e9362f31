"""Recurrent layers over a whole window of T steps, with the state exposed at both ends.

    y, state_T = core.forward(x, state_0)         x: (T, N, D) -> y: (T, N, H)
    dx, d_state_0 = core.backward(dy, d_state_T)  the gradient on the final state comes in,
                                                  the one on the initial state goes out

Exposing d_state_T and d_state_0 is what truncated BPTT with synthetic gradients needs
(paper §3.1): the synthetic gradient enters at the window's last state, and the
gradient leaving its first state is the bootstrapped target for the SG model.

A state is a tuple of (N, H) arrays: (h, c) for the LSTM, (h,) for the tanh RNN.
`join_state` concatenates it to one (N, state_size) array for M; `split_state` undoes it.

Both cells compute the input projection of all T steps in one GEMM before the loop
and the weight gradients in one GEMM after it, so the loop over time holds only the
recurrent product h_{t-1} W_h and element-wise work, as cuDNN and PyTorch do.
"""
import numpy as np

from ..backend import array_module
from ..errors import DTypeError, ShapeError
from .linear import Linear
from .module import Composite, Module, check_input, parameter


def join_state(state):
    """(h, c) or (h,) -> one (N, state_size) array: the input of the synthetic-gradient model."""
    return state[0] if len(state) == 1 else array_module(state[0]).concatenate(state, axis=1)


def split_state(s, parts):
    """Inverse of join_state: (N, parts * H) -> a tuple of `parts` (N, H) arrays."""
    return tuple(array_module(s).split(s, parts, axis=1))


def _recurrent_params(module, input_size, hidden_size, gates, rng):
    """W_x: (D, gates*H), W_h: (H, gates*H), b: (gates*H,), drawn U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch."""
    k = 1.0 / np.sqrt(hidden_size)
    module.params["W_x"] = parameter(rng.uniform(-k, k, (input_size, gates * hidden_size)))
    module.params["W_h"] = parameter(rng.uniform(-k, k, (hidden_size, gates * hidden_size)))
    module.params["b"] = parameter(np.zeros(gates * hidden_size))


class _Recurrent(Module):
    """What the LSTM and the tanh RNN share: shapes, the initial state, input checks."""

    n_state = 1          # arrays in the state tuple
    input_grad = True    # False: backward skips dx (the input is data, or an embedding handles it)

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size

    @property
    def state_size(self):
        """Width of join_state(state): 2H for the LSTM, H for the RNN."""
        return self.n_state * self.hidden_size

    def init_state(self, n):
        """The zero state for a batch of n sequences."""
        W = self.params["W_h"]
        return tuple(array_module(W).zeros((n, self.hidden_size), dtype=W.dtype) for _ in range(self.n_state))

    def _check(self, x, state):
        W = self.params["W_x"]
        check_input(x, type(self).__name__, ndim=3, size=self.input_size, dtype=W.dtype)
        if state is None:
            return self.init_state(x.shape[1])
        if len(state) != self.n_state:
            raise ShapeError(f"{type(self).__name__}: the state is a tuple of {self.n_state} arrays, got {len(state)}")
        for s in state:
            if s.shape != (x.shape[1], self.hidden_size):
                raise ShapeError(f"{type(self).__name__}: each state array must have shape "
                                 f"({x.shape[1]}, {self.hidden_size}), got {tuple(s.shape)}")
        return state

    def _input_projection(self, x):
        """x W_x + b for all T steps at once: (T, N, D) -> (T, N, G)."""
        T, N, D = x.shape
        z = x.reshape(T * N, D) @ self.params["W_x"]
        z += self.params["b"]
        return z.reshape(T, N, -1)

    def _parameter_grads(self, dz, h_prev):
        """dW_x, dW_h, db from all T steps' pre-activation gradients dz: (T, N, G) in three reductions."""
        T, N, G = dz.shape
        dz2 = dz.reshape(T * N, G)
        self.grads["W_x"] = self.x.reshape(T * N, -1).T @ dz2
        self.grads["W_h"] = h_prev.reshape(T * N, -1).T @ dz2
        self.grads["b"] = dz2.sum(axis=0)
        return (dz2 @ self.params["W_x"].T).reshape(T, N, -1) if self.input_grad else None


class RNN(_Recurrent):
    """Plain tanh RNN:  h_t = tanh(x_t W_x + h_{t-1} W_h + b).

    x: (T, N, D), state (h_0,) -> y = (h_1 ... h_T): (T, N, H), state (h_T,).
    W_x: (D, H), W_h: (H, H), b: (H,).
    """

    def __init__(self, input_size, hidden_size, rng=None):
        super().__init__(input_size, hidden_size)
        _recurrent_params(self, input_size, hidden_size, 1, rng if rng is not None else np.random.default_rng(0))

    def forward(self, x, state=None):
        (h0,) = self._check(x, state)
        xp = array_module(x)
        W_h, T = self.params["W_h"], x.shape[0]
        z = self._input_projection(x)
        h = xp.empty((T + 1,) + h0.shape, dtype=h0.dtype)       # h[0] = h_0, h[t] = h_t
        h[0] = h0
        for t in range(T):
            a = h[t] @ W_h
            a += z[t]
            xp.tanh(a, out=h[t + 1])
        self.x, self.h = x, h
        return h[1:], (h[T],)

    def backward(self, dy, d_state=None):
        """dy: (T, N, H) on the outputs, d_state: (dh_T,) or None -> dx: (T, N, D), (dh_0,)."""
        xp = array_module(dy)
        W_h, h, T = self.params["W_h"], self.h, dy.shape[0]
        dz = xp.empty_like(dy)
        dh = xp.zeros_like(h[0]) if d_state is None else d_state[0].copy()
        W_hT = xp.ascontiguousarray(W_h.T)                       # d W_h^T runs T times: faster on a contiguous copy
        for t in reversed(range(T)):
            dh += dy[t]
            xp.multiply(dh, 1 - h[t + 1] * h[t + 1], out=dz[t])  # tanh' = 1 - h^2
            dh = dz[t] @ W_hT                                     # to h_{t-1}
        return self._parameter_grads(dz, h[:T]), (dh,)


class LSTM(_Recurrent):
    """LSTM (Hochreiter & Schmidhuber 1997; the gate order i, f, g, o of torch.nn.LSTM):

        z_t = x_t W_x + h_{t-1} W_h + b                 (N, 4H): all four gates in one GEMM
        i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    x: (T, N, D), state (h_0, c_0) -> y = (h_1 ... h_T): (T, N, H), state (h_T, c_T).
    W_x: (D, 4H), W_h: (H, 4H), b: (4H,). The forget gate's bias starts at
    `forget_bias` (1 by default, Jozefowicz et al. 2015: remember until told otherwise).
    """

    n_state = 2

    def __init__(self, input_size, hidden_size, rng=None, forget_bias=1.0):
        super().__init__(input_size, hidden_size)
        _recurrent_params(self, input_size, hidden_size, 4, rng if rng is not None else np.random.default_rng(0))
        H = hidden_size
        self.params["b"][H:2 * H] = forget_bias
        # sigmoid(z) = (1 + tanh(z / 2)) / 2, so one tanh call activates all four gates:
        # a = tanh(z * scale) * scale + shift, with scale 1/2 (sigmoid) or 1 (tanh) per gate.
        xp, dtype = array_module(self.params["b"]), self.params["b"].dtype
        self._scale = xp.asarray(np.repeat([0.5, 0.5, 1.0, 0.5], H), dtype=dtype)
        self._shift = xp.asarray(np.repeat([0.5, 0.5, 0.0, 0.5], H), dtype=dtype)
        # gate derivative a' = a * is_sigmoid + is_tanh - a^2: a(1 - a) for sigmoid, 1 - a^2 for tanh
        self._is_sigmoid = xp.asarray(np.repeat([1.0, 1.0, 0.0, 1.0], H), dtype=dtype)
        self._is_tanh = 1 - self._is_sigmoid
        self._rows = None        # the four rows above, repeated for a batch: see gate_constants

    def gate_constants(self, n):
        """scale, shift, is_sigmoid, is_tanh as (n, 4H) arrays, made once per batch size n.
        NumPy runs an element-wise op on two same-shape arrays about twice as fast as on an
        array and a broadcast row; the values, and so every result, are the same."""
        if self._rows is None or self._rows[0].shape[0] != n:
            xp = array_module(self._scale)
            self._rows = tuple(xp.ascontiguousarray(xp.broadcast_to(v, (n, v.shape[0])))
                               for v in (self._scale, self._shift, self._is_sigmoid, self._is_tanh))
        return self._rows

    def forward(self, x, state=None):
        h0, c0 = self._check(x, state)
        xp = array_module(x)
        W_h, T, H = self.params["W_h"], x.shape[0], self.hidden_size
        z = self._input_projection(x)
        gates = xp.empty_like(z)                            # activated i, f, g, o of every step
        h = xp.empty((T + 1,) + h0.shape, dtype=h0.dtype)   # h[0] = h_0 ... h[T] = h_T
        c = xp.empty_like(h)
        tanh_c = xp.empty_like(h[1:])
        h[0], c[0] = h0, c0
        scale, shift = self.gate_constants(x.shape[1])[:2]
        for t in range(T):
            a = gates[t]
            xp.matmul(h[t], W_h, out=a)
            a += z[t]
            a *= scale
            xp.tanh(a, out=a)
            a *= scale
            a += shift
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            xp.multiply(f, c[t], out=c[t + 1])
            c[t + 1] += i * g
            xp.tanh(c[t + 1], out=tanh_c[t])
            xp.multiply(o, tanh_c[t], out=h[t + 1])
        self.x, self.h, self.c, self.tanh_c, self.gates = x, h, c, tanh_c, gates
        return h[1:], (h[T], c[T])

    def backward(self, dy, d_state=None):
        """dy: (T, N, H), d_state: (dh_T, dc_T) or None -> dx: (T, N, D), (dh_0, dc_0)."""
        xp = array_module(dy)
        W_h, T, H = self.params["W_h"], dy.shape[0], self.hidden_size
        c, tanh_c, gates = self.c, self.tanh_c, self.gates
        dz = xp.empty_like(gates)
        if d_state is None:
            dh, dc = xp.zeros_like(c[0]), xp.zeros_like(c[0])
        else:
            dh, dc = d_state[0].copy(), d_state[1].copy()
        W_hT = xp.ascontiguousarray(W_h.T)                     # d W_h^T runs T times: faster on a contiguous copy
        is_sigmoid, is_tanh = self.gate_constants(dy.shape[1])[2:]
        for t in reversed(range(T)):
            a, d = gates[t], dz[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            dh += dy[t]
            dc += dh * o * (1 - tanh_c[t] * tanh_c[t])          # through h_t = o tanh(c_t)
            xp.multiply(dc, g, out=d[:, :H])                     # dL/di
            xp.multiply(dc, c[t], out=d[:, H:2 * H])             # dL/df
            xp.multiply(dc, i, out=d[:, 2 * H:3 * H])            # dL/dg
            xp.multiply(dh, tanh_c[t], out=d[:, 3 * H:])         # dL/do
            d *= a * is_sigmoid + is_tanh - a * a                # through the gate non-linearities
            dc *= f                                              # to c_{t-1}
            dh = d @ W_hT                                        # to h_{t-1}
        return self._parameter_grads(dz, self.h[:T]), (dh, dc)


class Embedding(Module):
    """Integer symbols -> learned vectors: tokens (T, N) -> x (T, N, E).  W: (V, E).

    Equal to one-hot(tokens) @ W, without building the one-hot array. Tokens (T, N, K),
    K symbols per step (a pattern of K bits, say), give the sum of their K vectors:
    multi-hot(tokens) @ W. backward(dx) stores dW and returns None (symbols have no gradient).
    """

    def __init__(self, n_symbols, dim, rng=None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["W"] = parameter(rng.standard_normal((n_symbols, dim)) * 0.1)

    def forward(self, tokens):
        if not hasattr(tokens, "dtype") or tokens.dtype.kind not in "iu":
            raise DTypeError(f"Embedding: expected integer symbols, got {getattr(tokens, 'dtype', type(tokens))}")
        V = self.params["W"].shape[0]
        # The range is checked on the host only: on a GPU it would make every window wait.
        if tokens.size and type(tokens) is np.ndarray and (int(tokens.min()) < 0 or int(tokens.max()) >= V):
            raise ShapeError(f"Embedding: symbols must lie in [0, {V}), got min {int(tokens.min())}, "
                             f"max {int(tokens.max())}")
        self.tokens = tokens
        x = self.params["W"][tokens]
        return x if tokens.ndim == 2 else x.sum(axis=2)       # (T, N, K, E) -> the K symbols' sum

    def backward(self, dx):
        W = self.params["W"]
        xp = array_module(W)
        dW = xp.zeros_like(W)
        if self.tokens.ndim == 3:                              # each of a step's K symbols gets that step's dx
            dx = xp.broadcast_to(dx[:, :, None, :], self.tokens.shape + dx.shape[-1:])
        xp.add.at(dW, self.tokens.reshape(-1), dx.reshape(-1, W.shape[1]))   # repeated symbols add up
        self.grads["W"] = dW
        return None


class SequenceModel(Composite):
    """Symbols in, per-step logits out: Embedding -> recurrent core -> Linear readout at every step.

        logits, state_T = model.forward(tokens, state_0)     tokens: (T, N) -> logits: (T, N, V_out)
        d_state_0 = model.backward(dlogits, d_state_T, dh)   dh: (T, N, H), extra gradient on
                                                             the core's outputs (the aux task)
    The core's outputs h: (T, N, H) are kept as `model.h` after forward.
    Parameter names: "embed.W", "core.W_x", "core.W_h", "core.b", "readout.W", "readout.b".
    """

    CELLS = {"lstm": LSTM, "rnn": RNN}

    def __init__(self, n_in, n_out, hidden_size, rng=None, cell="lstm", embed_dim=None):
        if cell not in self.CELLS:
            raise ValueError(f"unknown recurrent cell {cell!r}: choose 'lstm' or 'rnn'")
        rng = rng if rng is not None else np.random.default_rng(0)
        embed_dim = embed_dim or min(hidden_size, 64)
        self.embed = Embedding(n_in, embed_dim, rng)
        self.core = self.CELLS[cell](embed_dim, hidden_size, rng)
        self.readout = Linear(hidden_size, n_out, rng, init="xavier")
        super().__init__(embed=self.embed, core=self.core, readout=self.readout)

    @property
    def state_size(self):
        return self.core.state_size

    def init_state(self, n):
        return self.core.init_state(n)

    def forward(self, tokens, state=None):
        x = self.embed.forward(tokens)
        self.h, state_T = self.core.forward(x, state)
        T, N, H = self.h.shape
        logits = self.readout.forward(self.h.reshape(T * N, H))
        return logits.reshape(T, N, -1), state_T

    def backward(self, dlogits, d_state=None, dh=None):
        T, N, V = dlogits.shape
        dh_out = self.readout.backward(dlogits.reshape(T * N, V)).reshape(T, N, -1)
        if dh is not None:
            dh_out += dh
        dx, d_state_0 = self.core.backward(dh_out, d_state)
        self.embed.backward(dx)
        return d_state_0
