"""Training cost per character of the char-LM's truncated-BPTT windows, by method and T.

    python benchmarks/window_cost.py [--runs bptt:8 bptt:40 dni:8 dni-aux:8] [--threads 1] [--repeats 15]

The char-LM runs of docs/rnn_results.md report training seconds, but were run two side by
side on a shared machine. This times the same trainers (the char-LM's defaults: a 128-unit
LSTM, batch 32, Adam) on random symbols, every contender training on the same number of
characters per call, interleaved in a shuffled order each round (step_time.interleaved),
and prints microseconds per character and each run's ratio to the first.
"""
import argparse
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from minidni.errors import UserError
from minidni.experiments.recurrent import RNNConfig, _trainer, parse_run
from step_time import interleaved


def contender(method, T, chars, n_symbols, batch, hidden, seed=0):
    """A function training `chars` characters per stream in windows of T (state carried), and
    the characters it trains on per call (all streams)."""
    config = RNNConfig("charlm", method=method, T=T, hidden=hidden, batch_size=batch).check().resolved()
    trainer = _trainer(n_symbols, n_symbols, config, np.random.default_rng(seed))
    windows = max(1, chars // T)
    stream = np.random.default_rng(seed + 1).integers(0, n_symbols, size=(windows * T + 1, batch))

    def run():
        state = None
        for k in range(windows):
            window = stream[k * T:(k + 1) * T + 1]
            _, state = trainer.window(window[:-1], window[1:], state=state)
    return run, windows * T * batch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", default=["bptt:8", "bptt:40", "dni:8", "dni-aux:8"],
                    help="METHOD:T contenders; ratios are to the first")
    ap.add_argument("--chars", type=int, default=320, help="characters per stream per timed call (default 320)")
    ap.add_argument("--symbols", type=int, default=98, help="alphabet size (the stdlib corpus has 98)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--pause", type=float, default=0.05)
    args = ap.parse_args(argv)
    contenders, chars = {}, {}
    for run in args.runs:
        try:
            method, T = parse_run(run)
            contenders[run], chars[run] = contender(method, T, args.chars, args.symbols, args.batch, args.hidden)
        except UserError as e:
            ap.error(str(e))                          # exits 2 with the usage and what was wrong
    with threadpool_limits(args.threads):
        seconds = interleaved(contenders, args.repeats, 1, pause=args.pause)
    per_char = {run: 1e6 * seconds[run] / chars[run] for run in args.runs}
    first = args.runs[0]
    print(f"{args.hidden}-unit LSTM, batch {args.batch}, {args.symbols} symbols, {args.threads} thread(s), "
          f"median of {args.repeats} interleaved rounds")
    for run in args.runs:
        print(f"  {run:10s} {per_char[run]:7.2f} us per character   {per_char[run] / per_char[first]:.2f} of {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
