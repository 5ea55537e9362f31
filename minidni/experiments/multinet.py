"""The two-timescale system (minidni.train.multinet) on streams of digit images.

    from minidni.experiments import MultinetConfig, run
    result = run(MultinetConfig(method="dni", K=4, segments=2000))
    results = run(MultinetCompareConfig(method=["locked", "truncated", "dni"], seed=[0, 1, 2]))

A reads the images of `digits` (each flattened): the embedded 8x8 digits, mnist5k or MNIST.
The pools are the data set's own splits (minidni.data.load_dataset), as for Table 1: streams
for training drawn from the training images, the curves and any choice of settings from the
validation images, and the test images read once, at the end. A result (`multinet --json`):
    {"method", "seed", "K", "ticks", "digits", "segments", "seconds", "a_updates", "b_updates",
     "valid_error_a", "valid_error_b", "best_valid_error_b", "test_error_a", "test_error_b",
     "seconds_to_target", "a_updates_to_target", "b_updates_to_target", "segment_to_target", "config",
     "history": [{"segment", "steps", "a_updates", "b_updates", "seconds", "valid_error_a", "valid_error_b"}],
     "diagnostics": [{"segment", "cuts": TwoNetworks.future_gradient_quality, "cosine_a", "cosine_b"}]}
errors in %, seconds of training only, "steps" the image steps seen per stream, "*_to_target" at
the first record where B's validation error is at most the target (None: never); "diagnostics"
with diagnose_every > 0, for dni and oracle (the methods that inject a future gradient).
"""
import dataclasses
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backend import to_numpy
from ..data import load_dataset
from ..data.streams import DigitStreams
from ..memory import check_fits, multinet
from ..options import check_at_least, check_choices, check_positive, check_types, option
from ..train.guard import DivergenceGuard
from .feedforward import mean_std_text
from .runlog import run_all, run_key

from ..train.multinet import METHODS, TwoNetworks
from ..train.tbptt import SG_INPUTS
VALID_STREAMS = 512
DIGITS = ("digits", "mnist5k", "mnist")
COMPARED = ("locked", "truncated", "dni")              # --compare's methods where none is given


@dataclass
class MultinetConfig:
    """One run of the two-network system: every option of `python -m minidni multinet`."""
    method: str = option("dni", "locked: BPTT through both networks, one update a segment; truncated: "
                                "A and B update at every tick, cut there; dni: cut, with synthetic gradients; "
                                "oracle: cut, with the true future gradient (DNI's ceiling)", choices=METHODS)
    K: int = option(4, "B ticks every K steps of A", flag="-K")
    ticks: int = option(6, "ticks of B per training segment (a segment is K x ticks steps)")
    span: int = option(3, "B's question: how many odd digits in the last span x K steps")
    digits: str = option("digits", "A's images: the embedded 8x8 digits, mnist5k, or MNIST (the full-MNIST loader)",
                         choices=DIGITS)
    hidden_a: int = option(64, "LSTM units of A")
    hidden_b: int = option(32, "LSTM units of B")
    message: int = option(16, "size of A's message to B")
    batch_size: int = option(32, "streams per segment")
    segments: Optional[int] = option(None, "training segments", default_text="1500; 60 with --quick")
    lr: float = option(3e-3, "Adam learning rate of A and B")
    sg_lr: float = option(1e-4, "dni: Adam learning rate of the synthetic-gradient models")
    sg_scale: float = option(1.0, "dni: multiply g_hat where it is used")
    sg_input: str = option("state", "dni: what M reads: state ((h, c) as they are) or bounded ((h, tanh c), "
                                    "a remedy of §3.1)", choices=SG_INPUTS)
    target_clip: float = option(0.0, "dni: scale each sequence's target for M down to at most this norm "
                                      "(a remedy of §3.1; 0: never)")
    seed: int = option(0, "seeds weights and streams (the image split is fixed)")
    eval_every: Optional[int] = option(None, "segments between validation records", default_text="40 records")
    target: float = option(25.0, "B's validation error (%) whose first crossing is timed")
    diagnose_every: int = option(0, "dni, oracle: every K segments, the cosine and relative error of the gradient "
                                    "injected at each cut against the true future one, on a held segment (0: never)")
    quick: bool = option(False, "a tiny budget: a smoke test")

    def check(self):
        """Raise UserError naming the first option no run could use (a value of the wrong type, one
        out of range, a run too large for this machine's memory: minidni.memory); returns self."""
        check_types(self)
        check_choices(self)
        check_at_least(self, 1, "K", "ticks", "span", "hidden_a", "hidden_b", "message", "batch_size", "segments",
                       "eval_every")
        check_at_least(self, 0, "seed", "diagnose_every")
        check_positive(self, "lr", "target")
        check_positive(self, "sg_lr", "sg_scale", "target_clip", zero_ok=True)
        check_fits(self, lambda config: multinet(config, VALID_STREAMS))
        return self


