"""Figures from results and traces. Matplotlib with the Agg backend: no display needed."""
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

METHOD_COLOURS = {"backprop": "#444444", "dni": "#1f77b4", "cdni": "#d62728"}
METHOD_LABELS = {"backprop": "backprop", "dni": "DNI", "cdni": "cDNI"}


def plot_error_curves(results, path):
    """Test error (%) against training step, one line per method (mean over seeds), one panel per depth."""
    depths = list(dict.fromkeys(r.get("layers") for r in results))
    fig, axes = plt.subplots(1, len(depths), figsize=(3.6 * len(depths), 3.2), squeeze=False, sharey=True)
    for ax, depth in zip(axes[0], depths):
        for method in dict.fromkeys(r["method"] for r in results):
            runs = [r["history"] for r in results if r.get("layers") == depth and r["method"] == method]
            steps = [h["step"] for h in runs[0]]
            err = 100 * (1 - np.array([[h["test_accuracy"] for h in run] for run in runs]))
            ax.plot(steps, err.mean(0), label=METHOD_LABELS.get(method, method), color=METHOD_COLOURS.get(method))
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


# ---------------------------------------------------------------------------------------
# Locking diagrams, drawn from execution traces (minidni.trace): one lane per module,
# one bar per recorded event, coloured by kind.

KIND_COLOURS = {"forward": "#4c72b0", "backward": "#55a868", "update": "#c44e52",
                "sg_predict": "#8172b2", "sg_update": "#dd8452",
                "input_predict": "#64b5cd", "input_update": "#937860"}
KIND_LABELS = {"forward": "forward", "backward": "backward", "update": "update (weights change)",
               "sg_predict": "synthetic gradient g_hat = M(h)", "sg_update": "fit M to its target",
               "input_predict": "synthetic input h_hat = I(x)", "input_update": "fit I to the real input"}
AUX_KINDS = ("sg_predict", "sg_update", "input_predict", "input_update")   # M's and I's work: a row below
WAIT_LABEL = "holding h, waiting to update"


def _events(trace_or_events, steps=None):
    """The events of a Trace (or any iterable of Events), only those of `steps` if given."""
    events = list(getattr(trace_or_events, "events", trace_or_events))
    if steps is not None:
        steps = set(steps)
        events = [e for e in events if e.step in steps]
    return events


def _lanes(events):
    """Lane of each module: integer modules in order, other names in order of appearance."""
    modules = list(dict.fromkeys(e.module for e in events))
    if all(isinstance(m, (int, np.integer)) for m in modules):
        modules = sorted(modules)
    return {m: lane for lane, m in enumerate(modules)}


def waiting_intervals(trace_or_events, steps=None):
    """{(module, step): (end of its forward, start of its update)}, in the trace's seconds.

    Between the two the module has produced h but may not change its weights yet: under
    backprop it waits for every later module (update locking); under DNI only for its
    own synthetic gradient and backward pass. A module that did not update in a step
    (DNI with update probability p < 1) has no interval for it.
    """
    forward_end, out = {}, {}
    for e in _events(trace_or_events, steps):
        if e.kind == "forward":
            forward_end[e.module, e.step] = e.end
        elif e.kind == "update" and (e.module, e.step) in forward_end:
            out[e.module, e.step] = (forward_end[e.module, e.step], e.start)
    return out


def _axes(path_or_ax, figsize):
    """(fig, ax, path): a new figure when given a path, else the caller's axes and None."""
    if hasattr(path_or_ax, "plot"):
        return path_or_ax.figure, path_or_ax, None
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax, path_or_ax


def _finish(fig, path):
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)


