"""The benchmarks' tools: the per-layer clock, the phase profile and the A/B runner (not their timings)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minidni import backend

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

from phases import LayerClock, leaves, profile  # noqa: E402
from lstm_step import gemm_window  # noqa: E402
from step_time import gemm_steps, steps  # noqa: E402


def test_layer_clock_times_every_leaf_layer_and_changes_nothing_it_times():
    (bp, step), (twin, twin_step) = steps()["mlp"], steps()["mlp"]
    with LayerClock(bp.model) as clock:
        step()
    twin_step()
    for p, q in zip(bp.model.params.values(), twin.model.params.values()):
        np.testing.assert_array_equal(backend.to_numpy(p), backend.to_numpy(q))       # bit for bit
    names = [f"{name} {type(layer).__name__}" for name, layer in leaves(bp.model)]
    assert {label for label, _ in clock.seconds} == set(names) and len(names) == 7      # 4 Linear, 3 ReLU
    assert all(v > 0 for v in clock.seconds.values())
    assert all("forward" not in layer.__dict__ for _, layer in leaves(bp.model))        # unwrapped on exit


def test_profile_reports_the_phases_of_a_dni_step_and_the_layers_of_its_models():
    trainer, step = steps(hidden=16)["dni"]
    text, numbers = profile(trainer, step, 2, [trainer.model] + [M.model for M in trainer.M.values()])
    assert {"forward", "backward", "update", "sg_predict", "sg_update"} <= set(numbers["phases_ms"])
    assert any(k.startswith("M3.0 Linear") for k in numbers["layers_ms"])               # the third M's layer
    assert "all layers" in text and not trainer.trace.enabled


def test_every_timed_step_has_its_gemm_chain_and_each_runs():
    assert set(gemm_steps(hidden=16)) == set(steps(hidden=16))
    for run in [*gemm_steps(hidden=16).values(), gemm_window()]:
        run()


def test_ab_times_two_trees_interleaved_and_prints_their_ratio(tmp_path):
    root = os.path.dirname(BENCH)
    out = tmp_path / "ab.json"
    done = subprocess.run([sys.executable, os.path.join(BENCH, "ab.py"), root, "--repeats", "2", "--inner", "1",
                           "--threads", "1", "--kinds", "mlp", "--pause", "0", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["mlp"]["this_ms"] > 0 and result["mlp"]["other_ms"] > 0 and result["mlp"]["gemm_ms"] > 0
    assert result["mlp"]["outside_this_ms"] == pytest.approx(result["mlp"]["this_ms"] - result["mlp"]["gemm_ms"])
    assert "this / other" in done.stdout and "outside them" in done.stdout


def test_same_bits_finds_a_tree_identical_to_itself(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(BENCH, "same_bits.py"), os.path.dirname(BENCH),
                           "--steps", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 of 22 paths differ" in done.stdout and "lstm dni, 128 units" in done.stdout


def test_same_bits_reports_the_largest_change_of_a_path_that_moved():
    from same_bits import compare
    a = {"p": np.zeros(3, np.float32), "q": np.ones(2, np.float32)}
    this = {"unchanged": a, "moved": {"p": np.array([0, 2e-7, 0], np.float32), "q": a["q"]}, "missing": a}
    other = {"unchanged": {k: v.copy() for k, v in a.items()}, "moved": a}
    rows = dict(compare(this, other))
    assert rows["unchanged"] is None and rows["moved"] == pytest.approx(2e-7) and np.isnan(rows["missing"])


def test_ab_without_the_other_side_says_what_to_name():
    done = subprocess.run([sys.executable, os.path.join(BENCH, "ab.py")], capture_output=True, text=True)
    assert done.returncode == 2 and "git revision" in done.stderr


@pytest.fixture(autouse=True)
def _numpy():
    if backend.get_backend() != "numpy":
        pytest.skip("the benchmark tools are tested on the NumPy backend")


def test_window_cost_times_every_run_on_the_same_characters_and_prints_ratios_to_the_first(capsys):
    from window_cost import contender, main
    run, chars = contender("bptt", 8, 40, 10, 4, 8)
    run()
    assert chars == 40 * 4
    _, chars40 = contender("dni", 40, 40, 10, 4, 8)
    assert chars40 == chars                          # one window of 40 trains on what five of 8 do
    assert main(["--runs", "bptt:8", "dni:8", "--repeats", "1", "--chars", "16", "--hidden", "8", "--pause", "0"]) == 0
    out = capsys.readouterr().out
    assert "bptt:8" in out and "1.00 of bptt:8" in out and "of bptt:8" in out.split("dni:8")[1]
    for bad, says in ((["--runs", "bptt8"], "METHOD:T"), (["--runs", "bptt:0"], "-T")):
        with pytest.raises(SystemExit) as stop:
            main(bad)
        assert stop.value.code == 2 and says in capsys.readouterr().err
