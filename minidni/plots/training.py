"""Figures of feed-forward results: test-error curves, the Table 1 figure, SG quality.

    plot_error_curves(results, "error_curves.png")        # results: run(CompareConfig(...))
    plot_seed_dots({"4-layer FCN": results}, "dots.png", ["backprop", "dni", "cdni"])
    plot_results_table({"4-layer FCN": results}, "table.png")
    plot_sg_quality(result["sg_quality"], "sg_cosine.png")
"""
import textwrap

import numpy as np

from .style import METHOD_COLOURS, METHOD_LABELS, axes_for, finish, panel_grid, plain_ticks, plt


def plot_error_curves(results, path, key="test_error"):
    """Error (%) against training step, one line per method (mean over seeds, the seeds' range
    shaded), one panel per depth. key: "test_error" or "valid_error", a field of each history
    record. A result's "column" (as experiments.table1 tags them) names its line, else its method."""
    depths = list(dict.fromkeys(r.get("layers") for r in results))
    fig, axes = panel_grid(len(depths), sharey=True)
    for ax, depth in zip(axes, depths):
        for name in dict.fromkeys(line_of(r) for r in results if r.get("layers") == depth):
            runs = [r["history"] for r in results if r.get("layers") == depth and line_of(r) == name]
            steps = [h["step"] for h in runs[0]]
            err = np.array([[h[key] for h in run] for run in runs])
            ax.plot(steps, err.mean(0), label=METHOD_LABELS.get(name, name), color=METHOD_COLOURS.get(name))
            if len(runs) > 1:
                ax.fill_between(steps, err.min(0), err.max(0), alpha=0.15, color=METHOD_COLOURS.get(name))
        ax.set_title(f"{depth} layers" if depth is not None else "CNN")
        ax.set_xlabel("training step")
        ax.set_yscale("log")
        plain_ticks(ax)
        ax.grid(alpha=0.3, which="both")
    for ax in axes[::3]:
        ax.set_ylabel({"valid_error": "validation error (%)"}.get(key, "test error (%)"))
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def line_of(result):
    """A result's column in a table or line in a plot: its "column" tag, else its method."""
    return result.get("column", result["method"])


def plot_seed_dots(groups, path, columns, key="test_error_at_best_valid", ylabel="test error (%)"):
    """Every seed as a dot, the mean as a bar, one panel per row of a table.

    groups: {row label: [results]}; columns: the order of the columns (see line_of).
    """
    fig, axes = panel_grid(len(groups), width=3.4, height=2.9)
    for ax, (row, results) in zip(axes, groups.items()):
        present = [c for c in columns if any(line_of(r) == c for r in results)]
        for x, c in enumerate(present):
            values = [r[key] for r in results if line_of(r) == c]
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(x + np.asarray(jitter), values, s=14, color=METHOD_COLOURS.get(c, "0.4"), zorder=3)
            ax.hlines(np.mean(values), x - 0.3, x + 0.3, color="k", lw=1.5, zorder=4)
        ax.set_xticks(range(len(present)))
        ax.set_xticklabels([METHOD_LABELS.get(c, c).replace(", ", ",\n") for c in present], fontsize=7)
        ax.set_title(row, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[::3]:
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sg_quality(diagnostics, path, title="synthetic gradient quality"):
    """Cosine similarity between g_hat_i and the true delta_i against step, one line per module."""
    steps = [d["step"] for d in diagnostics]
    n = len(diagnostics[0]["modules"])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i in range(n):
        ax.plot(steps, [d["modules"][i]["cosine"] for d in diagnostics], label=f"M after module {i + 1}")
    ax.plot(steps, [np.mean([m["cosine"] for m in d["modules"]]) for d in diagnostics], "k--", label="mean")
    ax.set_xlabel("training step")
    ax.set_ylabel("cos(g_hat, true gradient)")
    ax.set_ylim(-0.2, 1.0)
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def result_cells(groups, methods=None, key="test_error"):
    """{(row, column): (mean, std, n)} of `key` (%) over the seeds in each group.

    groups: {row label: [result dicts with "method" (or a "column" tag) and `key`]}. The std
    is the population std (numpy's default), as in experiments.error_table.
    """
    methods = methods or list(dict.fromkeys(line_of(r) for rs in groups.values() for r in rs))
    cells = {}
    for row, results in groups.items():
        for m in methods:
            err = [r[key] for r in results if line_of(r) == m]
            if err:
                cells[row, m] = (float(np.mean(err)), float(np.std(err)), len(err))
    return cells


def plot_results_table(groups, path_or_ax, methods=None, title=None, note=None, key="test_error"):
    """Paper Table 1 as a figure: test error (%) "mean ± std" per row (setting) and method.

    groups: {row label: [result dicts]}, e.g. {"3-layer FCN": run(CompareConfig(layers=[3])), ...};
    methods: column order (default: as they appear). Cells are shaded by error (lighter
    is lower) and each row's best method is bold; a method a row lacks shows "–".
    `note` is printed under the table; `key` is the number shown (e.g. "test_error_at_best_valid").
    Returns result_cells(groups, methods, key).
    """
    methods = methods or list(dict.fromkeys(line_of(r) for rs in groups.values() for r in rs))
    cells = result_cells(groups, methods, key)
    rows = list(groups)
    fig, ax, path = axes_for(path_or_ax, (1.7 * len(methods), 0.32 * (len(rows) + 1)))
    ax.axis("off")
    means = [v[0] for v in cells.values()]
    lo, hi = (min(means), max(means)) if means else (0, 1)
    shade = plt.get_cmap("OrRd")
    text, colours = [], []
    for row in rows:
        text.append([(f"{cells[row, m][0]:.2f}" + (f" ± {cells[row, m][1]:.2f}" if cells[row, m][2] > 1 else ""))
                     if (row, m) in cells else "–" for m in methods])      # one seed: no "± 0.00"
        colours.append([shade(0.05 + 0.55 * (cells[row, m][0] - lo) / (hi - lo or 1)) if (row, m) in cells else "white"
                        for m in methods])
    table = ax.table(cellText=text, cellColours=colours, rowLabels=rows,
                     colLabels=[METHOD_LABELS.get(m, m) for m in methods],
                     cellLoc="center", bbox=[0.0, 0.0, 1.0, 1.0])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    for i, row in enumerate(rows):
        present = [m for m in methods if (row, m) in cells]
        if len(present) > 1:
            best = min(present, key=lambda m: cells[row, m][0])
            table[i + 1, methods.index(best)].get_text().set_fontweight("bold")
    for j in range(len(methods)):
        table[0, j].get_text().set_fontweight("bold")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    if note:
        ax.text(0.0, -0.04, note, transform=ax.transAxes, ha="left", va="top", fontsize=8, color="0.3")
    finish(fig, path)
    return cells