def plot_timeline(trace_or_events, path_or_ax, steps=None, title=None, module_names=None, t0=None,
                  show_wait=True, legend=True):
    """A locking diagram from a real trace: one lane per module, one bar per event, time in ms.

    trace_or_events: a Trace or a list of Events; steps: the training steps to draw
    (default all); path_or_ax: a file to write or a matplotlib Axes to draw on.
    module_names: lane labels (default "module 1", ...); t0: time zero in the trace's
    seconds (default the first event drawn). show_wait draws a dotted line from each
    module's forward to its update: the time it holds its activations, locked.
    Returns the events drawn, in the order of their bars in ax.patches: event k is bar k,
    x = (start - t0) * 1000, width = (end - start) * 1000, in its module's lane (y within
    0.5 of the lane index; the work of M and I in a thinner row just below the module's).
    """
    events = _events(trace_or_events, steps)
    if not events:
        raise ValueError("no events to draw: the trace is empty or has none of the chosen steps")
    lanes, kinds = _lanes(events), list(dict.fromkeys(e.kind for e in events))
    t0 = events[0].start if t0 is None else t0
    fig, ax, path = _axes(path_or_ax, (9, 0.6 * len(lanes) + 1.6))
    if show_wait:
        waits = waiting_intervals(events)
        ax.hlines([lanes[m] - 0.1 for m, _ in waits], [(a - t0) * 1e3 for a, _ in waits.values()],
                  [(b - t0) * 1e3 for _, b in waits.values()], colors="0.55", linestyles=":", linewidth=1.5,
                  label=WAIT_LABEL, zorder=1)
    for kind in kinds:
        mine = [e for e in events if e.kind == kind]
        offset, height = (0.3, 0.3) if kind in AUX_KINDS else (-0.1, 0.55)
        colour = KIND_COLOURS.get(kind, "0.5")
        ax.barh([lanes[e.module] + offset for e in mine], [(e.end - e.start) * 1e3 for e in mine], height,
                left=[(e.start - t0) * 1e3 for e in mine], color=colour, edgecolor=colour, linewidth=0.4,
                label=KIND_LABELS.get(kind, kind), zorder=2)
    step_starts = {}
    for e in events:
        step_starts.setdefault(e.step, e.start)
    if len(step_starts) > 1:
        for step, start in step_starts.items():
            ax.axvline((start - t0) * 1e3, color="0.3", linewidth=0.6, linestyle="--", zorder=0)
            ax.text((start - t0) * 1e3, -0.62, f" step {step}", fontsize=8, va="bottom", color="0.3")
    names = module_names or [f"module {m + 1}" if isinstance(m, (int, np.integer)) else str(m) for m in lanes]
    ax.set_yticks([lane - 0.1 for lane in range(len(lanes))], names)
    aux = {}            # lane -> the synthetic models that worked there: M (gradients), I (inputs)
    for e in events:
        if e.kind in AUX_KINDS:
            aux.setdefault(lanes[e.module], set()).add("I" if e.kind.startswith("input") else "M")
    ax.set_yticks([lane + 0.3 for lane in aux], [", ".join(sorted(v, reverse=True)) for v in aux.values()],
                  minor=True, fontsize=7, color="0.35")
    ax.tick_params(axis="y", which="minor", length=0)
    ax.set_ylim(len(lanes) - 0.45, -0.8 if len(step_starts) > 1 else -0.5)    # module 1 at the top
    ax.set_xlim(0, (max(e.end for e in events) - t0) * 1e3 * 1.01)
    ax.set_xlabel("time (ms)")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    _finish(fig, path)
    return [e for kind in kinds for e in events if e.kind == kind]


def result_cells(groups, methods=None):
    """{(row, method): (mean, std, n)} of test error (%) over the seeds in each group.

    groups: {row label: [result dicts with "method" and "test_accuracy"]}. The std is
    the population std (numpy's default), as in cli.error_table.
    """
    methods = methods or list(dict.fromkeys(r["method"] for rs in groups.values() for r in rs))
    cells = {}
    for row, results in groups.items():
        for m in methods:
            err = [100 * (1 - r["test_accuracy"]) for r in results if r["method"] == m]
            if err:
                cells[row, m] = (float(np.mean(err)), float(np.std(err)), len(err))
    return cells


def plot_results_table(groups, path_or_ax, methods=None, title=None, note=None):
    """Paper Table 1 as a figure: test error (%) "mean ± std" per row (setting) and method.

    groups: {row label: [result dicts]}, e.g. {"3-layer FCN": run_grid(...), ...};
    methods: column order (default: as they appear). Cells are shaded by error (lighter
    is lower) and each row's best method is bold; a method a row lacks shows "–".
    `note` is printed under the table. Returns result_cells(groups, methods).
    """
    methods = methods or list(dict.fromkeys(r["method"] for rs in groups.values() for r in rs))
    cells = result_cells(groups, methods)
    rows = list(groups)
    fig, ax, path = _axes(path_or_ax, (1.7 * len(methods), 0.32 * (len(rows) + 1)))
    ax.axis("off")
    means = [v[0] for v in cells.values()]
    lo, hi = (min(means), max(means)) if means else (0, 1)
    shade = plt.get_cmap("OrRd")
    text, colours = [], []
    for row in rows:
        text.append([f"{cells[row, m][0]:.2f} ± {cells[row, m][1]:.2f}" if (row, m) in cells else "–" for m in methods])
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
    _finish(fig, path)
    return cells


def _active(events, t0, a, b):
    """The event among `events` that overlaps (a, b] (ms after t0) the most, or None."""
    best, most = None, 0.0
    for e in events:
        overlap = min(b, (e.end - t0) * 1e3) - max(a, (e.start - t0) * 1e3)
        if overlap > most:
            best, most = e, overlap
    return best


