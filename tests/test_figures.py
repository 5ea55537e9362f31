"""Figures: the locking diagrams are the traces of real runs, bar for bar; make_figures writes every file."""
import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from minidni.data import load_dataset
from minidni.experiments import error_table
from minidni.experiments.locking import record_steps, traced_trainer, waiting_intervals
from minidni.plots import figures
from minidni.plots.timeline import animate_steps, plot_timeline
from minidni.plots.training import plot_results_table


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", flat=True)


def _trace(data, method="backprop", **options):
    trainer = traced_trainer(method, data, layers=4, hidden=16, **options)
    return record_steps(trainer, data, steps=2, warmup=1)


def _bars(trace):
    """Draw the trace; return [(event, x, width, y_centre)] for every bar drawn, in ms."""
    fig, ax = plt.subplots()
    drawn = plot_timeline(trace, ax)
    bars = [(e, r.get_x(), r.get_width(), r.get_y() + r.get_height() / 2) for e, r in zip(drawn, ax.patches)]
    assert len(ax.patches) == len(drawn)
    plt.close(fig)
    return bars


@pytest.mark.parametrize("method,options", [("backprop", {}), ("dni", {}), ("cdni", {"complete_unlock": True}),
                                            ("dni", {"update_prob": 0.5})])
def test_every_bar_is_one_traced_event_at_its_recorded_time_in_its_modules_lane(data, method, options):
    trace = _trace(data, method, **options)
    bars = _bars(trace)
    assert sorted(e for e, *_ in bars) == sorted(trace.events)
    t0 = trace.events[0].start
    for e, x, width, y in bars:
        assert x == pytest.approx((e.start - t0) * 1e3)
        assert width == pytest.approx((e.end - e.start) * 1e3)
        assert abs(y - e.module) < 0.5


def test_backprop_diagram_shows_update_locking_no_update_before_the_last_backward_ends(data):
    bars = _bars(_trace(data, "backprop"))
    for step in (2, 3):
        mine = [b for b in bars if b[0].step == step]
        last_backward_end = max(x + w for e, x, w, _ in mine if e.kind == "backward")
        assert min(x for e, x, _, _ in mine if e.kind == "update") >= last_backward_end
        # and the gradient comes back top down: the backward bars start in order 4, 3, 2, 1
        backward = sorted((x, e.module) for e, x, _, _ in mine if e.kind == "backward")
        assert [m for _, m in backward] == [3, 2, 1, 0]


def test_dni_diagram_shows_module_1_updated_before_the_last_module_runs_forward(data):
    bars = _bars(_trace(data, "dni"))
    for step in (2, 3):
        mine = [b for b in bars if b[0].step == step]
        update_1 = next((x + w) for e, x, w, _ in mine if e.kind == "update" and e.module == 0)
        forward_4 = next(x for e, x, _, _ in mine if e.kind == "forward" and e.module == 3)
        assert update_1 <= forward_4


def test_complete_unlock_diagram_runs_every_later_module_on_a_synthetic_input_first(data):
    bars = _bars(_trace(data, "dni", complete_unlock=True))
    for step in (2, 3):
        mine = [b for b in bars if b[0].step == step]
        for module in (1, 2, 3):
            predicted = next(x + w for e, x, w, _ in mine if e.kind == "input_predict" and e.module == module)
            forward = next(x for e, x, _, _ in mine if e.kind == "forward" and e.module == module)
            assert predicted <= forward


def test_module_1_waits_for_every_other_module_under_backprop_but_for_none_under_dni(data):
    for method, others_inside in (("backprop", {1, 2, 3}), ("dni", set())):
        trace = _trace(data, method)
        start, end = waiting_intervals(trace)[0, 3]
        inside = {e.module for e in trace.select(step=3) if start <= e.start and e.end <= end and e.module != 0}
        assert inside == others_inside, method


