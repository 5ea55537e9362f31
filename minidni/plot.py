"""Figures from results and traces. Matplotlib with the Agg backend: no display needed."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

METHOD_COLOURS = {"backprop": "#444444", "dni": "#1f77b4", "cdni": "#d62728"}


def plot_error_curves(results, path):
    """Test error (%) against training step, one line per method (mean over seeds), one panel per depth."""
    depths = list(dict.fromkeys(r.get("layers") for r in results))
    fig, axes = plt.subplots(1, len(depths), figsize=(3.6 * len(depths), 3.2), squeeze=False, sharey=True)
    for ax, depth in zip(axes[0], depths):
        for method in dict.fromkeys(r["method"] for r in results):
            runs = [r["history"] for r in results if r.get("layers") == depth and r["method"] == method]
            steps = [h["step"] for h in runs[0]]
            err = 100 * (1 - np.array([[h["test_accuracy"] for h in run] for run in runs]))
            ax.plot(steps, err.mean(0), label=method, color=METHOD_COLOURS.get(method))
            if len(runs) > 1:
                ax.fill_between(steps, err.min(0), err.max(0), alpha=0.15, color=METHOD_COLOURS.get(method))
        ax.set_title(f"{depth} layers" if depth is not None else "CNN")
        ax.set_xlabel("training step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("test error (%)")
    axes[0][-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sg_quality(diagnostics, path, title="synthetic gradient quality"):
    """Cosine similarity between g_hat_i and the true delta_i against step, one line per module."""
    steps = [d["step"] for d in diagnostics]
    n = len(diagnostics[0]["modules"])
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for i in range(n):
        ax.plot(steps, [d["modules"][i]["cosine"] for d in diagnostics], label=f"M after module {i + 1}")
    ax.plot(steps, [np.mean([m["cosine"] for m in d["modules"]]) for d in diagnostics], "k--", label="mean")
    ax.set_xlabel("training step")
    ax.set_ylabel("cos(g_hat, true gradient)")
    ax.set_ylim(-0.2, 1.0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
