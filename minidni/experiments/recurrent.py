"""Recurrent experiments (paper §3.1): Copy, Repeat-Copy and character-level language modelling.

    from minidni.experiments import RNNConfig, RNNCompareConfig, run
    result = run(RNNConfig("copy", method="dni", T=4, steps=3000))
    results = run(RNNCompareConfig("charlm", runs=["bptt:8", "dni:8"], quick=True))

Options that depend on the task (sizes, budgets, SG settings) default to None and are
filled from TASK_DEFAULTS (then QUICK with quick=True) by `resolved()`; a value you
give always wins. A result (what `rnn TASK --json` writes):
    copy tasks: {"task", "method", "T", "seed", "solved", "steps", "seconds", "config",
                 "history": [{"step", "seconds", "n", "solved", "bits"}]}
    charlm:     {"task", "method", "T", "seed", "corpus", "corpus_sha256", "python", "n_symbols",
                 "bpc", "test_bpc", "chars", "steps", "seconds", "config",
                 "history": [{"step", "chars", "seconds", "bpc"}]}
Tables and wall-clock ratios of these results: minidni.experiments.recurrent_report.
"""
import dataclasses
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backend import to_device, to_numpy
from ..data.tasks import ENCODINGS, CopyTask, Curriculum
from ..data.text import batchify, load_corpus
from ..errors import UserError
from ..nn.recurrent import SequenceModel
from ..memory import check_fits, recurrent
from ..options import check_at_least, check_choices, check_many, check_positive, check_types, option
from ..train.guard import DivergenceGuard
from ..train.tbptt import SG_INPUTS, TBPTT, evaluate_bits
from .runlog import run_all, run_key

TASKS = ("copy", "repeat-copy", "charlm")
METHODS = ("bptt", "dni", "dni-aux")
PAPER_TS = (2, 3, 4, 5, 8)

# Budgets and sizes. The paper's cores are 256-unit LSTMs trained for ~10^5-10^6 steps;
# these are small enough for one or two CPU minutes per run. Copy tasks: 8-bit patterns, as
# binary digits in and out (Graves et al.'s encoding).
TASK_DEFAULTS = {
    "copy": dict(hidden=128, batch_size=32, steps=10_000, lr=3e-3, sg_lr=1e-3, bits=8, max_repeats=0,
                 eval_chars=20_000),
    "repeat-copy": dict(hidden=128, batch_size=32, steps=10_000, lr=3e-3, sg_lr=1e-3, bits=8,
                        max_repeats=5, eval_chars=20_000),
    "charlm": dict(hidden=128, batch_size=32, chars=3_000_000, lr=3e-3, sg_lr=1e-4, eval_chars=20_000),
}
QUICK = {"copy": dict(hidden=16, steps=40), "repeat-copy": dict(hidden=16, steps=40),
         "charlm": dict(hidden=16, chars=20_000, eval_chars=2_000)}