def test_results_table_figure_shows_the_numbers_of_error_table(tmp_path):
    results = [{"method": m, "layers": d, "test_error": err}
               for d in (3, 4) for m, base in (("backprop", 2.0), ("dni", 4.0)) for err in (base, base + d)]
    cells = plot_results_table({f"{d} layers": [r for r in results if r["layers"] == d] for d in (3, 4)},
                               tmp_path / "table.png")
    table = error_table(results)
    for (row, method), (mean, std, n) in cells.items():
        assert n == 2
        assert f"{mean:.2f} ± {std:.2f}" in table
    assert (tmp_path / "table.png").stat().st_size > 0


def test_animation_plays_both_traces_frame_by_frame_into_a_gif(data, tmp_path):
    traces = {"backprop": _trace(data, "backprop"), "DNI": _trace(data, "dni")}
    times = animate_steps(traces, tmp_path / "steps.gif", frames=6, hold=2, dpi=40)
    longest = max(1e3 * (t.events[-1].end - t.events[0].start) for t in traces.values())
    assert times[0] == 0 and times[-1] == pytest.approx(longest)
    with Image.open(tmp_path / "steps.gif") as gif:
        assert gif.n_frames >= 5          # identical frames (the held last one) may be merged


def test_make_figures_refuses_an_unknown_group(tmp_path):
    with pytest.raises(ValueError, match="unknown figure group.*rnns"):
        figures.make_figures(str(tmp_path), quick=True, only=["rnns"])


def test_make_figures_quick_writes_every_feed_forward_figure(tmp_path):
    paths = figures.make_figures(str(tmp_path), quick=True, only=["locking", "sg", "results"])
    names = {p.rsplit("/", 1)[-1] for p in paths}
    assert names == {"timeline_backprop.png", "timeline_dni.png", "timeline_unlock.png", "locking.png",
                     "locking.gif", "sg_cosine.png", "sg_cosine_dni.png", "sg_cosine_rnn.png", "results_table.png",
                     "results_dots.png", "results_curves.png", "results.md", "results_runs.json.gz",
                     "summary_locking.json", "summary_sg.json", "summary_results.json"}
    assert all((tmp_path / n).stat().st_size > 1000 for n in names if n.endswith((".png", ".gif")))
    locking = json.loads((tmp_path / "summary_locking.json").read_text())["locking"]
    assert [s["module_1_updated_before_last_forward"] for s in locking["backprop"]] == [False, False]
    assert [s["module_1_updated_before_last_forward"] for s in locking["dni"]] == [True, True]
    sg = json.loads((tmp_path / "summary_sg.json").read_text())["sg"]
    assert sg["cdni"]["first_mean_cosine"] == 0.0     # M starts at zero
    assert -1 <= sg["copy_dni_T3"]["max_cosine"] <= 1 and sg["copy_dni_T3"]["steps"] == 40
    results = json.loads((tmp_path / "summary_results.json").read_text())["results"]
    assert np.isfinite(results["cells"]["3-layer FCN | backprop"]["mean"])
    assert set(results["chosen"]) == {"lr", "sg_lr", "input_lr", "paper_sg_lr"}
    assert "## Test error (%) at the epoch of lowest validation error" in (tmp_path / "results.md").read_text()


def test_a_skipped_group_keeps_the_summary_on_disk(tmp_path, monkeypatch):
    (tmp_path / "summary_mnist5k.json").write_text("saved")
    monkeypatch.setattr(figures, "table1_figures", lambda *a, **k: ([], {}))
    assert figures.make_figures(str(tmp_path), quick=True, only=["mnist5k"]) == []
    assert (tmp_path / "summary_mnist5k.json").read_text() == "saved"


def test_recurrent_figures_quick(tmp_path):
    paths = figures.rnn_figures(str(tmp_path), quick=True)
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["charlm_steps.png", "charlm_wallclock.png",
                                                          "copy_table.png", "rnn.md"]
    table = (tmp_path / "rnn.md").read_text()
    assert "## copy" in table and "## repeat-copy" in table and "valid BPC" in table


