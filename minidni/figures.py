"""Every figure in figures/, from real runs: `python -m minidni figures [--quick] [--out DIR]`.

    make_figures("figures")              # the full settings (about 10 minutes on 2 CPU cores)
    make_figures("/tmp/f", quick=True)   # tiny budgets: checks the pipeline, not the paper's numbers

The locking diagrams and the animation are drawn from the execution traces of real
training steps (minidni.trace), the table and curves from real training runs. The
recurrent and multi-process figures come from minidni.plot_rnn and minidni.plot_parallel
when those define make_figures(out_dir, quick). The notebooks in tutorials/ use the
pieces here (traced_trainer, record_steps, quick) to make the same figures step by step.
"""
import importlib
import json
import os

import numpy as np

from . import plot
from .cli import FIGURE_GROUPS as GROUPS, run_grid

# The settings of the full figures, and of the quick ones (MINIDNI_QUICK=1 or --quick).
FULL = dict(depths=[3, 4, 5, 6], seeds=[0, 1, 2], epochs=20, p_epochs=60, sg_epochs=20, frames=90)
QUICK = dict(depths=[3], seeds=[0], epochs=1, p_epochs=1, sg_epochs=1, frames=12)
TRACE_LAYERS, TRACE_WARMUP, TRACE_STEPS = 4, 10, 2     # the traced network and the steps drawn


def quick():
    """True when MINIDNI_QUICK is set (to anything but "" or "0"): the notebooks' quick setting."""
    return os.environ.get("MINIDNI_QUICK", "") not in ("", "0")


def traced_trainer(method, data, layers=TRACE_LAYERS, hidden=256, seed=0, **options):
    """A trainer ("backprop", "dni" or "cdni") for the digits MLP of paper §3.2.

    options go to the trainer: update_prob=, synthetic_inputs=, cuts=, diagnose_every=, ...
    """
    from .models import build_mlp
    from .train import make_trainer
    rng = np.random.default_rng(seed)
    model = build_mlp(int(np.prod(data.input_shape)), data.n_classes, layers, hidden, rng)
    if method != "backprop":
        options = dict(input_shape=data.input_shape, n_classes=data.n_classes, rng=rng, **options)
    return make_trainer(method, model, **options)


def record_steps(trainer, data, steps=TRACE_STEPS, warmup=TRACE_WARMUP, batch_size=64, seed=0):
    """Train `warmup` steps untraced (first calls allocate), then `steps` traced ones; return the Trace.

    The events keep the trainer's step numbers: warmup + 1 ... warmup + steps.
    """
    from .data import batches
    rng = np.random.default_rng(seed)
    todo = warmup + steps
    while todo:
        for x, y in batches(data.x_train, data.y_train, batch_size, rng, drop_last=True):
            if todo == steps:
                trainer.trace.clear()
            trainer.step(x, y)
            todo -= 1
            if not todo:
                break
    return trainer.trace


def lock_summary(trace):
    """Per step, in ms: the step's length, how long module 1 waits between its forward and
    its update, and whether module 1 had updated before the last module began its forward."""
    out = []
    for step in dict.fromkeys(e.step for e in trace.events):
        events = trace.select(step=step)
        last = max(e.module for e in events)
        wait = plot.waiting_intervals(events).get((0, step))
        first_update = next((e for e in events if e.kind == "update" and e.module == 0), None)
        last_forward = next(e for e in events if e.kind == "forward" and e.module == last)
        out.append({"step": step, "ms": 1e3 * (events[-1].end - events[0].start),
                    "module_1_wait_ms": 1e3 * (wait[1] - wait[0]) if wait else None,
                    "module_1_updated_before_last_forward": bool(first_update and first_update.end <= last_forward.start)})
    return out


def _optional_makers():
    """{group: make_figures(out_dir, quick)} of the recurrent and multi-process figure modules, where present."""
    makers = {}
    for group, name in (("rnn", "minidni.plot_rnn"), ("parallel", "minidni.plot_parallel")):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "make_figures"):
            makers[group] = module.make_figures
    return makers


