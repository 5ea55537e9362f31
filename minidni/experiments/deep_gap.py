"""The deep DNI gap on the full MNIST: what closes it and what does not (figures/mnist_gap.md).

Table 1 on MNIST (figures/mnist.md) gives DNI with a linear M a gap to backprop that grows
with depth, and chooses M's learning rate on the 4-layer FCN for every depth. Two questions,
both answered on validation images, the test images read once at the end:

    1. M's learning rate: each depth gets its own search of it (DNI, linear M, `search_seed`),
       over `sg_lrs`; the depths whose choice differs from Table 1's then train over `seeds`.
    2. The number of updates: at `long_depth` layers, backprop and DNI (M's lr chosen for that
       depth) train `long_epochs` epochs, twice Table 1's, over `seeds`; DNI records the
       cosine of each g_hat_i with the true gradient once an epoch (DNI.sg_quality).

    out = run_deep_gap(DeepGapConfig())          # the search, the seeds, the long runs
    out["chosen"]                                # {"depth": M's learning rate} (string keys, as JSON has them)
"""
import dataclasses
from dataclasses import dataclass

import numpy as np

from ..data import load_dataset
from ..options import check_at_least, check_choices, check_many, check_types, option
from .feedforward import DATASETS, TrainConfig, mean_std_text
from .table1 import run_logged

TABLE1_SG_LR = 1e-5          # M's learning rate Table 1 chose on the 4-layer FCN (figures/mnist.md)


@dataclass
class DeepGapConfig:
    """The runs of figures/mnist_gap.md: `python -m minidni figures --only mnist_gap --jobs 2`."""
    dataset: str = option("mnist", "data set", choices=DATASETS)
    depths: list = option([3, 4, 5, 6], "FCN depths searched", many=True)
    sg_lrs: list = option([3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3], "M's learning rates tried at each depth", many=True,
                          type=float)
    search_seed: int = option(0, "the seed of the search")
    seeds: list = option([0, 1, 2], "seeds of the runs that report a test error", many=True)
    epochs: int = option(10, "epochs of the search and of the per-depth runs (Table 1's)")
    lr: float = option(1e-3, "the networks' learning rate (Table 1's choice)")
    long_depth: int = option(6, "depth of the long runs")
    long_epochs: int = option(20, "epochs of the long runs (twice Table 1's)")

    def check(self):
        """Raise UserError naming the first option no run could use; returns self."""
        check_types(self)
        check_choices(self)
        check_many(self, "depths", "sg_lrs", "seeds")
        check_at_least(self, 1, "depths", "epochs", "long_depth", "long_epochs")
        check_at_least(self, 0, "search_seed", "seeds")
        return self


def cell(config, method, depth, seed, epochs, sg_lr=TABLE1_SG_LR, diagnose_every=0):
    """The TrainConfig of one run; diagnose_every: DNI's sg_quality every that many steps (0: never)."""
    return TrainConfig(dataset=config.dataset, method=method, layers=depth, epochs=epochs, lr=config.lr,
                       seed=seed, **({} if method == "backprop" else {"sg_lr": sg_lr}),
                       diagnose_every=diagnose_every)