@dataclass
class MultinetCompareConfig(MultinetConfig):
    """Every method for every seed: `multinet --compare` (None: locked, truncated, dni; seeds 0, 1, 2)."""
    method: Optional[list] = option(None, "method(s): one for a single run, several with --compare",
                                    choices=METHODS, many=True,
                                    default_text="dni; locked truncated dni with --compare")
    seed: Optional[list] = option(None, "seed(s), one run each", many=True, type=int,
                                  default_text="0; 0 1 2 with --compare")

    def configs(self):
        common = {f.name: getattr(self, f.name) for f in dataclasses.fields(MultinetConfig)}
        return [MultinetConfig(**{**common, "method": m, "seed": s})
                for m in self.method or COMPARED for s in (self.seed if self.seed is not None else [0, 1, 2])]

    def single(self):
        """The one MultinetConfig these options describe without --compare (None if several)."""
        if len(self.method or [0]) != 1 or len(self.seed or [0]) != 1:
            return None
        common = {f.name: getattr(self, f.name) for f in dataclasses.fields(MultinetConfig)}
        return MultinetConfig(**{**common, "method": (self.method or [MultinetConfig.method])[0],
                                 "seed": (self.seed or [MultinetConfig.seed])[0]})

    def check(self):
        """Raise UserError naming the first bad option of any run of the grid; returns self."""
        check_types(self)
        check_choices(self)
        check_at_least(self, 0, "seed")
        for c in self.configs():
            c.check()
        return self


def digit_pools(digits="digits", seed=0):
    """{"train", "valid", "test"}: (images (P, D), labels) of `digits` (D = 64 for the 8x8 digits, 784 for
    mnist5k and MNIST), in the data set's own splits (the 8x8 digits' split once, by `seed`)."""
    data = load_dataset(digits, flat=True, seed=seed)
    return {"train": (data.x_train, data.y_train), "valid": (data.x_valid, data.y_valid),
            "test": (data.x_test, data.y_test)}


def streams_and_system(config, pools, rng):
    """({split: DigitStreams}, the TwoNetworks) that `config` describes, on the image pools."""
    streams = {k: DigitStreams(*v, K=config.K, ticks=config.ticks, span=config.span) for k, v in pools.items()}
    system = TwoNetworks(pools["train"][0].shape[1], 10, streams["train"].n_counts, config.K, config.method,
                         config.hidden_a, config.hidden_b, config.message, lr=config.lr, sg_lr=config.sg_lr,
                         sg_scale=config.sg_scale, sg_input=config.sg_input, target_clip=config.target_clip,
                         rng=rng)
    return streams, system


def cut_diagnostic(system, batch, segment):
    """{"segment", "cuts", "cosine_a", "cosine_b"}: system.future_gradient_quality on one held segment
    after `segment` segments trained, and its mean cosine at A's and B's cuts (None with a single tick)."""
    cuts = system.future_gradient_quality(*batch)
    return {"segment": segment, "cuts": cuts,
            **{f"cosine_{net.lower()}": float(np.mean([c[net]["cosine"] for c in cuts])) if cuts else None
               for net in ("A", "B")}}


