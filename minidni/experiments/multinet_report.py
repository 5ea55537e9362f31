"""The grid behind figures/multinet.md: M's settings chosen on validation, then every method x 3 seeds.

    out = run_multinet_grid(log=RunLog("figures/multinet_runs.jsonl"))   # trains only what the log lacks
    out = run_multinet_grid(log=RunLog("figures/multinet_runs.jsonl"), train=False)   # reads, never trains
    text = multinet_markdown(out)

The search trains DNI on seed 0 only with each of SEARCH's settings of M (the remedies that
steadied §3.1: M reading bounded state, its target clipped, its learning rate) and keeps the one
with the lowest final validation error of B. The grid then trains locked, truncated, DNI (with
that M) and the oracle on seeds 0, 1, 2; the test streams are read once, at each run's end.
"""
import dataclasses

import numpy as np

from ..errors import DataFileError
from .feedforward import mean_std_text
from .multinet import MultinetCompareConfig, MultinetConfig, multinet_table, run_multinet_compare
from .runlog import run_key

# A reads MNIST; B's error falls slowly from the constant guess (74 %) there, so the timed
# target is 55 % (the 8x8 digits' 25 % is out of reach of this budget) and the budget 1000
# segments (24,000 image steps a stream): what two CPU cores shared with other jobs gave us.
FULL = dict(digits="mnist", segments=1000, target=55.0, diagnose_every=50, seeds=[0, 1, 2])
QUICK = dict(digits="digits", segments=40, target=70.0, diagnose_every=20, seeds=[0])
SEARCH = [dict(sg_input="state", target_clip=0.0, sg_lr=1e-4),          # the paper's M, our default
          dict(sg_input="state", target_clip=0.0, sg_lr=1e-3),
          dict(sg_input="bounded", target_clip=3.0, sg_lr=1e-4),       # 3: about the 99th percentile of
          dict(sg_input="bounded", target_clip=3.0, sg_lr=1e-3)]       # the true future gradient's norm
METHODS = ("locked", "truncated", "dni", "oracle")
COMMAND = "python -m minidni figures --only multinet"
DIGIT_NAMES = {"digits": "the 8x8 digits", "mnist5k": "mnist5k's digits", "mnist": "MNIST digits"}


def grid_config(settings, method, seeds, m=None):
    """The MultinetCompareConfig of `method` x `seeds` in `settings` (FULL or QUICK), M's options from m."""
    fields = {k: v for k, v in settings.items() if k != "seeds"}
    return MultinetCompareConfig(method=[method], seed=list(seeds), **fields, **(m or {}))


def run_multinet_grid(quick=False, log=None, progress=None, train=True):
    """{"settings", "search": [DNI results on seed 0], "chosen": M's settings, "results": [every method x
    seed]}; every run is taken from / appended to `log` (a RunLog) as in run_multinet_compare.
    train=False: every run must be in the log already (DataFileError naming the first one missing)."""
    settings = QUICK if quick else FULL

    def runs(config):
        """The results of config's runs: trained where the log lacks them (train), else read from it."""
        if train:
            return run_multinet_compare(config, progress, log)
        missing = [c for c in config.configs() if run_key(c.check()) not in log]
        if missing:
            raise DataFileError(f"{log.path} lacks the run {missing[0].method} seed {missing[0].seed}: "
                                f"`{COMMAND}` trains it")
        return [log.get(run_key(c)) for c in config.configs()]
    search = [runs(grid_config(settings, "dni", [0], m))[0] for m in (SEARCH[:2] if quick else SEARCH)]
    best = min(search, key=lambda r: r["valid_error_b"])
    chosen = {k: best["config"][k] for k in SEARCH[0]}
    runs_of = {(m, s): runs(grid_config(settings, m, [s], chosen))[0]       # seed by seed: a whole seed first
               for s in settings["seeds"] for m in METHODS}
    results = [runs_of[(m, s)] for m in METHODS for s in settings["seeds"]]
    return {"settings": settings, "search": search, "chosen": chosen, "results": results}


def mean_cosines(result):
    """(mean cosine at A's cuts, at B's cuts) over the run's diagnostic records; (None, None) without."""
    d = result.get("diagnostics", [])
    return tuple(float(np.mean([r[f"cosine_{net}"] for r in d])) if d else None for net in ("a", "b"))


def verdict(results):
    """One line: on how many seeds DNI reached B's target in fewer of A's updates than locked (each run's
    a_updates_to_target, at its config's target)."""
    by = {(r["method"], r["seed"]): r for r in results}
    seeds = sorted({r["seed"] for r in results})
    wins = []
    for s in seeds:
        dni, locked = (by[(m, s)]["a_updates_to_target"] for m in ("dni", "locked"))
        wins.append(dni is not None and (locked is None or dni < locked))
    return (f"DNI reached B's target ({results[0]['config']['target']:g} %) in fewer of A's updates than locked "
            f"on {sum(wins)} of {len(seeds)} seeds.")