def locking_figures(data, out_dir, frames):
    """Timelines of backprop, DNI and complete unlock, all three in one figure, and the GIF."""
    traces = {"backprop": record_steps(traced_trainer("backprop", data), data),
              "dni": record_steps(traced_trainer("dni", data), data),
              "unlock": record_steps(traced_trainer("dni", data, synthetic_inputs=True), data)}
    titles = {"backprop": "backprop: every module waits for the whole network (update locking)",
              "dni": "DNI: each module updates as soon as its synthetic gradient arrives",
              "unlock": "DNI + synthetic inputs (complete unlock): each module needs only x and its own models"}
    paths = []
    for name, trace in traces.items():
        paths.append(os.path.join(out_dir, f"timeline_{name}.png"))
        plot.plot_timeline(trace, paths[-1], title=f"{titles[name]}; 4-layer MLP, batch 64")
    fig, axes = plot.plt.subplots(3, 1, figsize=(10, 9.2), sharex=True)
    for ax, (name, trace) in zip(axes, traces.items()):
        plot.plot_timeline(trace, ax, title=titles[name], legend=name != "dni")    # unlock's legend has DNI's kinds
    for ax in axes[:-1]:
        ax.set_xlabel("")
    axes[-1].set_xlim(0, 1.01e3 * max(t.events[-1].end - t.events[0].start for t in traces.values()))
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "locking.png"))
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plot.plt.close(fig)
    paths.append(os.path.join(out_dir, "locking.gif"))
    plot.animate_steps({"backprop": traces["backprop"], "DNI": traces["dni"]}, paths[-1], frames=frames,
                       hold=max(3, frames // 6))
    return paths, {name: lock_summary(trace) for name, trace in traces.items()}


def sg_quality_figures(data, out_dir, epochs):
    """Cosine between each g_hat_i and the true gradient over training, for cDNI and DNI."""
    from .train import fit
    paths, summary = [], {}
    for method, name in (("cdni", "sg_cosine.png"), ("dni", "sg_cosine_dni.png")):
        trainer = traced_trainer(method, data, diagnose_every=5)
        trainer.trace.enabled = False
        fit(trainer, data, epochs, batch_size=64, rng=np.random.default_rng(0))
        paths.append(os.path.join(out_dir, name))
        plot.plot_sg_quality(trainer.diagnostics, paths[-1],
                             title=f"{plot.METHOD_LABELS[method]}, 4-layer MLP on the digits: "
                                   f"g_hat against the true gradient")
        mean = [float(np.mean([m["cosine"] for m in d["modules"]])) for d in trainer.diagnostics]
        summary[method] = {"steps": trainer.t, "first_mean_cosine": mean[0], "max_mean_cosine": max(mean),
                           "final_mean_cosine": mean[-1],
                           "final_cosine_per_module": [m["cosine"] for m in trainer.diagnostics[-1]["modules"]],
                           "max_cosine_per_module": [max(d["modules"][i]["cosine"] for d in trainer.diagnostics)
                                                     for i in range(len(trainer.diagnostics[0]["modules"]))]}
    return paths, summary


def results_figures(out_dir, s):
    """Test error of backprop, DNI and cDNI (paper Table 1): curves and the table as a figure."""
    methods = ["backprop", "dni", "cdni"]
    mlp = run_grid("digits", "mlp", s["depths"], methods, s["seeds"], s["epochs"])
    cnn = run_grid("digits", "cnn", [None], methods, s["seeds"], s["epochs"])
    p02 = run_grid("digits", "mlp", [4], methods[1:], s["seeds"], s["p_epochs"], update_prob=0.2)
    unlock = run_grid("digits", "mlp", [4], methods[1:], s["seeds"], s["epochs"], complete_unlock=True)
    groups = {f"{d}-layer FCN": [r for r in mlp if r["layers"] == d] for d in s["depths"]}
    groups["CNN"] = cnn
    groups[f"4-layer FCN, p = 0.2 ({s['p_epochs']} epochs)"] = p02
    groups["4-layer FCN, complete unlock"] = unlock
    paths = [os.path.join(out_dir, "results_table.png"), os.path.join(out_dir, "error_curves.png")]
    cells = plot.plot_results_table(
        groups, paths[0], methods, title="Test error (%) on the digits, every layer decoupled",
        note=f"mean ± std over seeds {', '.join(map(str, s['seeds']))}; {s['epochs']} epochs of Adam "
             "(lr 1e-3, batch 64) unless stated;\nDNI/cDNI: a zero-initialised linear M after every module "
             "(Adam, lr 1e-4); bold: best in the row")
    plot.plot_error_curves(mlp + cnn, paths[1])
    return paths, {f"{row} | {m}": {"mean": v[0], "std": v[1], "seeds": v[2]} for (row, m), v in cells.items()}


def make_figures(out_dir="figures", quick=False, only=None):
    """Regenerate the figures of the groups in `only` (default all of GROUPS) into out_dir.

    locking: timeline_*.png, locking.png, locking.gif; sg: sg_cosine*.png; results:
    results_table.png, error_curves.png; rnn: copy_table.png, charlm_*.png (minidni.plot_rnn);
    parallel: parallel_*.png (minidni.plot_parallel). The numbers the feed-forward figures
    show go to summary_<group>.json. Returns the paths written.
    """
    from .data import load_dataset
    only = list(GROUPS) if only is None else list(only)
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown figure group(s) {', '.join(unknown)}: choose from {', '.join(GROUPS)}")
    s = QUICK if quick else FULL
    os.makedirs(out_dir, exist_ok=True)
    data = load_dataset("digits", flat=True) if {"locking", "sg"} & set(only) else None
    makers = {"locking": lambda: locking_figures(data, out_dir, s["frames"]),
              "sg": lambda: sg_quality_figures(data, out_dir, s["sg_epochs"]),
              "results": lambda: results_figures(out_dir, s)}
    paths = []
    for group in only:
        if group in makers:
            made, numbers = makers[group]()
            paths += made
            paths.append(os.path.join(out_dir, f"summary_{group}.json"))
            with open(paths[-1], "w") as f:
                json.dump({"quick": quick, "settings": s, group: numbers}, f, indent=1)
        elif group in _optional_makers():
            paths += list(_optional_makers()[group](out_dir, quick) or [])
    return paths
