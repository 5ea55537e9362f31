"""Locking diagrams, drawn from execution traces (minidni.trace): one lane per module,
one bar per recorded event, coloured by kind (plots.style.KIND_COLOURS).

    plot_timeline(trace, "timeline.png")                       # one trace
    animate_steps({"backprop": t1, "DNI": t2}, "locking.gif")  # replayed side by side
"""
import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.patches import Rectangle

from ..experiments.locking import events_of, waiting_intervals
from .style import KIND_COLOURS, KIND_LABELS, axes_for, finish, plt

AUX_KINDS = ("sg_predict", "sg_update", "input_predict", "input_update")   # M's and I's work: a row below
WAIT_LABEL = "holding h, waiting to update"


def _lanes(events):
    """Lane of each module: integer modules in order, other names in order of appearance."""
    modules = list(dict.fromkeys(e.module for e in events))
    if all(isinstance(m, (int, np.integer)) for m in modules):
        modules = sorted(modules)
    return {m: lane for lane, m in enumerate(modules)}


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
    events = events_of(trace_or_events, steps)
    if not events:
        raise ValueError("no events to draw: the trace is empty or has none of the chosen steps")
    lanes, kinds = _lanes(events), list(dict.fromkeys(e.kind for e in events))
    t0 = events[0].start if t0 is None else t0
    fig, ax, path = axes_for(path_or_ax, (9, 0.6 * len(lanes) + 1.6))
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
    finish(fig, path)
    return [e for kind in kinds for e in events if e.kind == kind]


def plot_timelines(traces, path, titles, height, legend=(), **options):
    """Several traces stacked on one time axis (ms from each trace's first event), saved to `path`.

    traces, titles: {name: Trace}, {name: panel title}; legend: the names whose panel shows
    the legend; options go to plot_timeline (module_names=...). Returns path.
    """
    fig, axes = plt.subplots(len(traces), 1, figsize=(10, height), sharex=True)
    for ax, (name, trace) in zip(axes, traces.items()):
        plot_timeline(trace, ax, title=titles[name], legend=name in legend, **options)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    axes[-1].set_xlim(0, 1.01e3 * max(t.events[-1].end - t.events[0].start for t in traces.values()))
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


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
    n = len(traces)
    height = 0.62 * max(len(_lanes(events_of(t))) for t in traces.values()) + 1.6
    fig = plt.figure(figsize=(6.6 * n, height))
    grid = fig.add_gridspec(1, 2 * n, width_ratios=[0.9, 5.0] * n, wspace=0.05, left=0.02, right=0.99,
                            bottom=1.05 / height, top=1 - 0.35 / height)
    kinds = {}                                  # event kind -> its bar colour, for the one legend
    panels = [_replay_panel(fig, grid[0, 2 * k], grid[0, 2 * k + 1], label, events_of(trace), kinds)
              for k, (label, trace) in enumerate(traces.items())]
    t_max = max((p["events"][-1].end - p["t0"]) * 1e3 for p in panels)
    for p in panels:
        p["ax"].set_xlim(0, t_max * 1.01)
    fig.legend([Rectangle((0, 0), 1, 1, color=c) for c in kinds.values()], [KIND_LABELS.get(k, k) for k in kinds],
               loc="lower center", ncol=min(4, len(kinds)), fontsize=8, frameon=False)
    times = list(np.linspace(0.0, t_max, frames))
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi):
        for j, t in enumerate(times + [t_max] * hold):
            _draw_frame(panels, t, times[j - 1] if 0 < j < len(times) else t - 1e-9)
            writer.grab_frame()
    plt.close(fig)
    return times


def _replay_panel(fig, box_cell, timeline_cell, label, events, kinds):
    """One panel of animate_steps: the timeline of `events` with every bar hidden, and left of it
    one box per module (_module_box). Adds each kind's bar colour to `kinds`; returns the panel."""
    lanes, t0 = _lanes(events), events[0].start
    ax = fig.add_subplot(timeline_cell)
    drawn = plot_timeline(events, ax, show_wait=False, legend=False)
    ax.set_yticks([], minor=True)
    ax.set_yticklabels([])
    bars = list(zip(drawn, ax.patches))
    for e, rect in bars:
        kinds[e.kind] = rect.get_facecolor()
        rect.set_visible(False)
    box_ax = fig.add_subplot(box_cell, sharey=ax)
    box_ax.axis("off")
    boxes = {m: _module_box(box_ax, m, lane, events) for m, lane in lanes.items()}
    box_ax.set_xlim(0, 1)
    cursor = ax.axvline(0, color="black", linewidth=1.0)
    return dict(label=label, events=events, t0=t0, ax=ax, bars=bars, boxes=boxes, cursor=cursor)


def _module_box(box_ax, m, lane, events):
    """Module m's box in its lane and, if it has M or I, a small box below: (f_box, aux_box or None, text)."""
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
    return f_box, aux_box, text


def _draw_frame(panels, t, t_prev):
    """Every panel at t ms: the bars grown up to t, the cursor at t, the step in the title, and each
    module's box in the colour of what it did most in (t_prev, t], with its updates so far."""
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
