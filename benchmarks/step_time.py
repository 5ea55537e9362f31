"""Time one training step of minidni against PyTorch and against its own GEMMs.

    python benchmarks/step_time.py [--threads 2] [--repeats 30] [--hidden 256] [--profile] [--json out.json]
    MINIDNI_BACKEND=cupy python benchmarks/step_time.py     # on the GPU, against PyTorch on CUDA

Prints, for a 784-H-H-H-10 ReLU MLP (H = --hidden, 256 by default; batch 256) and a
two-conv net (1x28x28, batch 64), all float32:
  minidni / torch   the step time ratio, same thread count, interleaved runs (goal <= 1.0)
  minidni / GEMMs   the step time over the time of its matrix products alone: the BLAS
                    limit (goal <= 1.3)
and for the MLP also a DNI step (linear synthetic gradients after every hidden layer):
  dni / backprop    and dni / its GEMMs (goal <= 1.3).
Each number is the median over `repeats` rounds; in each round every contender runs
`inner` steps back to back, in a shuffled order, so slow drift hits all of them alike.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import minidni
from minidni import backend
from minidni.models import build_mlp
from minidni.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minidni.train import DNI, Backprop


SYNCS = [backend.synchronize]      # what waits for queued GPU work: CuPy's, and PyTorch's when it runs on CUDA


def timer(fn, inner):
    for sync in SYNCS:
        sync()
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    for sync in SYNCS:
        sync()
    return (time.perf_counter() - t0) / inner


def interleaved(contenders, repeats, inner, pause=0.25):
    """{name: median seconds per call}, the contenders in a new seeded random order each round.

    A fixed rotation would always run the same contender right after the same other one;
    after PyTorch's step its OpenMP threads keep spinning for a while and slow whatever
    comes next. So each round shuffles the order, and `pause` seconds between contenders
    let such threads go to sleep before the next one is timed.
    """
    names = list(contenders)
    order_rng = np.random.default_rng(0)
    for fn in contenders.values():        # warm up caches and allocators
        timer(fn, 2)
    samples = {n: [] for n in names}
    for _ in range(repeats):
        for k in order_rng.permutation(len(names)):
            time.sleep(pause)
            samples[names[k]].append(timer(contenders[names[k]], inner))
    return {n: statistics.median(s) for n, s in samples.items()}


def gemm_chain(shapes, xp, dtype, rng):
    """A function running one GEMM per (m, k, n) in `shapes` on preallocated operands."""
    ops = [(backend.to_device(rng.standard_normal((m, k)), dtype), backend.to_device(rng.standard_normal((k, n)), dtype),
            xp.empty((m, n), dtype=dtype)) for m, k, n in shapes]

    def run():
        for a, b, out in ops:
            xp.matmul(a, b, out=out)
    return run


def mlp_gemms(batch, widths, sg_widths=()):
    """The GEMMs of one MLP step: forward h W, backward x^T dy and dy W^T (none for the data's dx);
    plus, for each synthetic gradient of width d: predict h M, fit h^T d (M's input gets no gradient)."""
    shapes = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        shapes += [(batch, d_in, d_out), (d_in, batch, d_out)] + ([(batch, d_out, d_in)] if i else [])
    for d in sg_widths:
        shapes += [(batch, d, d), (d, batch, d)]
    return shapes


def conv_gemms(batch, layers, head):
    """im2col GEMMs of the conv net: per conv (C, F, H, W): forward, dW, and dcols except for the first."""
    shapes = []
    for i, (c, f, h, w) in enumerate(layers):
        k, p = c * 9, batch * h * w
        shapes += [(f, k, p), (f, p, k)] + ([(k, f, p)] if i else [])
    d_in, d_out = head
    return shapes + [(batch, d_in, d_out), (d_in, batch, d_out), (batch, d_out, d_in)]


def torch_step_fn(torch, net, x, y):
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)     # as minidni's "sgd" (make_optimizer)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
    return step


def gemm_steps(hidden=256, seed=0):
    """{kind: function running the GEMMs of that step alone}, for the kinds of `steps()`: the
    BLAS limit each step is measured against (ab.py times them too, for the time outside them)."""
    xp, dtype, rng = backend.xp(), np.float32, np.random.default_rng(seed)
    widths = [784, hidden, hidden, hidden, 10]
    return {"mlp": gemm_chain(mlp_gemms(256, widths), xp, dtype, rng),
            "dni": gemm_chain(mlp_gemms(256, widths, [hidden] * 3), xp, dtype, rng),
            "conv": gemm_chain(conv_gemms(64, [(1, 16, 28, 28), (16, 32, 14, 14)], (32 * 7 * 7, 10)), xp, dtype, rng)}


def mlp_trainers(hidden, rng):
    """(backprop, dni) trainers of the 784-H-H-H-10 ReLU MLP (no batch norm), SGD."""
    bp = Backprop(build_mlp(784, 10, layers=4, hidden=hidden, rng=rng, batchnorm=False), optimizer="sgd", lr=0.01)
    dni = DNI(build_mlp(784, 10, layers=4, hidden=hidden, rng=rng, batchnorm=False), (784,), 10,
              optimizer="sgd", lr=0.01, sg_optimizer="sgd", sg_lr=1e-4)
    return bp, dni


def conv_trainer(rng):
    """Backprop of conv3x3(1->16)-ReLU-pool, conv3x3(16->32)-ReLU-pool, linear; SGD."""
    cnn = Sequential(Sequential(Conv2d(1, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2)),
                     Sequential(Conv2d(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2)),
                     Sequential(Flatten(), Linear(32 * 7 * 7, 10, rng)))
    return Backprop(cnn, optimizer="sgd", lr=0.01)


def batch(rng, shape, dtype=np.float32):
    """(x, y) on the backend: standard normal inputs of `shape`, labels 0-9."""
    return backend.to_device(rng.standard_normal(shape), dtype), backend.to_device(rng.integers(0, 10, shape[0]))


def steps(hidden=256, seed=0):
    """{name: (trainer, step function)} for the MLP (batch 256), its DNI step and the conv net (batch 64),
    all trainers with their traces off. The A/B benchmark (ab.py) times these on both sides."""
    rng = np.random.default_rng(seed)
    x, y = batch(rng, (256, 784))
    bp, dni = mlp_trainers(hidden, rng)
    xc, yc = batch(rng, (64, 1, 28, 28))
    cbp = conv_trainer(rng)
    for trainer in (bp, dni, cbp):
        trainer.trace.enabled = False
    return {"mlp": (bp, lambda: bp.step(x, y)), "dni": (dni, lambda: dni.step(x, y)),
            "conv": (cbp, lambda: cbp.step(xc, yc))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--inner", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=256, help="MLP width (default 256; the GPU check adds 1024)")
    ap.add_argument("--profile", action="store_true",
                    help="also time each layer's forward and backward and each phase of the three steps")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: the minidni / torch ratios are skipped (pip install torch==2.13.0)")
    if torch is not None and backend.get_backend() == "numpy":
        torch.set_num_threads(args.threads)
    device = "cuda" if backend.get_backend() == "cupy" else "cpu"
    if torch is not None and device == "cuda":
        SYNCS.append(torch.cuda.synchronize)
    results = {"backend": backend.get_backend(), "threads": args.threads, "repeats": args.repeats}
    H = args.hidden
    widths, n = [784, H, H, H, 10], 256
    results["hidden"] = H
    mine = steps(H)
    bp_step, dni_step, conv_step = (mine[k][1] for k in ("mlp", "dni", "conv"))
    x, y = batch(np.random.default_rng(1), (n, 784))     # PyTorch's inputs (values do not change the time)

    gemms = gemm_steps(H)

    # --- MLP 784-H-H-H-10, batch 256 ---
    contenders = {"backprop": bp_step, "dni": dni_step, "gemm": gemms["mlp"], "dni_gemm": gemms["dni"]}
    if torch is not None:
        layers = []
        for d_in, d_out in zip(widths[:-1], widths[1:]):
            layers += [torch.nn.Linear(d_in, d_out), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1]).to(device)
        contenders["torch"] = torch_step_fn(torch, net, torch.as_tensor(backend.to_numpy(x), device=device),
                                            torch.as_tensor(backend.to_numpy(y), device=device))
    with threadpool_limits(args.threads):
        t = interleaved(contenders, args.repeats, args.inner)
    results["mlp"] = {k + "_ms": 1e3 * v for k, v in t.items()}
    results["mlp"]["minidni_over_gemm"] = t["backprop"] / t["gemm"]
    results["mlp"]["outside_gemm_ms"] = 1e3 * (t["backprop"] - t["gemm"])
    results["mlp"]["dni_over_backprop"] = t["dni"] / t["backprop"]
    results["mlp"]["dni_over_dni_gemm"] = t["dni"] / t["dni_gemm"]
    results["mlp"]["dni_outside_gemm_ms"] = 1e3 * (t["dni"] - t["dni_gemm"])
    if torch is not None:
        results["mlp"]["minidni_over_torch"] = t["backprop"] / t["torch"]

    # --- conv net: conv3x3(1->16)-ReLU-pool, conv3x3(16->32)-ReLU-pool, linear, batch 64 ---
    n = 64
    x, y = batch(np.random.default_rng(1), (n, 1, 28, 28))
    contenders = {"backprop": conv_step, "gemm": gemms["conv"]}
    if torch is not None:
        nn = torch.nn
        net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(32 * 7 * 7, 10)).to(device)
        contenders["torch"] = torch_step_fn(torch, net, torch.as_tensor(backend.to_numpy(x), device=device),
                                            torch.as_tensor(backend.to_numpy(y), device=device))
    with threadpool_limits(args.threads):
        t = interleaved(contenders, args.repeats, args.inner)
    results["cnn"] = {k + "_ms": 1e3 * v for k, v in t.items()}
    results["cnn"]["minidni_over_gemm"] = t["backprop"] / t["gemm"]
    results["cnn"]["outside_gemm_ms"] = 1e3 * (t["backprop"] - t["gemm"])
    if torch is not None:
        results["cnn"]["minidni_over_torch"] = t["backprop"] / t["torch"]

    print(f"minidni {minidni.__version__}, backend {results['backend']}, {args.threads} threads, "
          f"median of {args.repeats} rounds x {args.inner} steps")
    for net_name, r in ((f"MLP 784-{H}-{H}-{H}-10, batch 256", results["mlp"]),
                        ("conv net 2x conv3x3+pool, 1x28x28, batch 64", results["cnn"])):
        print(f"\n{net_name}")
        for k, v in r.items():
            print(f"  {k:22s} {v:8.3f}" + ("" if k.endswith("_ms") else "   (ratio)"))
    if args.profile:
        from phases import profile
        results["profile"] = {}
        with threadpool_limits(args.threads):
            for name, (trainer, step) in mine.items():
                models = [trainer.model] + [M.model for M in getattr(trainer, "M", {}).values()]
                text, results["profile"][name] = profile(trainer, step, 20, models)
                print(f"\nprofile: {name} step\n{text}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
