"""Grids never lose finished work: each run goes to a run log as it finishes, Ctrl-C keeps what
finished, and the same command again trains only the runs the log lacks, with the same numbers."""
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from minidni import backend
from minidni.errors import DataFileError
from minidni.experiments import CompareConfig, MultinetCompareConfig, RNNCompareConfig, run_compare
from minidni.experiments import feedforward, multinet, recurrent
from minidni.experiments.multinet import run_multinet_compare
from minidni.experiments.recurrent import run_rnn_compare
from minidni.experiments.runlog import RunLog, run_all, run_key
from minidni.experiments.table1 import Table1Config, run_table1
from minidni.plots.figures import group_log

GRID = CompareConfig(epochs=3, layers=[2], method=["backprop", "dni"], seed=[0, 1])
COMMAND = [sys.executable, "-m", "minidni", "compare", "--epochs", "3", "--layers", "2", "--method", "backprop",
           "dni", "--seed", "0", "1"]


@pytest.fixture(scope="module")
def uninterrupted():
    """The grid's results, trained in one go without a log."""
    return run_compare(GRID)


def _count_calls(monkeypatch, module, name):
    """Replace module.name by a wrapper that counts its calls; returns the list of calls' first arguments."""
    calls, original = [], getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)
    monkeypatch.setattr(module, name, counting)
    return calls


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def _errors(results):
    """What a rerun must reproduce bit for bit: each run's test errors, epoch by epoch."""
    return [[h["test_error"] for h in r["history"]] for r in results]


def _without_seconds(value):
    """`value` with every "seconds" entry dropped: the wall-clock times of two runs differ, nothing else may."""
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def test_a_grid_log_holds_one_line_per_finished_run(tmp_path, uninterrupted):
    results = run_compare(GRID, log=RunLog(tmp_path / "runs.jsonl"))
    lines = [json.loads(line) for line in _lines(tmp_path / "runs.jsonl")]
    assert [line["key"] for line in lines] == [run_key(c) for c in GRID.runs()]
    assert [line["result"] for line in lines] == json.loads(json.dumps(results))
    assert _errors(results) == _errors(uninterrupted)            # the log only stores: the same numbers


