"""How much memory a run will need, from its options alone, checked before anything is allocated.

Without this a run far too large for the machine (`--hidden 100000000`, `--layers 100000`)
starts allocating and ends, seconds or minutes later, in a MemoryError, or brings in the
out-of-memory killer on a shared machine. An estimate adds up, in the current dtype:

    parameters       every weight of the network and of each M and I, with its gradient
    optimiser state  Adam's two moments per parameter (SGD's momentum: one)
    activations      what a batch leaves in the layers' caches (an evaluation batch, where larger)
    data             the data set, or the batch of a stream, where the run computes

It is a sum of the layers' real shapes (minidni.models, synthetic, nn.recurrent), good to
a small factor: enough to refuse a run that cannot fit, never one that can. Each config's
check() calls check_fits with the estimate of its kind of run:

    check_fits(config, feedforward)                                  # TrainConfig, the parallel Config
    check_fits(config, lambda c: recurrent(c.resolved()))            # RNNConfig
    check_fits(config, lambda c: multinet(c, VALID_STREAMS))         # MultinetConfig
"""
import dataclasses
import inspect
import math
import os

from .backend import device_free_bytes, get_dtype
from .data.tasks import CopyTask
from .errors import UserError
from .models import build_cnn
from .options import flag_of

# (shape of one image, images in all splits) of each data set load_dataset reads; 10 classes each.
DATASETS = {"digits": ((1, 8, 8), 1797), "mnist5k": ((1, 28, 28), 5000), "mnist": ((1, 28, 28), 70_000),
            "cifar10": ((3, 32, 32), 60_000)}
N_CLASSES = 10
EVAL_BATCH = 500            # the batch of minidni.train.loop.evaluate
CHARLM_SYMBOLS = 256        # a corpus' alphabet is known only once it is read: a byte's worth
CNN_CHANNELS = inspect.signature(build_cnn).parameters["channels"].default
OPTIMIZER_SLOTS = {"adam": 2, "sgd": 1}     # state arrays per parameter (SGD: momentum 0.9)


def check_fits(config, estimate):
    """Raise UserError if the run `config` describes needs more memory than there is.

    estimate(config) -> {part: bytes}. The message names the option whose value, set back to
    its default, saves the most (if any), the estimate and its parts, and what the machine has.
    """
    have, where = available()
    parts = estimate(config)
    need = sum(parts.values())
    if have is None or need <= have:
        return
    detail = ", ".join(f"{name} {size_text(b)}" for name, b in parts.items() if b)
    raise UserError(f"{_dominant(config, estimate, need)}this run needs about {size_text(need)} ({detail}), "
                    f"more than the {size_text(have)} {where}")


def _dominant(config, estimate, need):
    """"--option value: " for the integer option whose default value would save the most memory ("" if none)."""
    best, saved = "", 0
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        if type(value) is not int or value == default:
            continue
        less = need - sum(estimate(dataclasses.replace(config, **{f.name: default})).values())
        if less > saved:
            best, saved = f"{flag_of(f)} {value}: ", less
    return best


def available():
    """(bytes, where) a run may use: the GPU's free memory on the cupy backend, else this machine's
    physical memory (or its cgroup's limit, if lower); (None, None) where neither can be read."""
    free = device_free_bytes()
    if free is not None:
        return free, "free on the GPU"
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):      # not a POSIX system
        return None, None
    try:
        with open("/sys/fs/cgroup/memory.max") as f:   # a container's or a batch job's limit (cgroup v2)
            limit = f.read().strip()
        have = min(have, int(limit)) if limit.isdigit() else have
    except OSError:
        pass
    return have, "this machine has"


def size_text(n):
    """Bytes as a person reads them: 512 bytes, 3.2 TB (powers of 1000); 10^40 bytes beyond the units."""
    if n < 1000:
        return f"{n} bytes"
    for i, unit in enumerate(("kB", "MB", "GB", "TB", "PB", "EB"), 1):
        if n < 1000 ** (i + 1):
            return f"{n / 1000 ** i:.1f} {unit}"
    return f"10^{int((n.bit_length() - 1) * math.log10(2))} bytes"


