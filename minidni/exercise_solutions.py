"""Reference solutions of the exercises that minidni.exercises checks.

`show_solution(name)` prints one of these. Each is the library's own arithmetic written
out in one function: linear_backward and relu_backward are Linear's and ReLU's backward,
softmax_cross_entropy_backward is SoftmaxCrossEntropy's, backprop_schedule the order in
which Backprop.step runs (as its trace records it), update_wait what waiting_intervals
measures, m_loss_and_grad MSE's (what Regressor.fit minimises), cosine what
gradient_agreement reports, and dni_step is DNI.step without its options (cDNI, update
probability, synthetic inputs, the trace), so it leaves a trainer exactly as DNI.step does.

By notebook: 01 relu_backward, softmax_cross_entropy_backward; 02 backprop_schedule,
update_wait; 03 m_loss_and_grad, cosine; 09 linear_backward, sg_target, dni_step.
"""
import numpy as np


def linear_backward(x, W, dy):
    """The backward of h = x W + b.

    x: (N, D_in), W: (D_in, D_out), dy = dL/dh: (N, D_out).
    Returns dx: (N, D_in), dW: (D_in, D_out), db: (D_out,).
    """
    dx = dy @ W.T              # (N, D_out) @ (D_out, D_in)
    dW = x.T @ dy              # (D_in, N) @ (N, D_out): W's shape
    db = dy.sum(axis=0)        # b is added to every row, so every row's gradient adds up
    return dx, dW, db


def relu_backward(x, dy):
    """The backward of h = max(x, 0).  x, dy = dL/dh: (N, D) -> dx: (N, D)."""
    return dy * (x > 0)        # the gradient passes where the input was positive


def softmax_cross_entropy_backward(z, y):
    """dL/dz of L = the mean over the batch of -log softmax(z_n)[y_n].

    z: (N, C) logits, y: (N,) integer labels in [0, C) -> dz: (N, C).
    """
    p = np.exp(z - z.max(axis=1, keepdims=True))      # shifted: exp cannot overflow
    p = p / p.sum(axis=1, keepdims=True)               # softmax of each row, over the C classes
    p[np.arange(len(y)), y] -= 1                       # minus onehot(y)
    return p / len(y)                                  # L is a mean over the N samples


def backprop_schedule(L):
    """The (module, kind) of each event of one Backprop.step on L modules, in the order they run.

    Modules are numbered from 0, as the trace numbers them; kind is "forward",
    "backward" or "update".
    """
    forward = [(i, "forward") for i in range(L)]                 # each needs the output of the one below
    backward = [(i, "backward") for i in reversed(range(L))]     # f_i needs delta_i from f_{i+1}'s backward
    update = [(i, "update") for i in range(L)]                   # only now may any module change
    return forward + backward + update


def update_wait(events, module):
    """Seconds from the end of `module`'s forward to the start of its update, in one step's events.

    events: the Events (module, kind, step, start, end) of one step; module: numbered from 0.
    """
    forward = next(e for e in events if e.module == module and e.kind == "forward")
    update = next(e for e in events if e.module == module and e.kind == "update")
    return update.start - forward.end          # h is out, but the weights may not change yet


def sg_target(x, W, b, g_hat):
    """M_{i-1}'s regression target when module i is h = relu(x W + b) and updates with g_hat = M_i(h).

    The target is what module i's backward sends down when it backpropagates its own
    synthetic gradient (the bootstrapped target, paper §2).
    x: (N, D_in), W: (D_in, D_out), b: (D_out,), g_hat: (N, D_out) -> d_in: (N, D_in).
    """
    dz = relu_backward(x @ W + b, g_hat)
    d_in, _, _ = linear_backward(x, W, dz)
    return d_in


def m_loss_and_grad(g_hat, delta):
    """M's L2 loss, the mean of (g_hat - delta)^2 over all N x D entries, and its gradient in g_hat.

    g_hat, delta: (N, D) -> (loss: a number, dg_hat: (N, D)). As minidni.losses.MSE, which
    Regressor.fit minimises.
    """
    diff = g_hat - delta
    loss = (diff ** 2).mean()                  # the mean over every entry, as torch.nn.MSELoss
    dg_hat = diff * (2.0 / diff.size)          # d/dg of (g - delta)^2 is 2 (g - delta); the mean divides by N D
    return loss, dg_hat


def cosine(a, b):
    """The cosine of the angle between a and b taken as single vectors (over all their entries).

    a, b: the same shape, e.g. (N, D) -> a number. (sg_quality reports 0 where a or b is all
    zero, as g_hat is before M's first fit; here that is 0 / 0.)
    """
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())     # <a, b> / (|a| |b|)


def dni_step(trainer, x, y):
    """One decoupled step of `trainer` (a DNI) on x: (N, ...), y: (N,). Returns the loss at the top."""
    L = len(trainer.modules)
    h = x
    for i, f in enumerate(trainer.modules):
        h = f.forward(h)                                 # h_i = f_i(h_{i-1})
        if i < L - 1:
            delta = trainer.sgs[i].predict(h)            # g_hat_i = M_i(h_i), at once
        else:
            loss = trainer.loss_fn.forward(h, y)
            delta = trainer.loss_fn.backward()           # the true gradient, at the top only
        d_in = f.backward(delta)
        trainer.optimizers[i].step()                     # update now: no update lock
        if i > 0:
            trainer.sgs[i - 1].fit(d_in)                 # the bootstrapped target for M_{i-1}
    return loss
