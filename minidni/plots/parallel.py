"""Figures of the MPI runs (minidni.parallel) and the pipeline simulator (minidni.simulate).

    plot_rank_timeline({"locked backprop": trace, "DNI": trace}, "figures/parallel_timeline.png")
    plot_scaling(scaling_panels(locked, dni, [2, 4, 8]), "figures/parallel_scaling.png")

A trace is what `parallel --trace-out` writes: {"method", "ranks", "split", "events"},
each event {"rank", "kind", "step", "start", "end"} in seconds of the shared clock.
"""
from matplotlib.patches import Patch

from ..simulate import StageTimes, deeper, divided, scaling
from .style import KIND_COLOURS, KIND_LABELS, METHOD_COLOURS, plain_ticks, plt

WAIT_STYLE = dict(facecolor=KIND_COLOURS["wait"], edgecolor="0.6", hatch="///")


def steady_window(trace, step, steps):
    """(start, end) of `steps` steps from `step` on, on rank 0's time line."""
    starts = sorted(e["start"] for e in trace["events"] if e["rank"] == 0 and e["kind"] == "forward"
                    and e["step"] >= step)
    return starts[0], starts[min(steps, len(starts) - 1)]


def plot_rank_timeline(traces, path, start_step=6, steps=3):
    """One panel per trace, one lane per rank, over the same span of wall-clock time.

    The span is `steps` steps of the first trace (the locked one) from `start_step` on,
    so the decoupled panel shows how many more steps fit in the same time. Bars are the
    work each rank did; hatched grey is time spent blocked on a message (the bubbles).
    """
    names = list(traces)
    t0, t1 = steady_window(traces[names[0]], start_step, steps)
    span = t1 - t0
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.2 + 1.0 * sum(t["ranks"] for t in traces.values())),
                             sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        trace = traces[name]
        start, _ = steady_window(trace, start_step, 1)
        K = trace["ranks"]
        for e in trace["events"]:
            a, b = e["start"] - start, e["end"] - start
            if b < 0 or a > span:
                continue
            lane = K - 1 - e["rank"]
            if e["kind"] == "wait":
                ax.broken_barh([(a, b - a)], (lane - 0.3, 0.6), linewidth=0.3, **WAIT_STYLE)
            else:
                ax.broken_barh([(a, b - a)], (lane - 0.35, 0.7), facecolor=KIND_COLOURS.get(e["kind"], "0.5"),
                               edgecolor="white", linewidth=0.4)
        done = {e["step"] for e in trace["events"] if e["rank"] == K - 1 and e["kind"] == "update"
                and 0 <= e["end"] - start <= span}
        ax.set_yticks(range(K))
        ax.set_yticklabels([f"rank {K - 1 - i}" for i in range(K)])
        ax.set_ylim(-0.6, K - 0.4)
        ax.set_title(f"{name}: stages {trace['split']} (modules per rank), {len(done)} steps finished in this span",
                     fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlim(0, span)
    axes[-1, 0].set_xlabel("wall-clock time (s), shared clock of all ranks")
    handles = [Patch(facecolor=KIND_COLOURS[k], label=KIND_LABELS[k])
               for k in ("forward", "sg_predict", "backward", "update", "sg_update")]
    handles.append(Patch(label=KIND_LABELS["wait"], **WAIT_STYLE))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_scaling(panels, path):
    """Samples/s against the number of stages K, one panel per scenario.

    panels: list of (title, Ks, predictions, measured); predictions {label: samples/s per
    K}, measured {label: (K, samples/s)}. Labels with "locked" take locked backprop's
    colour, others DNI's; labels with "Gbit" are dashed.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.6), squeeze=False)
    for ax, (title, Ks, predictions, measured) in zip(axes[0], panels):
        for label, ys in predictions.items():
            colour = METHOD_COLOURS["locked" if "locked" in label else "dni"]
            ax.plot(Ks, ys, color=colour, linestyle="--" if "Gbit" in label else "-", marker=".", label=label)
        for label, (K, y) in measured.items():
            colour = METHOD_COLOURS["locked" if "locked" in label else "dni"]
            ax.plot([K], [y], linestyle="none", marker="o", markersize=10, markerfacecolor="none",
                    markeredgewidth=2, color=colour, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        plain_ticks(ax)
        ax.set_xticks(Ks)
        ax.set_xticklabels([str(K) for K in Ks])
        ax.set_xlabel("stages K, one rank each")
        ax.set_ylabel("training samples per second")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, handlelength=4)          # long enough to show which lines are dashed
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def scaling_panels(locked, dni, Ks, modules=64, gbit_latency=50e-6):
    """The simulator's predictions from a measured 2-rank locked result and DNI result.

    Panel 1 (a deeper network per K): every rank holds a stage like the measured first
    stage (the last like the measured last), with the measured points at K = 2.
    Panel 2 (one network cut K ways): `modules` modules like those of the measured last
    stage (its time per module), K stages of modules/K each; every stage but the last
    also pays the measured SG time. Each is predicted with this machine's measured
    message time and for machines on 1 Gbit/s Ethernet (latency + activation bytes / 125 MB/s).
    """
    batch = dni["samples_per_step"]
    nbytes = dni["batch_size"] * dni["hidden"] * 4
    links = {"this machine": dni["message_seconds"], "1 Gbit/s": gbit_latency + nbytes * 8 / 1e9}
    deep, cut = {}, {}
    sg = StageTimes.from_work(dni["per_stage"][0]["work"])
    for name, r in (("locked backprop", locked), ("DNI", dni)):
        first, last = (StageTimes.from_work(s["work"]) for s in (r["per_stage"][0], r["per_stage"][-1]))
        per_module = StageTimes(*(x / r["split"][-1] for x in (last.forward, last.backward, last.update)))
        for where, message in links.items():
            options = dict(max_lag=dni["max_lag"])
            deep[f"{name}, {where}"] = scaling(deeper(first, last), Ks, message, r["method"], batch, **options)
            cut[f"{name}, {where}"] = scaling(divided(per_module, sg, modules), Ks, message, r["method"], batch,
                                              **options)
    measured = {"locked backprop, measured": (2, locked["throughput"]), "DNI, measured": (2, dni["throughput"])}
    shape = f"MLP modules {dni['hidden']} wide, batch {dni['batch_size']}"
    return [(f"Simulated: a deeper network, one measured-size stage per rank\n({shape}; circles: measured, "
             f"split {dni['split']})", Ks, deep, measured),
            (f"Simulated: one {modules}-module network cut into K stages\n({shape})", Ks, cut, {})]