def _parts(parameters, optimiser_state, activations, data):
    """{part: bytes} from counts of values (data: already in bytes)."""
    size = get_dtype().itemsize
    return {"parameters and gradients": 2 * parameters * size, "optimiser state": optimiser_state * size,
            "activations": activations * size, "data": data}


def _layers(chans, k=1, positions=1, norm=False):
    """(parameters, activation values per sample) of dense (k = 1) or same-padded k x k conv layers
    through the widths `chans` at `positions` (H W) places; norm: BatchNorm after each hidden layer.
    A layer keeps its input (a conv its k k-fold im2col columns) and about three values per output."""
    params = sum(a * b * k * k + b for a, b in zip(chans, chans[1:])) + (4 * sum(chans[1:-1]) if norm else 0)
    return params, positions * sum(a * k * k + 3 * b for a, b in zip(chans, chans[1:]))


def _modules(config, in_shape):
    """[(count, parameters, activation values per sample, output shape)] of f_1 ... f_L: build_mlp's
    Linear-BN-ReLU modules and Linear head, or build_cnn's Conv-BN-ReLU-MaxPool modules and Linear head;
    `count` modules alike make one entry, so that a million layers cost no more to count than four."""
    if getattr(config, "model", "mlp") == "cnn":        # the parallel Config trains MLPs only
        (c, h, w), out = in_shape, []
        for ch in CNN_CHANNELS:
            params, acts = _layers([c, ch], k=3, positions=h * w)
            out.append((1, params + 4 * ch, acts + 3 * ch * h * w, (ch, h // 2, w // 2)))  # BN, ReLU, pool
            c, h, w = ch, h // 2, w // 2
        return out + [(1, *_layers([c * h * w, N_CLASSES]), (N_CLASSES,))]
    d, H, L = in_shape[0], config.hidden, config.layers

    def block(n_in):
        params, acts = _layers([n_in, H])
        return params + 4 * H, acts + 2 * H             # BN's scale, shift and running statistics; ReLU's mask
    hidden = [(n, *block(n_in), (H,)) for n, n_in in ((min(L - 1, 1), d), (L - 2, H)) if n > 0]
    return hidden + [(1, *_layers([H if L > 1 else d, N_CLASSES]), (N_CLASSES,))]


def _synthetic(config, shape, cdni):
    """(parameters, activation values per sample) of one M on activations of `shape` (make_synthetic_model)."""
    d, positions, k = shape[0], math.prod(shape[1:]), 1 if len(shape) == 1 else 3
    extra = N_CLASSES if cdni and config.sg_condition == "channels" else 0
    hidden = config.sg_hidden or {"mlp": d, "paper": 1024 if len(shape) == 1 else 128}.get(config.sg)
    chans = {"linear": [d + extra, d], "mlp": [d + extra, hidden, d], "paper": [d + extra, hidden, hidden, d]}
    k = 5 if config.sg == "paper" and len(shape) == 3 else k
    params, acts = _layers(chans[config.sg], k, positions, norm=config.sg == "paper")
    return params + (N_CLASSES * chans[config.sg][1] if cdni and not extra else 0), acts


def feedforward(config):
    """{part: bytes} of a feed-forward run (TrainConfig, or the parallel Config's MLP): the network
    with its optimiser, an M on each decoupled module's output (an I for it with complete unlock),
    a batch's activations (an evaluation batch of EVAL_BATCH where that is larger), the data set."""
    in_shape, images = DATASETS[config.dataset]
    in_shape = (math.prod(in_shape),) if getattr(config, "model", "mlp") == "mlp" else in_shape
    modules = _modules(config, in_shape)
    net = sum(n * p for n, p, _, _ in modules)
    rows = max(config.batch_size, EVAL_BATCH)
    acts = rows * sum(n * a for n, _, a, _ in modules)
    sg = 0
    if config.method in ("dni", "cdni"):
        sites = [(n, shape) for n, _, _, shape in modules[:-1]]      # (count, shape): M after every module but
        if getattr(config, "cuts", None) is not None:                # the last, or after the cuts only
            decoupled = sum(n for n, _ in sites)                     # the modules an M may follow
            sites = [(1, modules[_module_of(modules, c)][3]) for c in set(config.cuts) if c < decoupled]
        for n, shape in sites:
            params, a = _synthetic(config, shape, config.method == "cdni")
            if config.complete_unlock:                 # I: a Linear from the data to this output
                params, a = params + _layers([math.prod(in_shape), math.prod(shape)])[0], a + math.prod(shape)
            sg, acts = sg + n * params, acts + n * config.batch_size * a
    state = OPTIMIZER_SLOTS[config.optimizer] * net + OPTIMIZER_SLOTS[config.sg_optimizer] * sg
    return _parts(net + sg, state, acts, images * (math.prod(in_shape) * get_dtype().itemsize + 8))


def _module_of(modules, index):
    """The entry of `modules` (counted entries) that holds module `index` (0-based)."""
    for i, (n, _, _, _) in enumerate(modules):
        if index < n:
            return i
        index -= n
    return len(modules) - 1


def recurrent(config):
    """{part: bytes} of an `rnn` run (config resolved): the SequenceModel (Embedding, LSTM or RNN,
    readout), M on its state (dni, dni-aux; dni-aux's head too), T steps of a batch, the batch."""
    if config.task == "charlm":
        n_in = n_out = CHARLM_SYMBOLS
        slots, data, rows = 1, (config.T + 1) * config.batch_size * 8, max(config.T * config.batch_size, 100 * 16)
    else:
        task = CopyTask(config.bits, config.max_repeats, config.encoding)
        n_in, n_out = task.n_in, task.n_out
        slots = config.bits + 1 if config.encoding == "binary" else 1     # symbols a step reads
        data = 3 * task.length(1) * config.batch_size * slots * 8     # tokens, targets, mask at N = 1
        rows = config.T * config.batch_size
    H, gates = config.hidden, 4 if config.cell == "lstm" else 1
    E, state = min(H, 64), 2 * H if config.cell == "lstm" else H
    model = n_in * E + _layers([E + H, gates * H])[0] + _layers([H, n_out])[0]
    sg = _layers([state, state])[0] if config.method != "bptt" else 0
    aux = _layers([H, state])[0] if config.method == "dni-aux" else 0
    per_step = slots * E + 4 * gates * H + 3 * n_out + (3 * state if sg else 0)    # the LSTM keeps its gates, c and h
    return _parts(model + sg + aux, 2 * (model + sg + aux), rows * per_step, data)


def multinet(config, eval_streams):
    """{part: bytes} of a `multinet` run: A (an LSTM on the images of --digits, with a class and a
    message head), B (an LSTM on the messages, with a count head), (dni) an M on each one's state,
    (oracle) a copy of both networks for the locked pass, K ticks steps of a batch of streams (of
    `eval_streams`, the validation batch, where larger), the batch."""
    steps, rows, counts = config.K * config.ticks, max(config.batch_size, eval_streams), config.span * config.K + 1
    n_in, hA, hB = math.prod(DATASETS[config.digits][0]), config.hidden_a, config.hidden_b
    a = _layers([n_in + hA, 4 * hA])[0] + _layers([hA, N_CLASSES])[0] + _layers([hA, config.message])[0]
    b = _layers([config.message + hB, 4 * hB])[0] + _layers([hB, counts])[0]
    sg = _layers([2 * hA, 2 * hA])[0] + _layers([2 * hB, 2 * hB])[0] if config.method == "dni" else 0
    sg += a + b if config.method == "oracle" else 0                   # the locked pass's copy of A and B
    acts = steps * rows * (n_in + 16 * hA + 3 * (N_CLASSES + config.message)) \
        + config.ticks * rows * (config.message + 16 * hB + 3 * counts)
    data = steps * rows * (n_in * get_dtype().itemsize + 8) + config.ticks * rows * 8
    return _parts(a + b + sg, 2 * (a + b + sg), acts, data)