def test_parallel_figures_quick(tmp_path):
    from minidni.parallel.mpi import find_mpiexec
    pytest.importorskip("mpi4py")
    try:
        find_mpiexec()
    except Exception as e:
        pytest.skip(str(e))
    paths, numbers = figures.parallel_figures(str(tmp_path), quick=True)
    assert numbers["dni"]["throughput"] > 0 and numbers["locked"]["split"] == numbers["dni"]["split"]
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["parallel_scaling.png", "parallel_timeline.png"]
    assert all((tmp_path / p.rsplit("/", 1)[-1]).stat().st_size > 1000 for p in paths)


def test_rnn_figures_from_json_draws_a_grid_saved_in_parts_as_one(tmp_path):
    import gzip
    from minidni.plots.figures import rnn_figures_from_json
    config = {"bits": 8, "hidden": 8, "cell": "lstm", "batch_size": 4, "lr": 3e-3, "sg_lr": 1e-3, "sg_scale": 1.0,
              "sg_input": "bounded"}
    paths = []
    for part, Ts in (("a", (2, 4)), ("b", (3,))):
        runs = [{"task": "copy", "method": m, "T": T, "seed": s, "solved": T + s + (m == "dni"), "steps": 10,
                 "config": config} for m in ("bptt", "dni") for T in Ts for s in (0, 1)]
        if part == "a":             # one run saved alone, as `rnn copy --json` writes it: a dict, not a list
            paths.append(tmp_path / "single.json")
            paths[-1].write_text(json.dumps(runs.pop()))
        paths.append(tmp_path / (f"{part}.json" + (".gz" if part == "b" else "")))
        with (gzip.open(paths[-1], "wt") if part == "b" else open(paths[-1], "w")) as f:
            json.dump(runs, f)
    written = rnn_figures_from_json([str(p) for p in paths], str(tmp_path / "out"))
    table = (tmp_path / "out" / "rnn.md").read_text()
    assert "| T=2 | T=3 | T=4 |" in table and "| dni | M on (h, tanh c) | 3.5 (3–4) | 4.5 (4–5) | 5.5 (5–6) |" in table
    assert any(p.endswith("copy_table.png") for p in written)


@pytest.mark.parametrize("task", ["copy", "repeat-copy", "charlm"])
def test_the_full_grids_are_the_ones_behind_the_committed_runs(task):
    """`figures --only rnn` (RNN_FULL) retrains exactly the runs of figures/rnn_runs.json.gz:
    the same (method, T, seed) and every recorded option alike (BPTT has no M: its target clip
    is moot; an option a run predates counts at its default, the behaviour it then had)."""
    import dataclasses
    import gzip
    from minidni.experiments import RNNCompareConfig
    from minidni.experiments.recurrent import RNNConfig
    from minidni.plots.figures import RNN_FULL
    defaults = {f.name: f.default for f in dataclasses.fields(RNNConfig)}

    def key(method, T, seed, settings):
        settings = {**{k: defaults[k] for k in ("clip", "m_average", "target_clip")}, **settings}
        if method == "bptt":
            settings["target_clip"] = 0.0
        return method, T, seed, json.dumps(settings, sort_keys=True)
    planned = set()
    for grid in RNN_FULL[task]:
        for c in RNNCompareConfig(task, **grid).check().configs():
            c = c.resolved()
            settings = {k: v for k, v in dataclasses.asdict(c).items() if k not in ("task", "method", "T", "seed")}
            planned.add(key(c.method, c.T, c.seed, settings))
    with gzip.open(os.path.join(os.path.dirname(__file__), "..", "figures", "rnn_runs.json.gz"), "rt") as f:
        committed = {key(r["method"], r["T"], r["seed"], r["config"]) for r in json.load(f) if r["task"] == task}
    assert committed == planned