def run_multinet(config, progress=None, pools=None):
    """Train one system; progress(record) at each validation record. Returns the result dict."""
    config = config.check()
    segments = config.segments or (60 if config.quick else 1500)
    pools = pools or digit_pools(config.digits)
    rng = np.random.default_rng(config.seed)
    streams, system = streams_and_system(config, pools, rng)
    held = np.random.default_rng(1000)                      # the same validation and test streams for every run
    valid, test = streams["valid"].batch(VALID_STREAMS, held), streams["test"].batch(VALID_STREAMS, held)
    system.trace.enabled = False

    def errors(batch):
        return [100 * float(to_numpy(e)) for e in system.evaluate(*batch)]
    eval_every = config.eval_every or max(1, segments // 40)
    guard, seconds, history, diagnostics = DivergenceGuard(), 0.0, [], []
    probe = np.random.default_rng([config.seed, 1])         # the diagnostic's segments: training runs as without it
    diagnose = config.diagnose_every if config.method in ("dni", "oracle") else 0
    for segment in range(1, segments + 1):
        if diagnose and (segment - 1) % diagnose == 0:
            diagnostics.append(cut_diagnostic(system, streams["valid"].batch(config.batch_size, probe), segment - 1))
        batch = streams["train"].batch(config.batch_size, rng)
        start = time.perf_counter()
        guard.add(segment, system.step(*batch))
        seconds += time.perf_counter() - start
        if segment % eval_every == 0 or segment == segments:
            guard.take()
            err_a, err_b = errors(valid)
            history.append({"segment": segment, "steps": segment * streams["train"].steps,
                            "a_updates": system.updates["A"], "b_updates": system.updates["B"],
                            "seconds": seconds, "valid_error_a": err_a, "valid_error_b": err_b})
            if progress is not None:
                progress(history[-1])
    test_a, test_b = errors(test)                            # read once, at the end
    reached = next((h for h in history if h["valid_error_b"] <= config.target), {})
    return {"method": config.method, "seed": config.seed, "K": config.K, "ticks": config.ticks,
            "digits": config.digits, "segments": segments, "seconds": seconds, "a_updates": history[-1]["a_updates"],
            "b_updates": history[-1]["b_updates"],
            "valid_error_a": history[-1]["valid_error_a"], "valid_error_b": history[-1]["valid_error_b"],
            "best_valid_error_b": min(h["valid_error_b"] for h in history),
            "test_error_a": test_a, "test_error_b": test_b,
            **{f"{key}_to_target": reached.get(key) for key in ("seconds", "a_updates", "b_updates", "segment")},
            "config": dataclasses.asdict(config), "history": history,
            **({"diagnostics": diagnostics} if diagnostics else {})}


def run_multinet_compare(config, progress=None, log=None):
    """Every (method, seed); progress(result) after each run trained. Returns the list of results.

    log: a RunLog (minidni.experiments.runlog): the runs it holds are taken from it, not trained,
    and each run trained is appended to it as it finishes.
    """
    configs = config.check().configs()
    pools = {digits: digit_pools(digits) for digits in dict.fromkeys(c.digits for c in configs)}
    return run_all([run_key(c) for c in configs],
                   lambda todo, done: [done(run_multinet(configs[i], pools=pools[configs[i].digits])) for i in todo],
                   log, progress)


def describe(result):
    """One line: what ran, A's and B's final validation errors, when B first reached the target."""
    reached = result["seconds_to_target"]
    return (f"multinet {result['method']:9} K={result['K']} seed={result['seed']} "
            f"on {result['config'].get('digits', 'digits')}: validation error A "
            f"{result['valid_error_a']:.2f}%, B {result['valid_error_b']:.2f}% (best {result['best_valid_error_b']:.2f}%)"
            f", B below {result['config']['target']:g}% after "
            + (f"{reached:.1f}s" if reached is not None else "never") + f"; {result['seconds']:.1f}s")


def multinet_table(results):
    """Markdown: per method, mean ± std (and range) over seeds of the validation and test errors and time to target."""
    lines = ["| method | A valid error (%) | B valid error (%) | B best valid (%) | B test error (%) | "
             "s to B target | training s |", "|---|---|---|---|---|---|---|"]

    def cell(values):
        values = [v for v in values if v is not None]
        if not values:
            return "never"
        return mean_std_text(values)
    for m in dict.fromkeys(r["method"] for r in results):
        rs = [r for r in results if r["method"] == m]
        missed = sum(r["seconds_to_target"] is None for r in rs)
        reach = cell([r["seconds_to_target"] for r in rs]) + (f" ({missed} of {len(rs)} never)" if missed else "")
        lines.append(f"| {m} | {cell([r['valid_error_a'] for r in rs])} | {cell([r['valid_error_b'] for r in rs])} | "
                     f"{cell([r['best_valid_error_b'] for r in rs])} | {cell([r['test_error_b'] for r in rs])} | "
                     f"{reach} | {cell([r['seconds'] for r in rs])} |")
    return "\n".join(lines) + "\n"
