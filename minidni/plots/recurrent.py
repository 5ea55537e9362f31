"""Figures of the recurrent experiments (paper §3.1), from the results of minidni.experiments.recurrent.

    plot_curves(results, "figures/charlm")   -> charlm_steps.png, charlm_wallclock.png
    plot_copy_table({"copy": [...], "repeat-copy": [...]}, "figures/copy_table.png")
    draw_figures({"copy": [...], "charlm": [...]}, "figures")   # both, and rnn.md
    plot_future_cosine(result, "figures/sg_cosine_rnn.png")      # a run with diagnose_every
"""
import os

import numpy as np

from ..experiments.recurrent_report import m_variant, results_table
from .style import METHOD_COLOURS as COLOURS, METHOD_LABELS as LABELS, plt

CORPUS_NAMES = {"embedded": "the embedded corpus (pydoc_data.topics)", "ptb": "Penn Treebank",
                "stdlib": "the standard library's source"}
T_STYLES = ["-", "--", ":", "-.", (0, (5, 1))]


def _variant(r):
    """What sets a run's M apart from plain DNI's (experiments.recurrent_report.m_variant), without markdown."""
    return m_variant(r).replace("*", "")


def _label(r):
    """The legend's entry of a (method, T, M's variant): its seeds' lines share it."""
    variant = _variant(r)
    return f"{LABELS[r['method']]}, T={r['T']}" + (f" ({variant})" if variant else "")


def _style(r, Ts):
    """Colour by method; for BPTT, which runs at several T, the line style tells T apart, and
    a DNI run whose M differs from the default is dashed."""
    style = "--" if _variant(r) else T_STYLES[Ts.index(r["T"]) % len(T_STYLES)]
    return dict(color=COLOURS[r["method"]], linestyle=style, linewidth=2.0 if r["method"] != "bptt" else 1.5)


def best_so_far(result):
    """A charlm run's validation BPC, each record replaced by the best of the run up to it."""
    return np.minimum.accumulate([h["bpc"] for h in result["history"]]).tolist()


def plot_curves(results, stem):
    """Learning curves against training progress and against wall-clock; returns the paths written.

    charlm: the best validation bits per character so far, against characters seen and against
    training seconds; the seeds of a (method, T, M) as their mean and, shaded, their range
    (a line per seed where their records differ in number). copy / repeat-copy: the curriculum's
    current sequence length N, a line per seed.
    """
    Ts = sorted({r["T"] for r in results})
    charlm = results[0]["task"] == "charlm"
    y_label = "best validation bits per character so far" if charlm else "sequence length N reached"
    x_axes = [("chars", "characters seen (millions)", 1e-6, "steps") if charlm else
              ("step", "training steps (batches of sequences)", 1, "steps"),
              ("seconds", "training wall-clock time (s)", 1, "wallclock")]
    corpus = results[0].get("corpus", "")
    seeds = len({r.get("seed", 0) for r in results})
    title = ((f"Character LM on {CORPUS_NAMES.get(corpus, corpus)}" if charlm else
              f"{results[0]['task'].capitalize()}: curriculum length")
             + (f"\n({seeds} seeds: " + ("mean, and their range shaded)" if charlm else "a line each)")
                if seeds > 1 else ""))
    groups = {}
    for r in results:
        groups.setdefault((r["method"], r["T"], _variant(r)), []).append(r)
    if charlm:                      # the first records are the untrained net (log2 of the symbols): zoom past them
        lowest = min(min(best_so_far(r)) for r in results)
    paths = []
    for x_key, x_label, x_scale, suffix in x_axes:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for runs in groups.values():
            if charlm and len({len(r["history"]) for r in runs}) == 1:     # the seeds' records line up
                xs = np.mean([[h[x_key] * x_scale for h in r["history"]] for r in runs], axis=0)
                ys = np.array([best_so_far(r) for r in runs])
                style = _style(runs[0], Ts)
                ax.plot(xs, ys.mean(axis=0), label=_label(runs[0]), **style)
                if len(runs) > 1:
                    ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), color=style["color"], alpha=0.12, linewidth=0)
                continue
            for k, r in enumerate(runs):                     # a line per seed, one legend entry for them
                ys = best_so_far(r) if charlm else [h["n"] for h in r["history"]]
                ax.plot([h[x_key] * x_scale for h in r["history"]], ys, label=None if k else _label(r), **_style(r, Ts))
        if charlm:
            ax.set_ylim(lowest - 0.02, lowest + 0.4)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = f"{stem}_{suffix}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def solved_per_T(results, method, Ts):
    """[(index of T in Ts, [N solved by each seed]), ...] for the T at which `method` ran."""
    cells = [(i, [r["solved"] for r in results if r["method"] == method and r["T"] == T]) for i, T in enumerate(Ts)]
    return [(i, v) for i, v in cells if v]