def animate_steps(traces, path, frames=90, fps=10, hold=15, dpi=80):
    """An animated GIF that replays real traces side by side, module by module.

    traces: {panel title: Trace or list of Events}, e.g. {"backprop": ..., "DNI": ...},
    drawn on one time axis (ms from each trace's first event). Each panel shows the
    network as one box per module, lit in the colour of what that module is doing (its
    synthetic models M and I in a small box below), with its count of weight updates,
    beside the timeline growing up to "now". `frames` frames span the longest trace;
    the last is held for `hold` more. Returns the frame times (ms).
    """
    from matplotlib.animation import PillowWriter
    from matplotlib.patches import Rectangle
    n = len(traces)
    height = 0.62 * max(len(_lanes(_events(t))) for t in traces.values()) + 1.6
    fig = plt.figure(figsize=(6.6 * n, height))
    grid = fig.add_gridspec(1, 2 * n, width_ratios=[0.9, 5.0] * n, wspace=0.05, left=0.02, right=0.99,
                            bottom=1.05 / height, top=1 - 0.35 / height)
    panels, t_max, kinds = [], 0.0, {}
    for k, (label, trace) in enumerate(traces.items()):
        events = _events(trace)
        lanes, t0 = _lanes(events), events[0].start
        ax = fig.add_subplot(grid[0, 2 * k + 1])
        drawn = plot_timeline(events, ax, show_wait=False, legend=False)
        ax.set_yticks([], minor=True)
        ax.set_yticklabels([])
        bars = list(zip(drawn, ax.patches))
        for e, rect in bars:
            kinds[e.kind] = rect.get_facecolor()
            rect.set_visible(False)
        box_ax = fig.add_subplot(grid[0, 2 * k], sharey=ax)
        box_ax.axis("off")
        boxes = {}
        for m, lane in lanes.items():
            f_box = Rectangle((0.05, lane - 0.38), 0.9, 0.55, facecolor="white", edgecolor="0.2")
            has_aux = any(e.module == m and e.kind in AUX_KINDS for e in events)
            aux_box = Rectangle((0.3, lane + 0.17), 0.65, 0.26, facecolor="white", edgecolor="0.5") if has_aux else None
            for box in (f_box, aux_box):
                if box is not None:
                    box_ax.add_patch(box)
            text = box_ax.text(0.5, lane - 0.1, "", ha="center", va="center", fontsize=8)
            if has_aux:
                box_ax.text(0.62, lane + 0.3, "M / I" if any(e.module == m and e.kind.startswith("input")
                                                            for e in events) else "M",
                            ha="center", va="center", fontsize=7, color="0.3")
            boxes[m] = (f_box, aux_box, text)
        box_ax.set_xlim(0, 1)
        cursor = ax.axvline(0, color="black", linewidth=1.0)
        panels.append(dict(label=label, events=events, t0=t0, ax=ax, bars=bars, boxes=boxes, cursor=cursor))
        t_max = max(t_max, (events[-1].end - t0) * 1e3)
    for p in panels:
        p["ax"].set_xlim(0, t_max * 1.01)
    fig.legend([Rectangle((0, 0), 1, 1, color=c) for c in kinds.values()], [KIND_LABELS.get(k, k) for k in kinds],
               loc="lower center", ncol=min(4, len(kinds)), fontsize=8, frameon=False)

    def draw(t, t_prev):
        for p in panels:
            t0, events = p["t0"], p["events"]
            for e, rect in p["bars"]:
                width = min(max(t - (e.start - t0) * 1e3, 0.0), (e.end - e.start) * 1e3)
                rect.set_width(width)
                rect.set_visible(width > 0)
            p["cursor"].set_xdata([t, t])
            started = [e for e in events if (e.start - t0) * 1e3 <= t]
            step = started[-1].step if started else events[0].step
            p["ax"].set_title(f"{p['label']}: step {step}, {t:.1f} ms", loc="left", fontsize=10)
            for m, (f_box, aux_box, text) in p["boxes"].items():
                mine = [e for e in events if e.module == m]
                main = _active([e for e in mine if e.kind not in AUX_KINDS], t0, t_prev, t)
                f_box.set_facecolor(KIND_COLOURS.get(main.kind, "0.5") if main else "white")
                n_updates = sum(1 for e in mine if e.kind == "update" and (e.end - t0) * 1e3 <= t)
                text.set_text(f"module {m + 1 if isinstance(m, (int, np.integer)) else m}\n"
                              f"{n_updates} update{'s' if n_updates != 1 else ''}")
                text.set_color("white" if main else "black")
                if aux_box is not None:
                    aux = _active([e for e in mine if e.kind in AUX_KINDS], t0, t_prev, t)
                    aux_box.set_facecolor(KIND_COLOURS.get(aux.kind, "0.5") if aux else "white")

    times = list(np.linspace(0.0, t_max, frames))
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi):
        for j, t in enumerate(times + [t_max] * hold):
            draw(t, times[j - 1] if 0 < j < len(times) else t - 1e-9)
            writer.grab_frame()
    plt.close(fig)
    return times
