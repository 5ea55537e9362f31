"""Figures of the two-timescale system (minidni.experiments.multinet, multinet_report).

    plot_multinet_curves(results, "figures/multinet_curves.png")   # A's and B's validation error, per method
    plot_multinet_cosine(results, "figures/multinet_cosine.png")   # M's g_hat against the true future gradient
    multinet_figures("figures")                                    # the whole group, from figures/multinet_runs.jsonl
"""
import os
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from ..experiments.multinet import MultinetConfig, describe, digit_pools, streams_and_system
from ..experiments.multinet_report import DIGIT_NAMES, multinet_markdown, run_multinet_grid
from ..experiments.runlog import RunLog
from .style import METHOD_COLOURS, METHOD_LABELS, panel_grid, plt
from .timeline import plot_timelines

COLOURS = {**METHOD_COLOURS, "oracle": "#9467bd"}
LABELS = {**METHOD_LABELS, "oracle": "oracle (true future gradient)"}
X_AXES = (("a_updates", "updates of A (= updates of B), log scale"),
          ("segment", "segments seen (the same streams for every method)"),
          ("seconds", "training wall-clock time (s)"))


def plot_multinet_curves(results, path, x_axes=X_AXES):
    """B's (top row) and A's (bottom row) validation error against each of x_axes: the mean over seeds,
    the band their range. Updates on a log axis: locked updates once a segment, the others every tick."""
    fig, axes = panel_grid(2 * len(x_axes), width=4.6, height=3.4)
    for row, (err_key, who) in enumerate((("valid_error_b", "B"), ("valid_error_a", "A"))):
        for ax, (x_key, x_label) in zip(axes[row * len(x_axes):], x_axes):
            for method in dict.fromkeys(r["method"] for r in results):
                runs = [r["history"] for r in results if r["method"] == method]
                n = min(len(h) for h in runs)
                xs = np.mean([[h[x_key] for h in run[:n]] for run in runs], axis=0)
                ys = np.array([[h[err_key] for h in run[:n]] for run in runs])
                colour = COLOURS.get(method)
                ax.plot(xs, ys.mean(0), color=colour, label=f"{LABELS.get(method, method)} ({len(runs)} seeds)")
                if len(runs) > 1:
                    ax.fill_between(xs, ys.min(0), ys.max(0), color=colour, alpha=0.15)
            if who == "B":
                ax.axhline(results[0]["config"]["target"], color="0.5", linestyle=":", linewidth=1)
            if x_key == "a_updates":
                ax.set_xscale("log")
            ax.set_xlabel(x_label)
            ax.set_ylabel(f"{who}'s validation error (%)")
            ax.grid(alpha=0.3)
    cfg = results[0]["config"]
    return _finish(fig, axes, path, f"A names each of {DIGIT_NAMES[cfg['digits']]}; B counts the odd digits of "
                                     f"the last {cfg['span'] * cfg['K']} steps, ticking every K = {cfg['K']} "
                                     "steps (dotted: B's target)")


def plot_multinet_cosine(results, path):
    """The cosine between what is injected at the cuts and the true future gradient, over training, at
    A's and B's cuts (mean over a segment's cuts): every seed of every method that injects one."""
    fig, axes = panel_grid(2, width=4.6, height=3.4)
    for ax, net in zip(axes, ("a", "b")):
        for r in results:
            d = r.get("diagnostics")
            if not d:
                continue
            label = LABELS.get(r["method"], r["method"]) if r["seed"] == 0 else None
            ax.plot([x["segment"] for x in d], [x[f"cosine_{net}"] for x in d], color=COLOURS.get(r["method"]),
                    alpha=0.8, label=label)
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_ylim(-0.6, 1.05)
        ax.set_xlabel("segments trained")
        ax.set_ylabel("cosine(injected, true future gradient)")
        ax.set_title(f"at {net.upper()}'s cut (its state after each tick)", fontsize=9)
        ax.grid(alpha=0.3)
    return _finish(fig, axes, path, "What each cut receives against the locked pass's true future gradient, "
                                    "on held segments")


def _finish(fig, axes, path, title):
    """Legend in the first panel, the title, saved to path and closed; returns path."""
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def traced_segment(config, pools):
    """The Trace of one segment of training as `config` says (after 5 untraced ones: first calls allocate)."""
    streams, system = streams_and_system(config, pools, np.random.default_rng(0))
    streams, rng = streams["train"], np.random.default_rng(0)
    system.trace.enabled = False
    for _ in range(5):
        system.step(*streams.batch(config.batch_size, rng))
    system.trace.enabled = True
    system.trace.clear()
    system.step(*streams.batch(config.batch_size, rng))
    return system.trace


def multinet_figures(out_dir, quick=False):
    """The two-timescale system's figures: M's search and every method x seed (multinet_report), taken
    from OUT/multinet_runs.jsonl or trained into it (the file stays: it is what the figures show);
    multinet_curves.png, multinet_cosine.png, multinet_timeline.png (one traced segment of locked and
    DNI) and multinet.md. Returns (paths, the numbers of summary_multinet.json)."""
    log = RunLog(os.path.join(out_dir, "multinet_runs.jsonl"))
    with threadpool_limits(1):                       # small LSTMs: one BLAS thread is faster
        out = run_multinet_grid(quick, log, lambda r: print(describe(r), file=sys.stderr, flush=True))
    results = out["results"]
    config = next(r for r in results if r["method"] == "dni")["config"]
    pools = digit_pools(config["digits"])
    traces = {m: traced_segment(MultinetConfig(**{**config, "method": m}), pools) for m in ("locked", "dni")}
    titles = {"locked": f"locked: A and B update once, after B's backward through all {config['ticks']} ticks",
              "dni": "DNI: at every tick A updates at once, with B's synthetic gradient for the ticks to come"}
    paths = [plot_multinet_curves(results, os.path.join(out_dir, "multinet_curves.png")),
             plot_multinet_cosine(results, os.path.join(out_dir, "multinet_cosine.png")),
             plot_timelines(traces, os.path.join(out_dir, "multinet_timeline.png"), titles, 4.6,
                            legend=("dni",), module_names=["network A", "network B"]),
             os.path.join(out_dir, "multinet.md"), log.path]
    with open(paths[3], "w") as f:
        f.write(multinet_markdown(out))
    keys = ("method", "seed", "valid_error_a", "valid_error_b", "best_valid_error_b", "test_error_a",
            "test_error_b", "seconds_to_target", "a_updates_to_target", "seconds", "a_updates", "b_updates")
    return paths, {"chosen": out["chosen"], "runs": [{k: r.get(k) for k in keys} for r in results]}
