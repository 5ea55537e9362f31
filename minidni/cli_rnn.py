"""`python -m minidni rnn TASK ...`: recurrent DNI (paper §3.1) on Copy, Repeat-Copy and character LM.

    python -m minidni rnn copy --method dni -T 4 --steps 3000
    python -m minidni rnn charlm --method bptt -T 40 --chars 3000000 --json run.json
    python -m minidni rnn copy --compare -T 2 3 4 5 8 --method bptt dni dni-aux --out figures/rnn
    python -m minidni rnn charlm --compare --runs bptt:8 bptt:20 bptt:40 dni:8 dni-aux:8

The experiment functions (run_task, run_charlm, run_compare) are plain functions that a
notebook can call with tiny budgets (`quick=True` or small `steps`/`chars`).
"""
import json
import math
import os
import sys
import time

import numpy as np

from . import backend
from .errors import DivergenceError, UserError

TASKS = ("copy", "repeat-copy", "charlm")
METHODS = ("bptt", "dni", "dni-aux")

# Budgets and sizes. The paper's cores are 256-unit LSTMs trained for ~10^5-10^6 steps;
# these are small enough for a few CPU minutes per run.
DEFAULTS = {
    "copy": dict(hidden=64, batch_size=32, steps=4000, lr=3e-3, sg_lr=1e-3, sg_scale=1.0, bits=1, max_repeats=0),
    "repeat-copy": dict(hidden=64, batch_size=32, steps=4000, lr=3e-3, sg_lr=1e-3, sg_scale=1.0, bits=1,
                        max_repeats=2),
    # sg_scale 0.1: on an unending stream an undiscounted bootstrap diverged (docs/paper_map_rnn.md)
    "charlm": dict(hidden=128, batch_size=32, chars=3_000_000, lr=3e-3, sg_lr=1e-4, sg_scale=0.1),
}
QUICK = {"copy": dict(hidden=16, steps=40), "repeat-copy": dict(hidden=16, steps=40),
         "charlm": dict(hidden=16, chars=20_000, eval_chars=2_000)}


def _config(task, quick=False, **overrides):
    """The task's defaults, then --quick's, then the caller's non-None overrides."""
    config = dict(DEFAULTS[task], aux_weight=1.0, cell="lstm", threshold=0.15, patience=20,
                  eval_every=None, eval_chars=20_000, corpus="embedded")
    if quick:
        config.update(QUICK[task])
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def _trainer(n_in, n_out, method, T, config, rng):
    from .nn.recurrent import SequenceModel
    from .train.tbptt import TBPTT
    if T < 1:
        raise UserError(f"-T must be at least 1, got {T}")
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    model = SequenceModel(n_in, n_out, config["hidden"], rng, cell=config["cell"])
    return TBPTT(model, T, method, lr=config["lr"], sg_lr=config["sg_lr"], sg_scale=config["sg_scale"],
                 aux_weight=config["aux_weight"], rng=rng)


def _check_finite(value, step):
    if not math.isfinite(value):
        raise DivergenceError(f"training diverged: loss is {value} at step {step}; try a smaller --lr")


