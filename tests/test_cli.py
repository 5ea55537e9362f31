"""The command line: training, JSON and checkpoints, and one-line errors with exit status 2."""
import json
import subprocess
import sys

import pytest

from minidni.checkpoint import read_meta
from minidni.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "minidni", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ("train", "compare", "demo"):
        assert command in out.stdout


def test_train_writes_json_and_checkpoint(tmp_path, capsys):
    out, ckpt = tmp_path / "out.json", tmp_path / "ckpt.npz"
    assert main(["train", "--epochs", "2", "--layers", "3", "--hidden", "128", "--quiet",
                 "--json", str(out), "--save", str(ckpt)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"method", "dataset", "model", "seed", "test_accuracy", "history", "seconds"}
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert set(result["history"][0]) >= {"epoch", "train_loss", "test_accuracy", "seconds"}
    assert result["test_accuracy"] == result["history"][-1]["test_accuracy"] > 0.9
    assert read_meta(ckpt) == {"method": "backprop", "model": "mlp", "dataset": "digits"}
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["train", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["train", "--layers", "0"], "--layers and --hidden must be positive"),
    (["train", "--epochs", "1", "--json", "/no/such/dir/out.json"], "directory /no/such/dir does not exist"),
    (["train", "--method", "dni", "--cuts", "9", "--epochs", "1"], "cut points must lie in"),
    (["train", "--method", "dni", "--update-prob", "0", "--epochs", "1"], "--update-prob must lie in (0, 1]"),
    (["train", "--epochs", "1", "--optimizer", "sgd", "--lr", "1e30", "--quiet"], "at step"),
])
def test_user_errors_print_one_line_and_exit_2(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_compare_writes_results_table_and_figure(tmp_path):
    assert main(["compare", "--layers", "2", "3", "--methods", "backprop", "cdni", "--seeds", "0", "1",
                 "--epochs", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == 2 * 2 * 2
    table = (tmp_path / "table.md").read_text()
    assert "| layers | backprop | cdni |" in table and "| 3 |" in table and " ± " in table
    assert (tmp_path / "error_curves.png").stat().st_size > 1000


def test_demo_prints_the_three_methods(capsys):
    assert main(["demo", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert all(m in out for m in ("backprop", "dni", "cdni"))