def plot_copy_table(results_by_task, path):
    """Grouped bars: the largest N solved per T (x) and method (colour), one panel per task."""
    tasks = list(results_by_task)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        results = results_by_task[task]
        Ts = sorted({r["T"] for r in results})
        methods = list(dict.fromkeys(r["method"] for r in results))
        width = 0.8 / len(methods)
        for k, m in enumerate(methods):
            cells = solved_per_T(results, m, Ts)                # no bar where the method did not run
            xs = [i + (k - (len(methods) - 1) / 2) * width for i, _ in cells]
            per_seed = [v for _, v in cells]
            bars = ax.bar(xs, [np.mean(v) for v in per_seed], width, color=COLOURS[m], label=LABELS[m], alpha=0.8)
            ax.bar_label(bars, fmt="%.3g", fontsize=7)
            for x, v in zip(xs, per_seed):             # every seed as a dot: the bar is their mean
                if len(v) > 1:
                    ax.plot([x] * len(v), v, "o", color="black", markersize=2.5)
        ax.set_xticks(range(len(Ts)), [f"T={T}" for T in Ts])
        ax.set_ylabel("largest sequence length N solved")
        seeds = len({r["seed"] for r in results})
        ax.set_title(f"{task.capitalize()}, {results[0]['config'].get('bits', 1)}-bit ({results[0]['steps']} steps"
                     + (f", mean of {seeds} seeds, dots: each" if seeds > 1 else "") + ")", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_figures(by_task, out_dir):
    """copy_table.png, charlm_steps.png, charlm_wallclock.png and rnn.md (the tables) from
    {task: result list} as run(RNNCompareConfig(task, ...)) returns them; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    copy_tasks = {t: r for t, r in by_task.items() if t != "charlm"}
    if copy_tasks:
        paths.append(plot_copy_table(copy_tasks, os.path.join(out_dir, "copy_table.png")))
    if "charlm" in by_task:
        paths += plot_curves(by_task["charlm"], os.path.join(out_dir, "charlm"))
    paths.append(os.path.join(out_dir, "rnn.md"))
    with open(paths[-1], "w") as f:
        for task, results in by_task.items():
            f.write(f"## {task}\n\n{results_table(task, results)}\n")
    return paths


def plot_future_cosine(result, path):
    """The recurrent M's quality over training: at each diagnosis, the cosine between M(h_b) and the
    true gradient of all later losses, the mean over the window boundaries b and the first boundary's;
    the curriculum's length N on the right-hand axis."""
    d = [x for x in result["diagnostics"] if x["cosine"] is not None]
    steps = [x["step"] for x in d]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(steps, [x["cosine"] for x in d], color=COLOURS[result["method"]], label="mean over boundaries")
    ax.plot(steps, [x["boundaries"][0]["cosine"] for x in d], color=COLOURS[result["method"]], alpha=0.45,
            linewidth=1.0, label=f"first boundary (step {result['T']})")
    ax.set_xlabel("training step (batches of sequences)")
    ax.set_ylabel("cos(M(h_b), true future gradient)")
    ax.set_ylim(-0.2, 1.0)
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.step(steps, [x["n"] for x in d], where="post", color="0.5", linestyle=":", label="curriculum N")
    right.set_ylabel("sequence length N", color="0.4")
    lines = ax.get_legend_handles_labels()
    extra = right.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="center right")
    ax.set_title(f"{result['task'].capitalize()}, {LABELS[result['method']]} T={result['T']}: "
                 "M's prediction at each window's end", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