@dataclass
class RNNConfig:
    """One recurrent run: every option of `python -m minidni rnn TASK` for a single (method, T, seed)."""
    task: str = option("copy", "copy, repeat-copy or charlm (character-level language model)", choices=TASKS)
    method: str = option("bptt", "bptt (truncated BPTT), dni (synthetic gradient at each window's end), dni-aux",
                         choices=METHODS)
    T: int = option(8, "truncation window length", flag="-T")
    seed: int = option(0, "seeds weights, data and batch order")
    steps: Optional[int] = option(None, "copy tasks: training batches", default_text="10,000; 40 with --quick")
    chars: Optional[int] = option(None, "charlm: training characters", default_text="3,000,000; 20,000 with --quick")
    corpus: str = option("embedded", "charlm: embedded (pydoc_data.topics), stdlib (the standard "
                                     "library's source, split by package), ptb, or a UTF-8 text file")
    hidden: Optional[int] = option(None, "LSTM units", default_text="128; 16 with --quick")
    cell: str = option("lstm", "recurrent core", choices=("lstm", "rnn"))
    batch_size: Optional[int] = option(None, "sequences per batch", default_text="32")
    lr: Optional[float] = option(None, "Adam learning rate of the core", default_text="3e-3")
    sg_lr: Optional[float] = option(None, "Adam learning rate of M", default_text="1e-3 copy tasks, 1e-4 charlm")
    sg_scale: float = option(1.0, "multiply g_hat where it is used (and so in M's target): below 1 a "
                                  "discount, not the paper's method")
    aux_weight: float = option(1.0, "dni-aux: weight of the auxiliary loss")
    m_average: float = option(0.0, "dni: take g_hat from a moving average of M's weights with this decay "
                                   "(a target network; 0: from M itself, the paper's way)")
    target_clip: float = option(0.0, "dni: scale each sequence's regression target for M down to at most this "
                                     "norm (0: never, the paper's way)")
    clip: float = option(0.0, "clip the model's gradient (embedding, LSTM, readout; not M) to this global L2 "
                              "norm before each update, every method alike (0: never)")
    sg_input: str = option("bounded", "dni: what M reads: bounded ((h, tanh c): on an unending stream c grows "
                                      "into the thousands and a linear M on it runs away) or state ((h, c) as "
                                      "they are)", choices=SG_INPUTS)
    bits: Optional[int] = option(None, "copy tasks: bits per pattern", default_text="8")
    encoding: str = option("binary", "copy tasks: a pattern as its binary digits in and out (binary, Graves et "
                                     "al.'s) or as one of 2^bits symbols (symbol)", choices=ENCODINGS)
    max_repeats: Optional[int] = option(None, "repeat-copy: largest number of repeats R", default_text="5")
    threshold: float = option(0.15, "curriculum: error in bits per step below which N grows")
    patience: int = option(20, "curriculum: steps averaged")
    eval_every: Optional[int] = option(None, "steps between records", default_text="100 records (charlm: 40)")
    eval_chars: Optional[int] = option(None, "charlm: validation characters", default_text="20000; 2000 with --quick")
    diagnose_every: int = option(0, "copy tasks, dni: every K steps, the cosine between M's prediction at each "
                                    "window boundary and the true future gradient, on a held batch (0: never)")
    quick: bool = option(False, "tiny budgets and sizes: a smoke test")

    def check(self):
        """Raise UserError naming the first option no run could use: a value of the wrong type, one
        out of range, or a run too large for this machine's memory (minidni.memory)."""
        check_types(self)
        check_choices(self)
        check_at_least(self, 1, "T", "steps", "chars", "hidden", "batch_size", "bits", "patience", "eval_every",
                       "eval_chars")
        check_at_least(self, 0, "seed", "diagnose_every")
        check_positive(self, "lr", "threshold")
        check_positive(self, "sg_lr", "sg_scale", "aux_weight", "clip", "target_clip", zero_ok=True)
        if not 0 <= self.m_average < 1:
            raise UserError(f"--m-average is a decay in [0, 1), got {self.m_average}")
        if self.max_repeats is not None and (self.task != "repeat-copy" or self.max_repeats < 1):
            raise UserError(f"--max-repeats takes a positive R, for repeat-copy only (got {self.max_repeats} "
                            f"with {self.task})")
        if not self.corpus:
            raise UserError("--corpus needs a name (embedded, stdlib, ptb) or a file")
        if self.bits is not None and self.bits > 62:       # CopyTask draws a pattern as one int64
            raise UserError(f"--bits takes at most 62 (a pattern is drawn as a 64-bit integer), got {self.bits}")
        check_fits(self, lambda config: recurrent(config.resolved()))
        return self

    def resolved(self):
        """A copy with every None filled from the task's defaults (and QUICK's, with quick=True)."""
        defaults = dict(TASK_DEFAULTS[self.task], **(QUICK[self.task] if self.quick else {}))
        return dataclasses.replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})