def run_deep_gap(config, progress=None, jobs=1, log=None):
    """The search, the per-depth seeds and the long runs: {"settings", "search", "chosen", "depth_runs",
    "long_runs"}, each run a feed-forward result (experiments.feedforward). log: a RunLog, as in table1."""
    config.check()
    data = load_dataset(config.dataset, flat=True)
    epoch = -(-len(data.x_train) // 64)                       # updates an epoch: batches of 64

    def runs(cells):
        """run_logged with no role: a run's config is its key, so a search run the per-depth runs repeat
        (seed 0 at the chosen rate) is trained once."""
        return run_logged(cells, [{}] * len(cells), data, progress, jobs, log)
    search = runs([(None, cell(config, "dni", d, config.search_seed, config.epochs, v))
                   for d in config.depths for v in config.sg_lrs])
    chosen = {str(d): min((r for r in search if r["layers"] == d),
                          key=lambda r: r["best_valid_error"])["config"]["sg_lr"] for d in config.depths}
    per_depth = [(None, cell(config, "backprop", d, s, config.epochs)) for d in config.depths for s in config.seeds]
    per_depth += [(None, cell(config, "dni", d, s, config.epochs, lr)) for d in config.depths
                  for lr in dict.fromkeys([TABLE1_SG_LR, chosen[str(d)]]) for s in config.seeds]
    d = config.long_depth
    long = [(None, cell(config, "backprop", d, s, config.long_epochs)) for s in config.seeds]
    long += [(None, cell(config, "dni", d, s, config.long_epochs, chosen.get(str(d), TABLE1_SG_LR), epoch))
             for s in config.seeds]
    return {"settings": dataclasses.asdict(config), "updates_per_epoch": epoch, "search": search, "chosen": chosen,
            "depth_runs": runs(per_depth), "long_runs": runs(long)}


def _label(r):
    """backprop, or DNI with M's learning rate."""
    return "backprop" if r["method"] == "backprop" else f"DNI, M's lr {r['config']['sg_lr']:g}"


def gap_by_epoch(long_runs, key="valid_error"):
    """(epochs, gaps: (seeds, epochs)): DNI's `key` minus backprop's, seed by seed, after each epoch."""
    by = {(r["method"], r["seed"]): [h[key] for h in r["history"]] for r in long_runs}
    seeds = sorted({s for _, s in by})
    gaps = np.array([np.subtract(by["dni", s], by["backprop", s]) for s in seeds])
    return np.arange(1, gaps.shape[1] + 1), gaps


def markdown(out):
    """figures/mnist_gap.md from run_deep_gap's output."""
    s, chosen = out["settings"], out["chosen"]
    lines = [f"# The deep DNI gap on {s['dataset']}: M's learning rate per depth, and more updates", "",
             "Written by `python -m minidni figures --only mnist_gap --jobs 2` (minidni.experiments.deep_gap). "
             f"Adam (lr {s['lr']:g}), batch 64, a zero-initialised linear M after every layer; errors in %.", "",
             f"## 1. M's learning rate, searched at each depth (DNI, seed {s['search_seed']}, {s['epochs']} epochs, "
             "lowest validation error over the epochs)", "",
             "| depth | " + " | ".join(f"{v:g}" for v in s["sg_lrs"]) + " | chosen | Table 1's |",
             "|---|" + "---|" * (len(s["sg_lrs"]) + 2)]
    for d in s["depths"]:
        errs = {r["config"]["sg_lr"]: r["best_valid_error"] for r in out["search"] if r["layers"] == d}
        lines.append(f"| {d} | " + " | ".join(f"{errs[v]:.2f}" for v in s["sg_lrs"])
                     + f" | {chosen[str(d)]:g} | {TABLE1_SG_LR:g} |")
    lines += ["", f"## The gap at each depth, {s['epochs']} epochs, seeds {', '.join(map(str, s['seeds']))} "
              "(mean ± std; the test error is read at the epoch of lowest validation error)", "",
              "| depth | run | validation | test | test gap to backprop |", "|---|---|---|---|---|"]
    for d in s["depths"]:
        rows = [r for r in out["depth_runs"] if r["layers"] == d]
        base = np.mean([r["test_error_at_best_valid"] for r in rows if r["method"] == "backprop"])
        for name in dict.fromkeys(map(_label, rows)):
            mine = [r for r in rows if _label(r) == name]
            test = [r["test_error_at_best_valid"] for r in mine]
            gap = "" if name == "backprop" else f"{np.mean(test) - base:+.2f}"
            lines.append(f"| {d} | {name} | {mean_std_text([r['best_valid_error'] for r in mine])} | "
                         f"{mean_std_text(test)} | {gap} |")
    epochs, gaps = gap_by_epoch(out["long_runs"])
    marks = sorted({1, 5, 10, 20, len(epochs)} & set(epochs.tolist()))
    lines += ["", f"## 2. {s['long_epochs'] / s['epochs']:g} times the updates: {s['long_depth']} layers, "
              f"{s['long_epochs']} epochs "
              f"({out['updates_per_epoch']} updates an epoch), DNI with M's lr "
              f"{chosen.get(str(s['long_depth']), TABLE1_SG_LR):g}", "",
              "DNI's validation error minus backprop's after each number of updates (mean ± std over seeds):", "",
              "| epoch | updates | gap (points) |", "|---|---|---|"]
    lines += [f"| {e} | {out['updates_per_epoch'] * e:,} | {mean_std_text(gaps[:, e - 1])} |" for e in marks]
    lines += ["", "| run | best validation | its epoch | test at that epoch |", "|---|---|---|---|"]
    for name in dict.fromkeys(map(_label, out["long_runs"])):
        mine = [r for r in out["long_runs"] if _label(r) == name]
        lines.append(f"| {name} | {mean_std_text([r['best_valid_error'] for r in mine])} | "
                     f"{', '.join(str(r['best_valid_epoch']) for r in mine)} | "
                     f"{mean_std_text([r['test_error_at_best_valid'] for r in mine])} |")
    lines += ["", "The cosine of each g_hat_i with the true gradient over training: mnist_gap.png (right).", ""]
    return "\n".join(lines)
