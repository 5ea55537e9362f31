"""The command line: a thin layer over minidni.experiments. JSON, checkpoints, defaults in
--help, and one-line errors with exit status 2."""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from minidni.checkpoint import read_meta
from minidni.cli import build_parser, main
from minidni.cli.common import HelpFormatter

COMMANDS = ("train", "compare", "demo", "figures", "rnn", "parallel")


def run(*args):
    return subprocess.run([sys.executable, "-m", "minidni", *args], capture_output=True, text=True, timeout=300)


def subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_help_lists_every_command():
    out = run("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out.stdout, re.M), command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_with_a_default_shows_it_in_help(command):
    parser = subparsers()[command]
    formatter = HelpFormatter(prog="x")
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or action.default in (None, False):
            continue
        if action.default == argparse.SUPPRESS:
            continue
        assert "default" in formatter._get_help_string(action), (command, action.option_strings)
    text = parser.format_help()
    assert "register(subparsers)" not in text and "%(" not in text


def test_the_same_idea_has_the_same_spelling_in_every_command():
    choices = subparsers()
    for command in ("train", "compare", "rnn", "parallel"):
        options = {s for a in choices[command]._actions for s in a.option_strings}
        assert {"--seed", "--method", "--threads", "--backend"} <= options, command
        assert not {"--seeds", "--methods"} & options, command
        seed = next(a for a in choices[command]._actions if "--seed" in a.option_strings)
        assert seed.nargs == "+", command                     # one or more seeds everywhere


def test_train_writes_json_and_checkpoint(tmp_path, capsys):
    out, ckpt = tmp_path / "out.json", tmp_path / "ckpt.npz"
    assert main(["train", "--epochs", "2", "--layers", "3", "--hidden", "128", "--quiet",
                 "--json", str(out), "--save", str(ckpt)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"method", "dataset", "model", "seed", "test_error", "test_accuracy", "history",
                           "seconds", "config"}
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert set(result["history"][0]) >= {"epoch", "train_loss", "test_error", "seconds"}
    assert result["test_error"] == result["history"][-1]["test_error"] < 10
    assert result["test_error"] == pytest.approx(100 * (1 - result["test_accuracy"]))
    assert result["config"]["layers"] == 3 and result["config"]["hidden"] == 128
    assert read_meta(ckpt) == {"method": "backprop", "model": "mlp", "dataset": "digits"}
    assert "test error" in capsys.readouterr().out


def test_train_with_several_seeds_writes_one_result_per_seed(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["train", "--epochs", "1", "--layers", "2", "--hidden", "32", "--seed", "0", "1",
                 "--quiet", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [r["seed"] for r in results] == [0, 1]
    assert results[0]["test_error"] != results[1]["test_error"] or results[0]["history"] != results[1]["history"]
    assert "over 2 seeds" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["train", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["train", "--layers", "0"], "--layers must be at least 1, got 0"),
    (["train", "--epochs", "1", "--json", "/no/such/dir/out.json"], "directory /no/such/dir does not exist"),
    (["train", "--method", "dni", "--cuts", "9", "--epochs", "1"], "cut points must lie in"),
    (["train", "--method", "dni", "--update-prob", "0", "--epochs", "1"], "--update-prob must lie in (0, 1]"),
    (["train", "--epochs", "1", "--optimizer", "sgd", "--lr", "1e30", "--quiet"], "at step"),
    (["train", "--lr", "-1"], "--lr must be a finite number above 0, got -1.0"),
    (["train", "--lr", "nan"], "--lr must be a finite number above 0, got nan"),
    (["train", "--sg-lr", "-1"], "--sg-lr must be a finite number of at least 0, got -1.0"),
    (["train", "--seed", "-1"], "--seed must be at least 0, got -1"),
    (["train", "--seed", "0", "1", "--save", "x.npz"], "--save takes one --seed"),
    (["train", "--threads", "0"], "--threads must be at least 1, got 0"),
    (["compare", "--layers", "3", "0"], "--layers must be at least 1, got 0"),
    (["demo", "--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["rnn", "copy", "-T", "0"], "-T must be at least 1, got 0"),
    (["rnn", "copy", "--lr", "-1"], "--lr must be a finite number above 0, got -1.0"),
    (["rnn", "copy", "--threshold", "nan"], "--threshold must be a finite number above 0"),
    (["rnn", "copy", "--max-repeats", "2", "--quick"], "repeat-copy only"),
    (["rnn", "copy", "-T", "2", "3", "--quick"], "one -T"),
    (["rnn", "charlm", "--corpus", "/no/such/file.txt", "--quick", "--quiet"], "does not exist"),
    (["rnn", "copy", "--compare", "--runs", "sgd:3", "--quick"], "METHOD:T"),
    (["parallel", "--steps", "0"], "--steps must be at least 1, got 0"),
    (["parallel", "--time-limit", "-1"], "--time-limit must be a finite number above 0, got -1.0"),
    (["parallel", "--warmup", "-2"], "--warmup must be at least 0, got -2"),
    (["parallel", "--checkpoint-every", "5"], "--checkpoint-every needs --checkpoint-dir"),
])
def test_user_errors_print_one_line_and_exit_2(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_compare_writes_results_table_and_figure(tmp_path):
    assert main(["compare", "--layers", "2", "3", "--method", "backprop", "cdni", "--seed", "0", "1",
                 "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == 2 * 2 * 2
    table = (tmp_path / "table.md").read_text()
    assert "| layers | backprop | cdni |" in table and "| 3 |" in table and " ± " in table
    assert (tmp_path / "error_curves.png").stat().st_size > 1000


def test_demo_prints_the_three_methods(capsys):
    assert main(["demo", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert all(m in out for m in ("backprop", "dni", "cdni")) and "test error" in out


def test_rnn_runs_one_quick_task_and_writes_its_json(tmp_path, capsys):
    out = tmp_path / "copy.json"
    assert main(["rnn", "copy", "--method", "dni", "-T", "3", "--quick", "--steps", "5", "--quiet",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["method"], result["T"], result["steps"]) == ("dni", 3, 5)
    assert result["config"]["hidden"] == 16                   # --quick's size
    assert "largest length solved" in capsys.readouterr().out


def test_the_readme_python_example_runs_as_written():
    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Experiments from Python\n.*?```python\n(.*?)```", text, re.S).group(1)
    assert "run(" in block and len(block.strip().splitlines()) <= 8
    out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert re.search(r"test error \d+\.\d\d%", out.stdout)


def numeric_options():
    """(command, option, type) for every numeric option of every command."""
    for command, parser in subparsers().items():
        for action in parser._actions:
            if action.option_strings and action.type in (int, float) and action.help != argparse.SUPPRESS:
                yield command, action.option_strings[0], action.type


@pytest.mark.parametrize("command,option,kind", list(numeric_options()), ids=lambda v: str(getattr(v, "__name__", v)))
def test_every_numeric_option_of_every_command_refuses_negative_nan_and_inf(command, option, kind, capsys):
    for value in ("-5", "nan", "inf"):
        argv = [command, *(["copy"] if command == "rnn" else []), option, value, "--quiet"]
        if command in ("demo", "figures"):
            argv.remove("--quiet")
        try:
            code = main(argv)
        except SystemExit as e:                   # argparse: not a number of this type
            code = e.code
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1 and ("invalid" in err or option in err), (argv, err)


def test_missing_cupy_is_one_line_and_help_still_works():
    from minidni.backend import gpu_available
    if gpu_available():
        pytest.skip("CuPy and a GPU are here")
    env = {**os.environ, "MINIDNI_BACKEND": "cupy"}
    out = subprocess.run([sys.executable, "-m", "minidni", "train", "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "--backend" in out.stdout
    out = subprocess.run([sys.executable, "-m", "minidni", "train", "--epochs", "1"], capture_output=True, text=True,
                         env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "CuPy" in out.stderr


def test_a_loss_that_overflows_without_nan_stops_the_run_naming_the_step():
    out = run("train", "--lr", "1e9", "--epochs", "1", "--quiet")
    assert out.returncode == 2
    assert re.search(r"training diverged: loss .* above 100 times its first value .* at step 2;", out.stderr)


def test_the_multinet_command_runs_one_quick_system_and_writes_its_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["multinet", "--method", "truncated", "--quick", "--quiet", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["method"] == "truncated" and result["segments"] == 60 and len(result["history"]) == 60
    assert 0 <= result["test_error_b"] <= 100 and "validation error A" in capsys.readouterr().out


def test_help_shows_a_default_of_zero_too():
    formatter = HelpFormatter(prog="x")
    action = next(a for a in subparsers()["train"]._actions if "--diagnose-every" in a.option_strings)
    assert "(default: 0)" in formatter._get_help_string(action)


@pytest.mark.parametrize("args", [["rnn", "copy", "--compare", "--quick", "--json", "x.json"],
                                  ["multinet", "--compare", "--quick", "--json", "x.json"]])
def test_json_with_compare_is_refused_not_ignored(args, capsys):
    assert main(args) == 2
    assert "--json writes one run" in capsys.readouterr().err


def test_a_bad_mpi_start_timeout_is_a_user_error(monkeypatch):
    from minidni.errors import UserError
    from minidni.parallel.mpi import start_timeout
    monkeypatch.setenv("MINIDNI_MPI_START_TIMEOUT", "abc")
    with pytest.raises(UserError, match="MINIDNI_MPI_START_TIMEOUT must be a number"):
        start_timeout()
    monkeypatch.setenv("MINIDNI_MPI_START_TIMEOUT", "7.5")
    assert start_timeout() == 7.5