def test_a_rerun_trains_only_the_runs_the_log_lacks_and_returns_the_stored_ones_in_order(tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    first = run_compare(CompareConfig(epochs=1, layers=[2], method=["backprop"], seed=[1]), log=RunLog(path))
    trained = _count_calls(monkeypatch, feedforward, "train")
    reported = []
    grid = CompareConfig(epochs=1, layers=[2], method=["backprop"], seed=[0, 1, 2])
    results = run_compare(grid, reported.append, log=RunLog(path))
    assert [c.seed for c in trained] == [0, 2]                   # seed 1 came from the log
    assert [r["seed"] for r in reported] == [0, 2]               # progress: the runs trained, not the reused
    assert [r["seed"] for r in results] == [0, 1, 2] and results[1] == json.loads(json.dumps(first[0]))
    assert len(_lines(path)) == 3


def test_a_rerun_of_a_finished_grid_trains_nothing_and_gives_the_same_results(tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    first = run_compare(GRID, log=RunLog(path))
    trained = _count_calls(monkeypatch, feedforward, "train")
    assert run_compare(GRID, log=RunLog(path)) == json.loads(json.dumps(first)) and trained == []


def test_the_same_options_in_another_dtype_are_another_run(tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    grid = CompareConfig(epochs=1, layers=[2], method=["backprop"], seed=[0])
    run_compare(grid, log=RunLog(path))
    trained = _count_calls(monkeypatch, feedforward, "train")
    old = backend.get_dtype()
    backend.set_dtype("float64")
    try:
        run_compare(grid, log=RunLog(path))
    finally:
        backend.set_dtype(old)
    assert len(trained) == 1 and len(_lines(path)) == 2


def test_the_key_is_the_same_whatever_the_order_of_its_fields(tmp_path):
    log = RunLog(tmp_path / "runs.jsonl")
    log.add({"b": 1, "a": [1, 2]}, {"test_error": 1.5})
    assert {"a": [1, 2], "b": 1} in RunLog(tmp_path / "runs.jsonl")
    assert {"a": [1, 2], "b": 2} not in RunLog(tmp_path / "runs.jsonl")


def test_a_truncated_last_line_is_dropped_with_a_warning_and_the_next_run_starts_a_new_line(tmp_path):
    path = tmp_path / "runs.jsonl"
    log = RunLog(path)
    log.add({"run": 0}, {"test_error": 1.0})
    with open(path, "a") as f:
        f.write('{"key": {"run": 1}, "result": {"test_er')          # a crash in the middle of a write
    with pytest.warns(UserWarning, match="last line is incomplete"):
        log = RunLog(path)
    assert len(log) == 1 and {"run": 1} not in log
    log.add({"run": 1}, {"test_error": 2.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RunLog(path).get({"run": 1}) == {"test_error": 2.0} and len(_lines(path)) == 2


@pytest.mark.parametrize("bad", ['{"key": {"run": 1}, "result": {"test_er', "[1, 2]", '{"key": {"run": 1}}',
                                 "\xff\xfe"])
def test_a_corrupt_line_before_the_last_is_a_data_file_error_naming_the_file_and_the_line(tmp_path, bad):
    path = tmp_path / "runs.jsonl"
    good = json.dumps({"key": {"run": 0}, "result": {}})
    path.write_bytes(f"{good}\n{bad}\n{good}\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=f"{path}, line 2: not a run record"):
        RunLog(path)


def test_without_a_log_every_run_is_trained_and_reported():
    reported = []
    results = run_all([{"run": i} for i in range(3)], lambda todo, done: [done(f"run {i}") for i in todo],
                      progress=reported.append)
    assert results == reported == ["run 0", "run 1", "run 2"]


def test_a_log_that_cannot_be_read_is_a_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="cannot read the run log"):
        RunLog(tmp_path)


def test_a_run_interrupted_in_a_recurrent_grid_leaves_the_finished_ones_and_a_rerun_trains_the_rest(tmp_path,
                                                                                                     monkeypatch):
    grid = RNNCompareConfig("copy", runs=["bptt:3", "dni:3"], seed=[0, 1], quick=True, steps=10)
    uninterrupted = run_rnn_compare(grid)
    path, original = tmp_path / "runs.jsonl", recurrent.run_rnn

    def interrupted_at_the_third(config, *args, **kwargs):
        if len(_lines(path)) == 2:
            raise KeyboardInterrupt
        return original(config, *args, **kwargs)
    monkeypatch.setattr(recurrent, "run_rnn", interrupted_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_rnn_compare(grid, log=RunLog(path))
    assert len(_lines(path)) == 2
    monkeypatch.setattr(recurrent, "run_rnn", original)
    trained = _count_calls(monkeypatch, recurrent, "run_rnn")
    results = run_rnn_compare(grid, log=RunLog(path))
    assert [(c.method, c.seed) for c in trained] == [("dni", 0), ("dni", 1)]
    assert _without_seconds(results) == _without_seconds(uninterrupted)


def test_a_multinet_grid_resumes_from_its_log(tmp_path, monkeypatch):
    grid = MultinetCompareConfig(method=["locked", "dni"], seed=[0], quick=True, segments=2)
    path = tmp_path / "runs.jsonl"
    first = run_multinet_compare(MultinetCompareConfig(method=["dni"], seed=[0], quick=True, segments=2),
                                 log=RunLog(path))
    trained = _count_calls(monkeypatch, multinet, "run_multinet")
    results = run_multinet_compare(grid, log=RunLog(path))
    assert [c.method for c in trained] == ["locked"]
    assert results[1] == json.loads(json.dumps(first[0])) and len(_lines(path)) == 2


TABLE1 = Table1Config(depths=[3], seeds=[0], search_seeds=[0], epochs=1, p_epochs=1, quick=True)


@pytest.fixture(scope="module")
def table1(tmp_path_factory):
    """(the log, the output) of a tiny Table 1 run, uninterrupted, with a log."""
    path = tmp_path_factory.mktemp("table1") / "table1.jsonl"
    return path, run_table1(TABLE1, log=RunLog(path))


def test_table1_run_again_with_its_log_trains_nothing_and_gives_the_same_output(table1, monkeypatch):
    path, first = table1
    trained = _count_calls(monkeypatch, feedforward, "train")
    assert run_table1(TABLE1, log=RunLog(path)) == first and trained == []
    keys = [json.loads(line)["key"] for line in _lines(path)]
    assert {"stage", "value"} <= set(keys[0]) and {"row", "column"} <= set(keys[-1])
    assert len(keys) == len(first["search"]) + len(first["results"])


def test_table1_interrupted_in_the_table_resumes_to_the_output_of_an_uninterrupted_run(table1, tmp_path, monkeypatch):
    uninterrupted = table1[1]
    path, original = tmp_path / "table1.jsonl", feedforward.train
    search_runs = len(uninterrupted["search"])

    def interrupted_in_the_table(config, *args, **kwargs):
        if len(_lines(path)) == search_runs + 2:
            raise KeyboardInterrupt
        return original(config, *args, **kwargs)
    monkeypatch.setattr(feedforward, "train", interrupted_in_the_table)
    with pytest.raises(KeyboardInterrupt):
        run_table1(TABLE1, log=RunLog(path))
    monkeypatch.setattr(feedforward, "train", original)
    trained = _count_calls(monkeypatch, feedforward, "train")
    resumed = run_table1(TABLE1, log=RunLog(path))
    assert len(trained) == len(uninterrupted["results"]) - 2
    assert _without_seconds(resumed) == _without_seconds(uninterrupted)


def test_a_figure_group_log_stays_when_the_group_stops_and_goes_when_it_is_done(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with group_log(tmp_path, "rnn") as log:
            log.add({"run": 0}, {})
            raise KeyboardInterrupt
    assert len(RunLog(tmp_path / "rnn_runs.jsonl")) == 1
    with group_log(tmp_path, "rnn") as log:
        assert {"run": 0} in log
    assert not (tmp_path / "rnn_runs.jsonl").exists()


def _interrupt_after_first_line(command, process_group=False):
    """Start `command`, SIGINT it (or its process group, as Ctrl-C does) once it prints a line; (rc, stdout, stderr)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=process_group)
    first = process.stdout.readline()
    (os.killpg if process_group else os.kill)(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, first + out, err


def test_ctrl_c_on_compare_keeps_the_finished_runs_and_the_same_command_trains_only_the_rest(tmp_path, uninterrupted):
    command = COMMAND + ["--out", str(tmp_path)]
    rc, out, err = _interrupt_after_first_line(command)
    assert rc == 130
    assert err.splitlines() == [f"minidni: interrupted: {len(_lines(tmp_path / 'runs.jsonl'))} finished run(s) kept in "
                                f"{tmp_path / 'runs.jsonl'}; run the same command again to train only the rest"]
    kept = len(_lines(tmp_path / "runs.jsonl"))
    assert 1 <= kept < 4 and out.count(" seed=") == kept and not (tmp_path / "results.json").exists()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0
    assert f"holds {kept} finished run(s)" in rerun.stdout and rerun.stdout.count(" seed=") == 4 - kept
    results = json.loads((tmp_path / "results.json").read_text())
    assert _errors(results) == _errors(uninterrupted) and len(_lines(tmp_path / "runs.jsonl")) == 4


@pytest.mark.parametrize("command", [["rnn", "copy", "--compare", "--quick", "--steps", "800", "--runs", "bptt:3",
                                      "dni:3"],
                                     ["multinet", "--compare", "--quick", "--segments", "60", "--method", "locked",
                                      "dni", "--seed", "0"]])
def test_ctrl_c_on_a_recurrent_grid_says_in_one_line_what_was_kept_where(tmp_path, command):
    rc, out, err = _interrupt_after_first_line([sys.executable, "-m", "minidni", *command, "--out", str(tmp_path)])
    log = tmp_path / "runs.jsonl"
    assert rc == 130 and len(_lines(log)) >= 1
    assert err.splitlines() == [f"minidni: interrupted: {len(_lines(log))} finished run(s) kept in {log}; run the same "
                                "command again to train only the rest"]


POOL_SCRIPT = """
import multiprocessing, sys
from minidni.experiments import CompareConfig, run_compare
from minidni.experiments.runlog import RunLog

def progress(result):
    print(*[p.pid for p in multiprocessing.active_children()], flush=True)
try:
    run_compare(CompareConfig(epochs=5, layers=[2], method=["backprop", "dni"], seed=[0, 1, 2]), progress, jobs=2,
                log=RunLog(sys.argv[1]))
except KeyboardInterrupt:
    sys.exit(130)
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc") or "fork" not in __import__("multiprocessing").get_all_start_methods(),
                    reason="needs fork and /proc")
def test_ctrl_c_with_two_jobs_stops_the_workers_and_leaves_only_whole_lines(tmp_path):
    path = tmp_path / "runs.jsonl"
    rc, out, err = _interrupt_after_first_line([sys.executable, "-c", POOL_SCRIPT, str(path)], process_group=True)
    workers = [int(pid) for pid in out.split()]
    assert rc == 130 and "Traceback" not in err and len(workers) == 2
    deadline = time.time() + 10
    while any(map(_alive, workers)) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # no torn line to drop
        assert 1 <= len(RunLog(path)) < 6