def search_table(out):
    """Markdown: the search's settings of M and their validation errors (seed 0)."""
    lines = ["| M reads | target clip | M's lr | A valid (%) | B valid (%) | B best valid (%) | mean cosine A / B |",
             "|---|---|---|---|---|---|---|"]
    for r in out["search"]:
        c, (ca, cb) = r["config"], mean_cosines(r)
        mark = " (chosen)" if all(c[k] == v for k, v in out["chosen"].items()) else ""
        lines.append(f"| {c['sg_input']}{mark} | {c['target_clip'] or 'none'} | {c['sg_lr']:g} | "
                     f"{r['valid_error_a']:.2f} | {r['valid_error_b']:.2f} | {r['best_valid_error_b']:.2f} | "
                     f"{ca:.3f} / {cb:.3f} |")
    return "\n".join(lines) + "\n"


def progress_table(results):
    """Markdown: per method, A's and B's updates, segments and seconds to B's target (each run's
    *_to_target; mean ± std over seeds) and the mean cosine of what is injected at the cuts against
    the true future gradient."""
    lines = [f"| method | A updates to B ≤ {results[0]['config']['target']:g} % | B updates to target | segments to target | "
             "seconds to target | mean cosine at A's / B's cuts |", "|---|---|---|---|---|---|"]
    for m in dict.fromkeys(r["method"] for r in results):
        rs = [r for r in results if r["method"] == m]
        cells = []
        for key in ("a_updates", "b_updates", "segment", "seconds"):
            values = [r[f"{key}_to_target"] for r in rs]
            reached = [v for v in values if v is not None]
            missed = len(values) - len(reached)
            cells.append((mean_std_text(reached) if reached else "never")
                         + (f" ({missed} of {len(rs)} never)" if missed and reached else ""))
        cos = [mean_cosines(r) for r in rs]
        cosine = (f"{np.mean([c[0] for c in cos]):.3f} / {np.mean([c[1] for c in cos]):.3f}"
                  if cos[0][0] is not None else "(nothing injected)")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {cosine} |")
    return "\n".join(lines) + "\n"


def multinet_markdown(out):
    """figures/multinet.md: the command, the settings, the search, the tables and the verdict."""
    s, results = out["settings"], out["results"]
    c = results[0]["config"]
    chosen = ", ".join(f"{k} = {v}" for k, v in out["chosen"].items())
    fixed = {k: v for k, v in dataclasses.asdict(MultinetConfig()).items()
             if k in ("K", "ticks", "span", "hidden_a", "hidden_b", "message", "batch_size", "lr")}
    return "\n".join([
        "# Two networks, two clocks (paper §3.3)", "",
        f"Regenerate: `{COMMAND}` (reads and appends figures/multinet_runs.jsonl, every finished run; "
        "delete it to train again: the committed grid took 28 minutes on two CPU cores shared with other jobs).", "",
        f"A reads {DIGIT_NAMES[c['digits']]}, one a step; B ticks every K = {c['K']} steps on A's message and counts "
        f"the odd digits of the last {c['span'] * c['K']} steps (the best constant guess: about 74 % error "
        "at a full window). A segment is "
        f"{c['ticks']} ticks; {s['segments']} segments a run, the same streams for every method. Locked: A "
        f"and B update once a segment, when B's gradient of all {c['ticks']} ticks arrives; truncated, DNI "
        f"and the oracle update both at every tick. Settings: {fixed}.", "",
        "## M's settings, chosen on validation (DNI, seed 0 only)", "", search_table(out),
        f"Chosen: {chosen}.", "",
        f"## Errors (mean ± std over seeds {', '.join(map(str, s['seeds']))})", "",
        "Validation error at the end of training; the test streams read once, at the end.", "",
        multinet_table(results), "",
        "## Learning speed", "",
        "The oracle injects the true future gradient where DNI injects M's prediction: its row is what a perfect "
        "M would buy. The cosine compares what is injected at each cut with that true gradient, on held "
        "segments (0: M predicts nothing of it). Seconds are of training alone on a shared machine, and the "
        "oracle's include its extra locked passes: compare updates and segments.", "",
        progress_table(results), "", verdict(results), "",
        "![curves](multinet_curves.png)", "", "![cosine](multinet_cosine.png)", "",
        "![timeline](multinet_timeline.png)", ""])
