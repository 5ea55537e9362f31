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
from .activations import sigmoid
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

    def _W_h_transposed(self):
        """W_h^T: (G, H), copied contiguous: the T products dz_t W_h^T run faster (0.27 -> 0.18 ms at 256 units)."""
        return array_module(self.params["W_h"]).ascontiguousarray(self.params["W_h"].T)

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
        """x: (T, N, D), state (h_0,) or None (zeros) -> y = (h_1 ... h_T): (T, N, H), (h_T,)."""
        (h0,) = self._check(x, state)
        xp = array_module(x)
        W_h, T = self.params["W_h"], x.shape[0]
        zx = self._input_projection(x)                          # x_t W_x + b of every step: (T, N, H)
        h = xp.empty((T + 1,) + h0.shape, dtype=h0.dtype)       # h[0] = h_0, h[t] = h_t
        h[0] = h0
        for t in range(T):
            h[t + 1] = xp.tanh(h[t] @ W_h + zx[t])
        self.x, self.h = x, h
        return h[1:], (h[T],)

    def backward(self, dy, d_state=None):
        """dy: (T, N, H) on the outputs, d_state: (dh_T,) or None -> dx: (T, N, D), (dh_0,)."""
        xp = array_module(dy)
        h, T = self.h, dy.shape[0]
        dz = xp.empty_like(dy)
        dh = xp.zeros_like(h[0]) if d_state is None else d_state[0]
        W_hT = self._W_h_transposed()
        for t in reversed(range(T)):
            dh = dh + dy[t]
            dz[t] = dh * (1 - h[t + 1] * h[t + 1])              # tanh' = 1 - h^2
            dh = dz[t] @ W_hT                                   # to h_{t-1}
        return self._parameter_grads(dz, h[:T]), (dh,)


class LSTM(_Recurrent):
    """LSTM (Hochreiter & Schmidhuber 1997; the gate order i, f, g, o of torch.nn.LSTM).

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

    def forward(self, x, state=None):
        """x: (T, N, D), state (h_0, c_0) or None (zeros) -> y: (T, N, H), (h_T, c_T). Each step t:

            z = x_t W_x + h_{t-1} W_h + b      (N, 4H), cut into z_i, z_f, z_g, z_o: (N, H) each
            i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
            c_t = f * c_{t-1} + i * g
            h_t = o * tanh(c_t)
        """
        h0, c0 = self._check(x, state)
        xp = array_module(x)
        W_h, T, H = self.params["W_h"], x.shape[0], self.hidden_size
        zx = self._input_projection(x)                      # x_t W_x + b of every step: (T, N, 4H)
        h = xp.empty((T + 1,) + h0.shape, dtype=h0.dtype)   # h[0] = h_0 ... h[T] = h_T
        c = xp.empty_like(h)
        h[0], c[0] = h0, c0
        self.steps = []                                     # i, f, g, o, tanh(c_t) of every step, for backward
        for t in range(T):
            z = h[t] @ W_h + zx[t]
            z_i, z_f, z_g, z_o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
            i, f, g, o = sigmoid(z_i), sigmoid(z_f), xp.tanh(z_g), sigmoid(z_o)
            c[t + 1] = f * c[t] + i * g
            tanh_c = xp.tanh(c[t + 1])
            h[t + 1] = o * tanh_c
            self.steps.append((i, f, g, o, tanh_c))
        self.x, self.h, self.c = x, h, c
        return h[1:], (h[T], c[T])

    def backward(self, dy, d_state=None):
        """dy: (T, N, H), d_state: (dh_T, dc_T) or None -> dx: (T, N, D), (dh_0, dc_0). Each step t, last first:

            dh = dh + dy_t                      (from h_{t+1} through W_h, plus this step's output)
            do = dh * tanh(c_t);  dc = dc + dh * o * (1 - tanh(c_t)^2)
            di, df, dg = dc * g, dc * c_{t-1}, dc * i
            dz = (di, df, dg, do) * (i(1 - i), f(1 - f), 1 - g^2, o(1 - o))    sigmoid' = a(1 - a), tanh' = 1 - a^2
            dc_{t-1} = dc * f;  dh_{t-1} = dz W_h^T
        """
        xp = array_module(dy)
        T, N, H = dy.shape
        dz = xp.empty((T, N, 4 * H), dtype=dy.dtype)
        dh, dc = (xp.zeros_like(self.c[0]), xp.zeros_like(self.c[0])) if d_state is None else d_state
        W_hT = self._W_h_transposed()
        for t in reversed(range(T)):
            i, f, g, o, tanh_c = self.steps[t]
            dh = dh + dy[t]
            do = dh * tanh_c                                 # h_t = o tanh(c_t)
            dc = dc + dh * o * (1 - tanh_c * tanh_c)
            di, df, dg = dc * g, dc * self.c[t], dc * i      # c_t = f c_{t-1} + i g
            # sigmoid' = a(1 - a), computed a - a^2, the rounding every committed LSTM run was trained with
            xp.concatenate([di * (i - i * i), df * (f - f * f), dg * (1 - g * g), do * (o - o * o)],
                           axis=1, out=dz[t])
            dc = dc * f                                      # to c_{t-1}
            dh = dz[t] @ W_hT                                # to h_{t-1}
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
        """tokens: (T, N) or (T, N, K) integers in [0, V) -> x: (T, N, E)."""
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
        """dx: (T, N, E) -> None; stores dW: (V, E), the rows of W each symbol used, summed."""
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
        """tokens: (T, N) or (T, N, K), state or None (zeros) -> logits: (T, N, V_out), state_T."""
        x = self.embed.forward(tokens)
        self.h, state_T = self.core.forward(x, state)
        T, N, H = self.h.shape
        logits = self.readout.forward(self.h.reshape(T * N, H))
        return logits.reshape(T, N, -1), state_T

    def backward(self, dlogits, d_state=None, dh=None):
        """dlogits: (T, N, V_out), d_state: d state_T or None, dh: (T, N, H) or None -> d_state_0."""
        T, N, V = dlogits.shape
        dh_out = self.readout.backward(dlogits.reshape(T * N, V)).reshape(T, N, -1)
        if dh is not None:
            dh_out += dh
        dx, d_state_0 = self.core.backward(dh_out, d_state)
        self.embed.backward(dx)
        return d_state_0
