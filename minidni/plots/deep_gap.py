"""The figure of figures/mnist_gap.md (minidni.experiments.deep_gap).

    plot_deep_gap(out["long_runs"], "figures/mnist_gap.png")
"""
import numpy as np

from .style import METHOD_COLOURS, METHOD_LABELS, panel_grid, plain_ticks, plt


def plot_deep_gap(long_runs, path):
    """Left: validation error (%) against updates, backprop and DNI, mean over seeds, band = range.
    Right: the cosine of each g_hat_i with the true gradient against updates, mean over DNI's seeds."""
    fig, (left, right) = panel_grid(2, width=4.8, height=3.6)
    for method in ("backprop", "dni"):
        runs = [r["history"] for r in long_runs if r["method"] == method]
        steps = [h["step"] for h in runs[0]]
        err = np.array([[h["valid_error"] for h in run] for run in runs])
        left.plot(steps, err.mean(0), label=METHOD_LABELS.get(method, method), color=METHOD_COLOURS.get(method))
        left.fill_between(steps, err.min(0), err.max(0), alpha=0.15, color=METHOD_COLOURS.get(method))
    left.set_yscale("log")
    plain_ticks(left)
    left.set_ylabel("validation error (%)")
    left.legend(fontsize=8)
    quality = [r["sg_quality"] for r in long_runs if r["method"] == "dni"]
    steps = [d["step"] for d in quality[0]]
    for i in range(len(quality[0][0]["modules"])):                 # g_hat_i = M_{i+1}(h_i), i = 1 .. L-1
        cos = np.mean([[d["modules"][i]["cosine"] for d in q] for q in quality], axis=0)
        right.plot(steps, cos, label=f"g_hat_{i + 1} = M_{i + 2}(h_{i + 1})")
    right.set_ylim(-0.1, 1.0)
    right.set_ylabel("cos(g_hat_i, true gradient)")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.set_xlabel("updates of each module")
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