@dataclass
class RNNCompareConfig(RNNConfig):
    """Every (method, T) of a grid, or of `runs`, for every seed: `rnn TASK --compare`.

    runs: ["bptt:8", "dni:8"] (or (method, T) pairs); else method x T, where a list left
    None takes all three methods or the paper's T = 2, 3, 4, 5, 8; with neither, the
    paper's grid (charlm: BPTT-8, BPTT-20, BPTT-40, DNI-8, DNI+Aux-8).
    """
    method: Optional[list] = option(None, "method(s): one for a single run, several with --compare", choices=METHODS,
                                    many=True, default_text="bptt; all three with --compare")
    T: Optional[list] = option(None, "truncation window length(s)", many=True, type=int, flag="-T",
                                default_text="8; 2 3 4 5 8 with --compare")
    seed: list = option([0], "seeds, one run each", many=True)
    runs: Optional[list] = option(None, "these METHOD:T runs instead of a grid, e.g. bptt:8 dni:8", many=True)

    def pairs(self):
        """[(method, T), ...] in the order they run."""
        if self.runs:
            return [parse_run(r) for r in self.runs]
        if self.method is None and self.T is None:
            if self.task == "charlm":
                return [("bptt", 8), ("bptt", 20), ("bptt", 40), ("dni", 8), ("dni-aux", 8)]
        return [(m, T) for T in self.T or PAPER_TS for m in self.method or METHODS]

    def single(self):
        """The one RNNConfig these options describe without --compare (None if several, or --runs)."""
        if self.runs or len(self.method or [0]) > 1 or len(self.T or [0]) > 1 or len(self.seed) > 1:
            return None
        common = {f.name: getattr(self, f.name) for f in dataclasses.fields(RNNConfig)}
        return RNNConfig(**{**common, "method": (self.method or [RNNConfig.method])[0],
                            "T": (self.T or [RNNConfig.T])[0], "seed": self.seed[0]}).check()

    def configs(self):
        """The RNNConfig of every run, seeds innermost."""
        common = {f.name: getattr(self, f.name) for f in dataclasses.fields(RNNConfig)}
        return [RNNConfig(**{**common, "method": m, "T": T, "seed": s}) for m, T in self.pairs() for s in self.seed]

    def check(self):
        """Raise UserError naming the first bad option of any run of the grid; returns self."""
        check_types(self)
        check_many(self, "seed")
        for config in self.configs():
            config.check()
        return self


def parse_run(run):
    """"bptt:8" (or ("bptt", 8)) -> ("bptt", 8)."""
    if isinstance(run, (tuple, list)):
        method, T = run
    else:
        method, _, T = str(run).partition(":")
    if method not in METHODS or not str(T).isdigit():
        raise UserError(f"--runs takes METHOD:T with METHOD in {', '.join(METHODS)}, got {run!r}")
    return method, int(T)


def _trainer(n_in, n_out, config, rng):
    model = SequenceModel(n_in, n_out, config.hidden, rng, cell=config.cell)
    return TBPTT(model, config.T, config.method, lr=config.lr, sg_lr=config.sg_lr, sg_scale=config.sg_scale,
                 aux_weight=config.aux_weight, sg_input=config.sg_input, clip=config.clip,
                 m_average=config.m_average, target_clip=config.target_clip, rng=rng)


