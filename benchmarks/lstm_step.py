"""Time one truncated-BPTT training window of the minidni LSTM against torch.nn.LSTM.

On the CPU by default; with MINIDNI_BACKEND=cupy on the GPU, against PyTorch on CUDA.

    python benchmarks/lstm_step.py [--threads 1] [--repeats 30] [--inner 3] [--profile] [--json out.json]

The window (as in the char-LM experiments, at the issue's sizes): T = 20 steps, batch 32,
50 symbols -> Embedding(50, 64) -> LSTM(64, 256) -> Linear(256, 50) at every step ->
softmax cross-entropy (summed over steps, mean over the batch) -> backward -> Adam.
Both sides run in float32 with the same number of threads; the state from the last
window enters each window, with no gradient through it.

Prints the median step time of each and minidni / torch (goal <= 1.25), and the time of
the window's GEMMs alone (lstm_gemms), so the time outside them shows; each round runs
`inner` windows of each contender back to back, in a shuffled order (see step_time.py).
"""
import argparse
import json
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from minidni import backend
from minidni.nn.recurrent import SequenceModel
from minidni.train.tbptt import TBPTT
from step_time import SYNCS, gemm_chain, interleaved

T, BATCH, HIDDEN, SYMBOLS, EMBED = 20, 32, 256, 50, 64


def lstm_gemms():
    """The GEMMs of one window, as (m, k, n): the input projection of all T steps, the T recurrent
    products h W_h, the readout; backward: the readout's dW and dh, T products d W_h^T, then
    dW_x, dW_h and dx of all steps at once (the embedding takes dx)."""
    TN, G = T * BATCH, 4 * HIDDEN
    forward = [(TN, EMBED, G)] + [(BATCH, HIDDEN, G)] * T + [(TN, HIDDEN, SYMBOLS)]
    backward = [(HIDDEN, TN, SYMBOLS), (TN, SYMBOLS, HIDDEN)] + [(BATCH, G, HIDDEN)] * T
    return forward + backward + [(EMBED, TN, G), (HIDDEN, TN, G), (TN, G, EMBED)]


def gemm_window(seed=0):
    """A function running the window's GEMMs alone, on preallocated float32 operands."""
    return gemm_chain(lstm_gemms(), backend.xp(), np.float32, np.random.default_rng(seed))


def minidni_window(rng, tokens, targets):
    trainer = TBPTT(SequenceModel(SYMBOLS, SYMBOLS, HIDDEN, rng, embed_dim=EMBED), T, "bptt", lr=1e-3)
    x, y = backend.to_device(tokens), backend.to_device(targets)
    carry = {"state": None}

    def step():
        _, carry["state"] = trainer.window(x, y, state=carry["state"])
    trainer.trace.enabled = False
    step.trainer = trainer                    # for --profile
    return step


def torch_window(torch, tokens, targets, device="cpu"):
    nn = torch.nn
    embed, lstm, readout = (m.to(device) for m in (nn.Embedding(SYMBOLS, EMBED), nn.LSTM(EMBED, HIDDEN),
                                                    nn.Linear(HIDDEN, SYMBOLS)))
    params = [*embed.parameters(), *lstm.parameters(), *readout.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    x, y = torch.from_numpy(tokens).to(device), torch.from_numpy(targets).to(device)
    carry = {"state": None}

    def step():
        opt.zero_grad(set_to_none=True)
        h, state = lstm(embed(x), carry["state"])
        loss = loss_fn(readout(h).reshape(-1, SYMBOLS), y.reshape(-1)) / BATCH
        loss.backward()
        opt.step()
        carry["state"] = tuple(s.detach() for s in state)     # truncation: no gradient into the last window
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="also time each part's forward and backward and each phase")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, SYMBOLS, (T, BATCH))
    targets = rng.integers(0, SYMBOLS, (T, BATCH))
    device = "cuda" if backend.get_backend() == "cupy" else "cpu"
    if device == "cuda":
        SYNCS.append(torch.cuda.synchronize)
    contenders = {"minidni": minidni_window(rng, tokens, targets),
                  "torch": torch_window(torch, tokens, targets, device), "gemm": gemm_window()}
    with threadpool_limits(args.threads):
        t = interleaved(contenders, args.repeats, args.inner)
    result = {"backend": backend.get_backend(), "T": T, "batch": BATCH, "hidden": HIDDEN, "symbols": SYMBOLS, "embed": EMBED, "threads": args.threads,
              "repeats": args.repeats, "inner": args.inner, "torch_version": torch.__version__,
              "minidni_ms": 1e3 * t["minidni"], "torch_ms": 1e3 * t["torch"],
              "minidni_over_torch": t["minidni"] / t["torch"], "gemm_ms": 1e3 * t["gemm"],
              "minidni_over_gemm": t["minidni"] / t["gemm"], "outside_gemm_ms": 1e3 * (t["minidni"] - t["gemm"])}
    print(f"one TBPTT window (T={T}, batch {BATCH}, LSTM {HIDDEN}, {SYMBOLS} symbols), {args.threads} thread(s), "
          f"median of {args.repeats} rounds x {args.inner}:")
    print(f"  minidni {result['minidni_ms']:.2f} ms   torch {result['torch_ms']:.2f} ms   "
          f"minidni / torch {result['minidni_over_torch']:.2f}   (goal <= 1.25)")
    print(f"  its GEMMs alone {result['gemm_ms']:.2f} ms   minidni / its GEMMs {result['minidni_over_gemm']:.2f}   "
          f"outside the GEMMs {result['outside_gemm_ms']:.2f} ms")
    if args.profile:
        from phases import profile
        step = contenders["minidni"]
        with threadpool_limits(args.threads):
            text, result["profile"] = profile(step.trainer, step, 10)
        print(f"\nprofile: one window\n{text}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
