"""Time this checkout against another, interleaved in one run: a speed-up as a ratio on this machine.

    python benchmarks/ab.py main                       # this working tree against git revision main
    python benchmarks/ab.py e2ef13d --threads 1        # any revision git knows
    python benchmarks/ab.py /path/to/other/checkout    # or another copy of the project

Each side runs in a Python process of its own that imports minidni from its own tree
and builds the same steps with this file's builders (step_time.steps: the MLP, its DNI
step and the conv net; lstm_step: the LSTM window). The parent asks the two sides in
turn, in a new shuffled order each round with a pause between, to time `inner` steps of
one kind, so drift and noise hit both alike. A revision is checked out with
`git worktree add` into a temporary folder, removed at the end.

Prints for each step the median time of each side and the median of the per-round
ratios this / other with their interquartile range (below 1: this checkout is faster);
then the same ratio for the time outside the step's matrix products: each round also
times the step's GEMMs alone (step_time.gemm_steps, lstm_step.gemm_window) in this
side's process, and the ratio is (this - GEMMs) / (other - GEMMs).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KINDS = ("mlp", "dni", "conv", "lstm")


def worker(threads):
    """The child: build every step with the minidni on PYTHONPATH, then answer "kind inner" lines with seconds."""
    from threadpoolctl import threadpool_limits

    import minidni
    from lstm_step import SYMBOLS, T, BATCH, gemm_window, minidni_window
    from step_time import gemm_steps, steps, timer
    rng = np.random.default_rng(0)
    made = {k: fn for k, (_, fn) in steps().items()}
    made["lstm"] = minidni_window(rng, rng.integers(0, SYMBOLS, (T, BATCH)), rng.integers(0, SYMBOLS, (T, BATCH)))
    made.update({f"gemm:{k}": fn for k, fn in {**gemm_steps(), "lstm": gemm_window()}.items()})
    print(json.dumps({"minidni": os.path.dirname(os.path.dirname(minidni.__file__))}), flush=True)
    with threadpool_limits(threads):
        for fn in made.values():                         # warm up
            timer(fn, 2)
        for line in sys.stdin:
            kind, inner = line.split()
            print(json.dumps(timer(made[kind], int(inner))), flush=True)


def check_imported(tree, line):
    """Stop unless the worker's first JSON `line` says it imported minidni from `tree`."""
    found = json.loads(line)["minidni"]
    if os.path.realpath(found) != os.path.realpath(tree):
        raise SystemExit(f"the worker for {tree} imported minidni from {found}: uninstall the other copy's "
                         "non-editable install, or run from a virtual environment without it")


def start(tree, threads):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, HERE]), "OMP_NUM_THREADS": str(threads)}
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(threads)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=HERE)
    check_imported(tree, child.stdout.readline())
    return child


def ask(child, kind, inner):
    child.stdin.write(f"{kind} {inner}\n")
    child.stdin.flush()
    return json.loads(child.stdout.readline())


def checkout(other):
    """(tree, cleanup): a directory as it is, or a git revision checked out in a temporary worktree."""
    if os.path.isdir(other):
        return os.path.abspath(other), lambda: None
    folder = tempfile.mkdtemp(prefix="minidni_ab_")
    shutil.rmtree(folder)
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", folder, other], check=True,
                   stdout=subprocess.DEVNULL)
    return folder, lambda: subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", folder], check=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", nargs="?", help="a git revision or a directory holding another checkout")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--inner", type=int, default=5)
    ap.add_argument("--pause", type=float, default=0.1)
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.threads)
    if not args.other:
        ap.error("name the other side: a git revision (e.g. main) or a directory")
    tree, cleanup = checkout(args.other)
    try:
        sides = {"this": start(ROOT, args.threads), "other": start(tree, args.threads)}
        order = np.random.default_rng(0)
        pairs = [(s, k) for s in sides for k in args.kinds] + [("this", f"gemm:{k}") for k in args.kinds]
        samples = {pair: [] for pair in pairs}
        for _ in range(args.repeats):
            for i in order.permutation(len(pairs)):
                time.sleep(args.pause)
                side, kind = pairs[i]
                samples[side, kind].append(ask(sides[side], kind, args.inner))
        for child in sides.values():
            child.stdin.close()
            child.wait()
    finally:
        cleanup()
    result = {"other": args.other, "threads": args.threads, "repeats": args.repeats, "inner": args.inner}
    print(f"this checkout against {args.other}, {args.threads} thread(s), {args.repeats} rounds x {args.inner} steps")
    for kind in args.kinds:
        this, other, gemm = (samples["this", kind], samples["other", kind], samples["this", f"gemm:{kind}"])
        # per round: the step's ratio, and the ratio of the time outside its GEMMs (step - GEMM chain)
        q1, med, q3 = np.percentile([a / b for a, b in zip(this, other)], [25, 50, 75])
        o1, omed, o3 = np.percentile([(a - g) / (b - g) for a, b, g in zip(this, other, gemm)], [25, 50, 75])
        ms = {name: 1e3 * statistics.median(v) for name, v in (("this", this), ("other", other), ("gemm", gemm))}
        result[kind] = {"this_ms": ms["this"], "other_ms": ms["other"], "ratio_median": med, "ratio_q1": q1,
                        "ratio_q3": q3, "gemm_ms": ms["gemm"], "outside_this_ms": ms["this"] - ms["gemm"],
                        "outside_other_ms": ms["other"] - ms["gemm"], "outside_ratio_median": omed,
                        "outside_ratio_q1": o1, "outside_ratio_q3": o3}
        print(f"  {kind:5s} this {ms['this']:8.3f} ms   other {ms['other']:8.3f} ms   this / other {med:.3f} "
              f"(interquartile {q1:.3f}-{q3:.3f})")
        print(f"        its GEMMs {ms['gemm']:8.3f} ms   outside them: this / other {omed:.3f} "
              f"(interquartile {o1:.3f}-{o3:.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