def _settings(config):
    """The resolved options as the result's "config" records them."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in ("task", "method", "T", "seed")}


def run_copy(config, progress=None):
    """Copy or Repeat-Copy with the curriculum (config resolved); returns the result dict.

    Every training step is one batch of whole sequences at the current length N, cut
    into windows of T. history: per evaluation {"step", "seconds", "n", "solved", "bits"}
    where bits is the mean training error over the last `patience` steps and seconds
    counts training time only. "solved": the largest N solved within the step budget.
    With diagnose_every = K (dni methods), "diagnostics" holds every K steps {"step", "n",
    "cosine", "boundaries"}: TBPTT.future_gradient_quality on a batch of the current length
    drawn from a generator of its own, so training runs exactly as without it.
    """
    rng = np.random.default_rng(config.seed)
    data = CopyTask(config.bits, config.max_repeats, config.encoding)
    trainer = _trainer(data.n_in, data.n_out, config, rng)
    curriculum = Curriculum(config.threshold, config.patience)
    eval_every = config.eval_every or max(1, config.steps // 100)
    history, recent, seconds, guard = [], [], 0.0, DivergenceGuard()
    diagnostics, held = [], np.random.default_rng([config.seed, 1])     # the held batches' own generator
    for step in range(1, config.steps + 1):
        if config.diagnose_every and trainer.M is not None and step % config.diagnose_every == 0:
            quality = trainer.future_gradient_quality(*data.batch(curriculum.n, config.batch_size, held))
            diagnostics.append({"step": step, "n": curriculum.n, "boundaries": quality,
                                "cosine": float(np.mean([q["cosine"] for q in quality])) if quality else None})
        tokens, targets, mask = data.batch(curriculum.n, config.batch_size, rng)
        start = time.perf_counter()
        bits = float(to_numpy(trainer.sequence(tokens, targets, mask)))    # the curriculum reads every step
        seconds += time.perf_counter() - start
        guard.add(step, bits)
        recent = (recent + [bits])[-config.patience:]
        curriculum.update(bits)
        if step % eval_every == 0 or step == config.steps:
            guard.take()
            history.append({"step": step, "seconds": seconds, "n": curriculum.n, "solved": curriculum.solved,
                            "bits": float(np.mean(recent))})
            if progress is not None:
                progress(history[-1])
    return {"task": config.task, "method": config.method, "T": config.T, "seed": config.seed,
            "solved": curriculum.solved, "steps": config.steps, "seconds": seconds, "config": _settings(config),
            "history": history, **({"diagnostics": diagnostics} if config.diagnose_every else {})}


def run_charlm(config, progress=None, data=None):
    """Character LM (config resolved): train on `chars` characters in windows of T; returns the result dict.

    history: per evaluation {"step", "chars", "seconds", "bpc"}: validation bits per
    character on the first `eval_chars` validation characters (16 streams, fresh state),
    seconds = training time only. "bpc": the final validation BPC; "test_bpc" on the test split.
    `data`: an already loaded CharCorpus (else config.corpus names one).
    """
    data = data if data is not None else load_corpus(config.corpus)
    rng = np.random.default_rng(config.seed)
    trainer = _trainer(data.n_symbols, data.n_symbols, config, rng)
    T, B = config.T, config.batch_size
    streams = to_device(batchify(data.train, B))          # on the device once: each window is a slice
    valid = to_device(batchify(data.valid[:config.eval_chars + 16], 16))
    test = to_device(batchify(data.test[:config.eval_chars + 16], 16))

    def bpc(split):
        bits, _ = evaluate_bits(trainer.model, split[:-1], split[1:])
        return bits

    steps = max(1, config.chars // (T * B))
    eval_every = config.eval_every or max(1, steps // 40)
    history = [{"step": 0, "chars": 0, "seconds": 0.0, "bpc": bpc(valid)}]
    state, position, seconds, guard = None, 0, 0.0, DivergenceGuard()
    for step in range(1, steps + 1):
        if position + T + 1 > len(streams):              # an epoch is over: start the streams again
            state, position = None, 0
        window = streams[position:position + T + 1]
        tokens, targets = window[:-1], window[1:]
        start = time.perf_counter()
        loss, state = trainer.window(tokens, targets, state=state)
        seconds += time.perf_counter() - start
        guard.add(step, loss)
        position += T
        if step % eval_every == 0 or step == steps:
            guard.take()
            history.append({"step": step, "chars": step * T * B, "seconds": seconds, "bpc": bpc(valid)})
            if progress is not None:
                progress(history[-1])
    return {"task": "charlm", "method": config.method, "T": T, "seed": config.seed, "corpus": data.name,
            "corpus_sha256": data.sha256, "python": sys.version.split()[0], "n_symbols": data.n_symbols,
            "bpc": history[-1]["bpc"], "test_bpc": bpc(test), "chars": steps * T * B, "steps": steps,
            "seconds": seconds, "config": _settings(config), "history": history}


def total_steps(config):
    """Training steps the run will take (for a progress bar); config resolved."""
    return max(1, config.chars // (config.T * config.batch_size)) if config.task == "charlm" else config.steps


def run_rnn(config, progress=None, data=None):
    """One recurrent run; progress(record) with each history record. Returns the result dict."""
    config = config.check().resolved()
    if config.task == "charlm":
        return run_charlm(config, progress, data)
    return run_copy(config, progress)


def run_rnn_compare(config, progress=None, log=None):
    """Every run of the grid; progress(result) after each run trained. Returns the list of results.

    log: a RunLog (minidni.experiments.runlog): the runs it holds (by their resolved config) are
    taken from it, not trained, and each run trained is appended to it as it finishes.
    """
    configs = config.check().configs()
    data = None
    if config.task == "charlm":                      # load the corpus once for all runs
        data = load_corpus(config.corpus)
    return run_all([run_key(c.resolved()) for c in configs],
                   lambda todo, done: [done(run_rnn(configs[i], data=data)) for i in todo], log, progress)


def describe(result):
    """One line: what ran and its headline number."""
    if result["task"] == "charlm":
        return (f"charlm {result['method']:7} T={result['T']:2d} seed={result['seed']} on {result['corpus']}: "
                f"valid BPC {result['bpc']:.3f}, test BPC {result['test_bpc']:.3f} after {result['chars']:,} "
                f"characters, {result['seconds']:.1f}s")
    return (f"{result['task']} {result['method']:7} T={result['T']} seed={result['seed']}: largest length solved "
            f"N={result['solved']} in {result['steps']} steps, {result['seconds']:.1f}s")


def best_bpc(result):
    """The best validation BPC of a charlm run's history (best so far at its end)."""
    return min(h["bpc"] for h in result["history"])
