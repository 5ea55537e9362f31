"""Gradient norms of a char-LM run, window by window: what docs/rnn_results.md quotes on the spikes.

    OMP_NUM_THREADS=1 python docs/rnn_gradient_norms.py --method dni --seed 0 --windows 16000
    OMP_NUM_THREADS=1 python docs/rnn_gradient_norms.py --method bptt --seed 0 --windows 8000

Trains one run as `rnn charlm --corpus stdlib` does (same trainer, same stream, unclipped) and
prints, over successive eighths of the windows, the percentiles of
  model: the norm of the whole model's gradient each window (what --clip would clip),
  target: per sequence, the norm of the gradient that reaches the window's start state
          (M's bootstrapped target under DNI; what truncation throws away under BPTT),
  g_hat:  per sequence, the norm of the synthetic gradient at the window's end (DNI only).
"""
import argparse

import numpy as np

from minidni.backend import to_device, to_numpy
from minidni.data.text import batchify, load_corpus
from minidni.experiments.recurrent import RNNConfig, _trainer
from minidni.nn.recurrent import join_state


def measure(method, seed, windows, corpus="stdlib", **options):
    """{"model": (windows,), "target": (windows, N), "g_hat": (k, N)} norms of one run."""
    config = RNNConfig("charlm", method=method, T=8, corpus=corpus, seed=seed, clip=0.0, **options).resolved()
    data = load_corpus(corpus)
    trainer = _trainer(data.n_symbols, data.n_symbols, config, np.random.default_rng(seed))
    model, n, found = trainer.model, config.batch_size, {"model": [], "target": [], "g_hat": []}
    backward, step = model.backward, trainer.optimizer.step

    def recording_backward(d_outputs, d_future=None, dh=None):
        d_start = backward(d_outputs, d_future, dh)
        found["target"].append(np.linalg.norm(to_numpy(n * join_state(d_start)), axis=1))
        if d_future is not None:
            found["g_hat"].append(np.linalg.norm(to_numpy(n * join_state(d_future)), axis=1))
        return d_start

    def recording_step():
        found["model"].append(float(np.sqrt(sum(float((g * g).sum()) for g in model.grads.values()))))
        step()
    model.backward, trainer.optimizer.step = recording_backward, recording_step
    streams, state, position = to_device(batchify(data.train, n)), None, 0
    for _ in range(windows):
        if position + config.T + 1 > len(streams):
            state, position = None, 0
        window = streams[position:position + config.T + 1]
        _, state = trainer.window(window[:-1], window[1:], state=state)
        position += config.T
    return {k: np.array(v) for k, v in found.items() if v}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", default="dni", choices=("bptt", "dni", "dni-aux"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, default=16000)
    parser.add_argument("--corpus", default="stdlib")
    parser.add_argument("--hidden", type=int, default=None)
    args = parser.parse_args(argv)
    found = measure(args.method, args.seed, args.windows, args.corpus, hidden=args.hidden)
    step = max(1, args.windows // 8)
    for name, values in found.items():
        for start in range(0, args.windows, step):
            part = values[start:start + step]
            p50, p99 = np.percentile(part, [50, 99])
            print(f"{name:6} windows {start:6}-{start + len(part):6}: median {p50:8.3f}  99th {p99:9.3f}  "
                  f"max {part.max():10.3f}")
    return found


if __name__ == "__main__":
    main()