def run_task(task, method, T, seed=0, quick=False, progress=None, **overrides):
    """Copy or Repeat-Copy with the curriculum; returns the result dict (the --json format).

    Every training step is one batch of whole sequences at the current length N, cut
    into windows of T. history: per evaluation {"step", "seconds", "n", "bits"} where
    bits is the mean training error over the last `patience` steps and seconds counts
    training time only. "solved": the largest N solved within the step budget.
    """
    from .data.tasks import CopyTask, Curriculum
    config = _config(task, quick, **overrides)
    rng = np.random.default_rng(seed)
    data = CopyTask(config["bits"], config["max_repeats"])
    trainer = _trainer(data.n_in, data.n_out, method, T, config, rng)
    curriculum = Curriculum(config["threshold"], config["patience"])
    eval_every = config["eval_every"] or max(1, config["steps"] // 100)
    history, recent, seconds = [], [], 0.0
    for step in range(1, config["steps"] + 1):
        tokens, targets, mask = data.batch(curriculum.n, config["batch_size"], rng)
        start = time.perf_counter()
        bits = trainer.sequence(tokens, targets, mask)
        seconds += time.perf_counter() - start
        _check_finite(bits, step)
        recent = (recent + [bits])[-config["patience"]:]
        curriculum.update(bits)
        if step % eval_every == 0 or step == config["steps"]:
            history.append({"step": step, "seconds": seconds, "n": curriculum.n, "solved": curriculum.solved,
                            "bits": float(np.mean(recent))})
            if progress is not None:
                progress(history[-1])
    return {"task": task, "method": method, "T": T, "seed": seed, "solved": curriculum.solved,
            "steps": config["steps"], "seconds": seconds, "config": config, "history": history}


def run_charlm(method, T, seed=0, quick=False, progress=None, data=None, **overrides):
    """Character LM: train on `chars` characters in windows of T; returns the result dict.

    history: per evaluation {"step", "chars", "seconds", "bpc"}: validation bits per
    character on the first `eval_chars` validation characters (16 streams, fresh state),
    seconds = training time only. "bpc": the final validation BPC; "test_bpc" on the test split.
    `data`: an already loaded CharCorpus (else the `corpus` option names one).
    """
    from .backend import to_device
    from .data.text import batchify, load_corpus
    from .train.tbptt import evaluate_bits
    config = _config("charlm", quick, **overrides)
    data = data if data is not None else load_corpus(config["corpus"])
    rng = np.random.default_rng(seed)
    trainer = _trainer(data.n_symbols, data.n_symbols, method, T, config, rng)
    B = config["batch_size"]
    streams = batchify(data.train, B)
    valid = batchify(data.valid[:config["eval_chars"] + 16], 16)
    test = batchify(data.test[:config["eval_chars"] + 16], 16)

    def bpc(split):
        bits, _ = evaluate_bits(trainer.model, to_device(split[:-1]), to_device(split[1:]))
        return bits

    steps = max(1, config["chars"] // (T * B))
    eval_every = config["eval_every"] or max(1, steps // 40)
    history = [{"step": 0, "chars": 0, "seconds": 0.0, "bpc": bpc(valid)}]
    state, position, seconds = None, 0, 0.0
    for step in range(1, steps + 1):
        if position + T + 1 > len(streams):              # an epoch is over: start the streams again
            state, position = None, 0
        window = streams[position:position + T + 1]
        tokens, targets = to_device(window[:-1]), to_device(window[1:])
        start = time.perf_counter()
        loss, state = trainer.window(tokens, targets, state=state)
        seconds += time.perf_counter() - start
        _check_finite(float(loss), step)
        position += T
        if step % eval_every == 0 or step == steps:
            history.append({"step": step, "chars": step * T * B, "seconds": seconds, "bpc": bpc(valid)})
            if progress is not None:
                progress(history[-1])
    return {"task": "charlm", "method": method, "T": T, "seed": seed, "corpus": data.name,
            "corpus_sha256": data.sha256, "python": sys.version.split()[0], "n_symbols": data.n_symbols,
            "bpc": history[-1]["bpc"], "test_bpc": bpc(test), "chars": steps * T * B, "steps": steps,
            "seconds": seconds, "config": config, "history": history}


def run_one(task, method, T, seed=0, quick=False, progress=None, **overrides):
    """run_task or run_charlm, by task."""
    if task == "charlm":
        return run_charlm(method, T, seed, quick, progress, **overrides)
    return run_task(task, method, T, seed, quick, progress, **overrides)


def parse_runs(runs):
    """["bptt:8", "dni:8"] -> [("bptt", 8), ("dni", 8)]."""
    pairs = []
    for r in runs:
        method, _, T = r.partition(":")
        if method not in METHODS or not T.isdigit():
            raise UserError(f"--runs takes METHOD:T with METHOD in {', '.join(METHODS)}, got {r!r}")
        pairs.append((method, int(T)))
    return pairs


def default_runs(task):
    if task == "charlm":
        return [("bptt", 8), ("bptt", 20), ("bptt", 40), ("dni", 8), ("dni-aux", 8)]
    return [(m, T) for T in (2, 3, 4, 5, 8) for m in METHODS]


def run_compare(task, runs=None, seeds=(0,), quick=False, log=print, **overrides):
    """Every (method, T) in `runs` (default: the paper's grid) for every seed; returns the result list."""
    results = []
    if task == "charlm":                      # load the corpus once for all runs
        from .data.text import load_corpus
        overrides["data"] = load_corpus(_config(task, quick, **overrides)["corpus"])
    for method, T in runs or default_runs(task):
        for seed in seeds:
            r = run_one(task, method, T, seed, quick, **overrides)
            results.append(r)
            if task == "charlm":
                log(f"charlm {method:7} T={T:2d} seed={seed}: valid BPC {r['bpc']:.3f} after {r['chars']} chars, "
                    f"{r['seconds']:.1f}s")
            else:
                log(f"{task} {method:7} T={T} seed={seed}: solved N={r['solved']} in {r['steps']} steps, "
                    f"{r['seconds']:.1f}s")
    return results


def time_to_reach(result, target):
    """Training seconds until validation BPC first is <= target (None if never)."""
    return next((h["seconds"] for h in result["history"] if h["bpc"] <= target), None)


def results_table(task, results):
    """Markdown: largest N solved (Copy tasks) or final BPC (charlm), per method and T."""
    if task == "charlm":
        lines = ["| method | T | valid BPC | test BPC | characters | training s |", "|---|---|---|---|---|---|"]
        for r in results:
            lines.append(f"| {r['method']} | {r['T']} | {r['bpc']:.3f} | {r['test_bpc']:.3f} | {r['chars']:,} | "
                         f"{r['seconds']:.0f} |")
        by = {(r["method"], r["T"]): r for r in results}
        if ("dni", 8) in by and ("bptt", 40) in by:
            target, reference = by[("bptt", 40)]["bpc"], by[("bptt", 40)]["seconds"]
            reached = time_to_reach(by[("dni", 8)], target)
            ratio = "not reached" if reached is None else f"{reached / reference:.2f}"
            lines.append(f"\nDNI-8 final valid BPC {by[('dni', 8)]['bpc']:.3f}"
                         + (f", BPTT-8 {by[('bptt', 8)]['bpc']:.3f}" if ("bptt", 8) in by else "")
                         + f", BPTT-40 {target:.3f}. Wall-clock for DNI-8 to reach BPTT-40's final BPC, "
                         f"over BPTT-40's training time: {ratio}.")
        return "\n".join(lines) + "\n"
    methods = list(dict.fromkeys(r["method"] for r in results))
    Ts = sorted({r["T"] for r in results})
    lines = ["| method | " + " | ".join(f"T={T}" for T in Ts) + " |", "|---|" + "---|" * len(Ts)]
    for m in methods:
        cells = []
        for T in Ts:
            solved = [r["solved"] for r in results if r["method"] == m and r["T"] == T]
            cells.append("/".join(map(str, solved)) if solved else "")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _progress_bar(total, desc, quiet):
    """A tqdm bar over training steps, and the progress callback that moves it and prints every 10th record."""
    from tqdm import tqdm
    bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False, disable=quiet)
    records = []

    def update(record):
        bar.update(record["step"] - bar.n)
        records.append(record)
        if not quiet and len(records) % 10 == 0:
            metric = f"valid BPC {record['bpc']:.3f}" if "bpc" in record else \
                f"N={record['n']} (solved {record['solved']}), error {record['bits']:.3f} bits"
            bar.write(f"step {record['step']:6d}  {metric}  ({record['seconds']:.1f}s)")
    return bar, update


def _overrides(args):
    return {k: getattr(args, k) for k in ("hidden", "batch_size", "steps", "chars", "lr", "sg_lr", "sg_scale",
                                         "aux_weight", "bits", "max_repeats", "cell", "threshold", "patience",
                                         "eval_every", "eval_chars", "corpus")}


def cmd_rnn(args):
    for name in ("hidden", "batch_size", "steps", "chars", "bits", "patience", "eval_every", "eval_chars"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.max_repeats is not None and (args.task != "repeat-copy" or args.max_repeats < 1):
        raise UserError(f"--max-repeats takes a positive R, for repeat-copy only (got {args.max_repeats} "
                        f"with {args.task})")
    backend.set_backend(args.backend)
    backend.set_dtype(args.dtype)
    if args.threads is not None:               # BLAS threads: small GEMMs run faster on one
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    if args.compare:
        return _cmd_compare(args)
    if len(args.method) != 1 or len(args.T) != 1 or len(args.seed) != 1:
        raise UserError("give one --method, one -T and one --seed (several only with --compare)")
    if args.json:
        _writable(args.json)
    method, T, seed = args.method[0] or "bptt", args.T[0] or 8, args.seed[0] or 0
    config = _config(args.task, args.quick, **_overrides(args))
    total = max(1, config["chars"] // (T * config["batch_size"])) if args.task == "charlm" else config["steps"]
    bar, update = _progress_bar(total, f"{args.task} {method} T={T}", args.quiet)
    try:
        result = run_one(args.task, method, T, seed, args.quick, progress=update, **_overrides(args))
    finally:
        bar.close()
    if args.task == "charlm":
        print(f"charlm {method} T={T} on {result['corpus']}: valid BPC {result['bpc']:.3f}, "
              f"test BPC {result['test_bpc']:.3f} after {result['chars']:,} characters, {result['seconds']:.1f}s")
    else:
        print(f"{args.task} {method} T={T}: largest length solved N={result['solved']} "
              f"in {config['steps']} steps, {result['seconds']:.1f}s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


def _writable(path):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {path}: directory {directory} does not exist")


def _cmd_compare(args):
    runs = parse_runs(args.runs) if args.runs else None
    if runs is None and (args.method != [None] or args.T != [None]):
        methods = METHODS if args.method == [None] else args.method
        Ts = (2, 3, 4, 5, 8) if args.T == [None] else args.T
        runs = [(m, T) for T in Ts for m in methods]
    seeds = [0] if args.seed == [None] else args.seed
    os.makedirs(args.out, exist_ok=True)
    results = run_compare(args.task, runs, seeds, args.quick, **_overrides(args))
    stem = os.path.join(args.out, args.task)
    with open(stem + ".json", "w") as f:
        json.dump(results, f, indent=2)
    table = results_table(args.task, results)
    with open(stem + ".md", "w") as f:
        f.write(table)
    from .plot_rnn import plot_curves
    figures = plot_curves(results, stem)
    print(table)
    print("wrote " + ", ".join([stem + ".json", stem + ".md"] + figures))
    return 0


def register(subparsers):
    """Add the `rnn` command to the main CLI's subparsers."""
    p = subparsers.add_parser("rnn", help="recurrent DNI (paper 3.1): copy, repeat-copy, character LM",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=TASKS)
    p.add_argument("--method", nargs="+", choices=METHODS, default=[None],
                   help="bptt (truncated BPTT), dni (synthetic gradient at each window's end), dni-aux")
    p.add_argument("-T", type=int, nargs="+", default=[None], help="truncation window length (default 8)")
    p.add_argument("--seed", type=int, nargs="+", default=[None])
    p.add_argument("--steps", type=int, default=None, help="copy tasks: training batches (default 4000)")
    p.add_argument("--chars", type=int, default=None, help="charlm: training characters (default 3,000,000)")
    p.add_argument("--corpus", default=None, help="charlm: embedded (default), ptb, or a UTF-8 text file")
    p.add_argument("--hidden", type=int, default=None, help="LSTM units (default 64 copy tasks, 128 charlm)")
    p.add_argument("--cell", choices=["lstm", "rnn"], default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate of the core (default 3e-3)")
    p.add_argument("--sg-lr", type=float, default=None,
                   help="Adam learning rate of M (default 1e-3 copy tasks, 1e-4 charlm)")
    p.add_argument("--sg-scale", type=float, default=None,
                   help="multiply g_hat where it is used (default 1 copy tasks, 0.1 charlm)")
    p.add_argument("--aux-weight", type=float, default=None, help="dni-aux: weight of the aux loss (default 1)")
    p.add_argument("--bits", type=int, default=None, help="copy tasks: bits per pattern (default 1)")
    p.add_argument("--max-repeats", type=int, default=None, help="repeat-copy: largest R (default 2)")
    p.add_argument("--threshold", type=float, default=None, help="curriculum: error in bits to pass (0.15)")
    p.add_argument("--patience", type=int, default=None, help="curriculum: steps averaged (default 20)")
    p.add_argument("--eval-every", type=int, default=None, help="steps between records (default: 100 records)")
    p.add_argument("--eval-chars", type=int, default=None, help="charlm: validation characters (default 20000)")
    p.add_argument("--quick", action="store_true", help="tiny budgets and sizes: a smoke test")
    p.add_argument("--compare", action="store_true", help="run the T x method grid (or --runs): table and figures")
    p.add_argument("--runs", nargs="+", metavar="METHOD:T", help="with --compare: these runs instead of a grid")
    p.add_argument("--out", default="runs/rnn", help="with --compare: output directory (default runs/rnn)")
    p.add_argument("--json", metavar="PATH", help="write the result and its history as JSON")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: the library's choice)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--backend", choices=["numpy", "cupy"], default=os.environ.get("MINIDNI_BACKEND", "numpy"))
    p.set_defaults(func=cmd_rnn)
    return p


def main(argv=None):
    """`python -m minidni.cli_rnn ARGS` = `python -m minidni rnn ARGS`."""
    from .cli import main as cli_main
    return cli_main(["rnn", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
