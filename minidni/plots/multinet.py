"""Figures of the two-timescale system (minidni.experiments.multinet).

    plot_multinet_curves(results, "figures/multinet_curves.png")   # B's validation error, per method
    plot_timeline(trace, ...)                                        # from plots.timeline: who waits for whom
"""
import numpy as np

from .style import METHOD_COLOURS, METHOD_LABELS, panel_grid, plt


def plot_multinet_curves(results, path):
    """B's validation error against training seconds and against segments seen: mean over seeds, band = range."""
    fig, axes = panel_grid(2, width=4.8, height=3.6)
    for ax, (x_key, x_label) in zip(axes, (("seconds", "training wall-clock time (s)"),
                                           ("segment", "training segments (same data for every method)"))):
        for method in dict.fromkeys(r["method"] for r in results):
            runs = [r["history"] for r in results if r["method"] == method]
            n = min(len(h) for h in runs)
            xs = np.mean([[h[x_key] for h in run[:n]] for run in runs], axis=0)
            ys = np.array([[h["valid_error_b"] for h in run[:n]] for run in runs])
            colour = METHOD_COLOURS.get(method)
            ax.plot(xs, ys.mean(0), color=colour, label=f"{METHOD_LABELS.get(method, method)} ({len(runs)} seeds)")
            if len(runs) > 1:
                ax.fill_between(xs, ys.min(0), ys.max(0), color=colour, alpha=0.15)
        target = results[0]["config"]["target"]
        ax.axhline(target, color="0.5", linestyle=":", linewidth=1)
        ax.set_xlabel(x_label)
        ax.set_ylabel("B's validation error (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    cfg = results[0]["config"]
    fig.suptitle(f"B: odd digits in the last {cfg['span'] * cfg['K']} steps, ticking every K = {cfg['K']} steps of A",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
