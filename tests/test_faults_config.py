"""Faults in what a run is given, refused up front in one line (issue 29): option types, sizes beyond the
machine's memory, checkpoint headers that claim more than the file holds, bad environment variables."""
import dataclasses
import io
import json
import math
import os
import pathlib
import subprocess
import sys
import time
import tracemalloc
import typing
import zipfile

import numpy as np
import pytest

from minidni.checkpoint import load, read_meta, verify
from minidni.data.cache import data_dir
from minidni.errors import CheckpointError, DataFileError, UserError
from minidni.experiments import CompareConfig, MultinetConfig, RNNCompareConfig, RNNConfig, TrainConfig
from minidni.experiments.table1 import Table1Config
from minidni.memory import available, feedforward, multinet, recurrent
from minidni.nn import Linear, Sequential
from minidni.options import flag_of
from minidni.parallel import Config as ParallelConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = (TrainConfig, CompareConfig, ParallelConfig, RNNConfig, RNNCompareConfig, MultinetConfig, Table1Config)


def cli(*args, env=None):
    """(the finished `python -m minidni ARGS` process, its seconds)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "minidni", *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, timeout=120)
    return out, time.perf_counter() - start


def the_one_line(out):
    """The single stderr line of a process that exited with status 2, without a traceback."""
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


# Option types (item 4): each refusal a UserError naming the option as the command line spells it, and the value.

@pytest.mark.parametrize("config,message", [
    (TrainConfig(lr=None), "--lr takes a number, got None"),
    (TrainConfig(seed=None), "--seed takes an integer, got None"),
    (TrainConfig(layers=True), "--layers takes an integer, got True"),
    (TrainConfig(layers=2.5), "--layers takes an integer, got 2.5"),
    (TrainConfig(layers=2.0), "--layers takes an integer, got 2.0"),
    (TrainConfig(lr=True), "--lr takes a number, got True"),
    (TrainConfig(lr="0.1"), "--lr takes a number, got '0.1'"),
    (TrainConfig(sg_hidden=1e8), "--sg-hidden takes an integer, got 100000000.0"),
    (TrainConfig(complete_unlock=1), "--complete-unlock takes True or False, got 1"),
    (TrainConfig(method=3), "--method takes a string, got 3"),
    (ParallelConfig(steps=2.5), "--steps takes an integer, got 2.5"),
    (ParallelConfig(time_limit="10"), "--time-limit takes a number, got '10'"),
    (RNNConfig(T="8"), "-T takes an integer, got '8'"),
    (RNNConfig(hidden=16.0), "--hidden takes an integer, got 16.0"),
    (RNNConfig(quick="yes"), "--quick takes True or False, got 'yes'"),
    (MultinetConfig(K=None), "-K takes an integer, got None"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_the_option_and_the_value(config, message):
    with pytest.raises(UserError) as e:
        config.check()
    assert str(e.value) == message


@pytest.mark.parametrize("config,message", [
    (CompareConfig(layers=[3, "4"]), "--layers takes an integer, got '4'"),
    (CompareConfig(seed=[0, 1.5]), "--seed takes an integer, got 1.5"),
    (CompareConfig(method="dni"), "--method takes a list, got 'dni'"),
    (TrainConfig(cuts=[0, None]), "--cuts takes an integer, got None"),
    (RNNCompareConfig(T=[2, 3.0]), "-T takes an integer, got 3.0"),
    (Table1Config(seeds=[0, True]), "--seeds takes an integer, got True"),
])
def test_a_list_option_takes_a_list_of_its_own_type(config, message):
    with pytest.raises(UserError) as e:
        config.check()
    assert str(e.value) == message


def test_every_float_option_of_every_config_refuses_nan_and_inf_by_name():
    """check_types takes any number for a float; each option's range check must refuse what is not finite."""
    for config_class in CONFIGS:
        hints = typing.get_type_hints(config_class)
        for f in dataclasses.fields(config_class):
            if float not in (hints[f.name], *typing.get_args(hints[f.name])):
                continue
            for bad in (math.nan, math.inf, -math.inf):
                with pytest.raises(UserError, match=flag_of(f)):
                    config_class(**{f.name: bad}).check()


def test_numpy_numbers_are_taken_as_the_python_numbers_they_hold_so_results_stay_json():
    config = TrainConfig(seed=np.int64(2), lr=np.float32(0.5), layers=np.int32(3)).check()
    assert (type(config.seed), type(config.lr), type(config.layers)) == (int, float, int)
    assert json.loads(json.dumps(dataclasses.asdict(config)))["seed"] == 2


def test_the_methods_and_ts_of_a_recurrent_grid_still_take_method_t_pairs():
    assert RNNCompareConfig("copy", runs=[("bptt", 2), "dni:3"], quick=True).check().pairs() == [("bptt", 2),
                                                                                                ("dni", 3)]


# Sizes (item 3): the estimate against the machine's memory, before anything is built.

needs_less_than_400_gb = pytest.mark.skipif((available()[0] or 0) > 400e9, reason="this machine could hold these")


@needs_less_than_400_gb
@pytest.mark.parametrize("args,named", [
    (["train", "--hidden", "100000000"], "--hidden 100000000"),
    (["train", "--layers", "100000"], "--layers 100000"),
    (["train", "--method", "dni", "--sg", "mlp", "--sg-hidden", "100000000"], "--sg-hidden 100000000"),
    (["compare", "--layers", "3", "100000"], "--layers 100000"),
    (["rnn", "copy", "--batch-size", "1000000000"], "--batch-size 1000000000"),
    (["rnn", "copy", "--bits", "40", "--encoding", "symbol"], "--bits 40"),
    (["multinet", "--batch-size", "100000000"], "--batch-size 100000000"),
    (["parallel", "--hidden", "10000000"], "--hidden 10000000"),
])
def test_a_run_too_large_for_the_machine_is_refused_in_seconds_with_the_estimate(args, named):
    out, seconds = cli(*args, "--quiet")
    line = the_one_line(out)
    assert line.startswith(f"minidni: error: {named}: this run needs about "), line
    assert "more than the" in line and "parameters and gradients" in line
    assert seconds < 5, seconds


def test_sizes_that_are_not_integers_are_refused_by_the_parser():
    for args in (["train", "--sg-hidden", "1e8"], ["rnn", "copy", "--batch-size", "1e9"]):
        assert "invalid int value" in the_one_line(cli(*args)[0])


def test_copy_patterns_wider_than_an_int64_are_refused():
    assert "--bits takes at most 62" in the_one_line(cli("rnn", "copy", "--bits", "63", "--quick")[0])


def test_the_estimate_of_a_deep_network_is_counted_not_built():
    start = time.perf_counter()
    parts = feedforward(TrainConfig(layers=10 ** 12))
    assert time.perf_counter() - start < 0.1 and sum(parts.values()) > 10 ** 18     # 4 EB


def test_the_papers_largest_runs_fit_in_a_few_gigabytes():
    """Nothing the figures, the tables or the tests train may be refused: the largest of them are far below."""
    runs = [feedforward(TrainConfig(dataset="cifar10", model="cnn", method="cdni", sg="paper",
                                    sg_condition="channels", complete_unlock=True)),
            feedforward(TrainConfig(dataset="mnist", layers=6, method="dni", sg="paper", complete_unlock=True)),
            feedforward(ParallelConfig(layers=15, hidden=512, batch_size=256)),
            recurrent(RNNConfig("charlm", method="dni-aux", T=40).resolved()),
            recurrent(RNNConfig("repeat-copy", method="dni").resolved()),
            multinet(MultinetConfig(), 512)]
    assert max(sum(parts.values()) for parts in runs) < 4e9


# Checkpoint headers: bounded before a byte of the array is read.

def test_a_checkpoint_whose_header_claims_a_trillion_values_is_refused_before_allocating(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 12,)})
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("param/0.W.npy", header.getvalue() + b"\0" * 4)
    tracemalloc.start()
    try:
        for read in (lambda p: load(p, Sequential(Linear(3, 2))), read_meta, verify):
            with pytest.raises(CheckpointError, match=r"forged.npz: param/0.W claims 1,000,000,000,000 values "
                                                      r"of float32 .* but holds 4 bytes"):
                read(path)
        assert tracemalloc.get_traced_memory()[1] < 10 ** 7
    finally:
        tracemalloc.stop()


# Environment variables: one line naming the variable, from the command line and from Python.

def test_a_dtype_variable_that_names_no_dtype_is_one_line_not_a_traceback_at_import():
    env = {"MINIDNI_DTYPE": "float16"}
    line = the_one_line(cli("train", "--epochs", "1", env=env)[0])
    assert "MINIDNI_DTYPE=float16" in line and "float32 or float64" in line
    code = ("import minidni, minidni.errors\n"
            "try:\n    minidni.get_dtype()\n"
            "except minidni.errors.UserError as e:\n    print('UserError:', e)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("UserError: MINIDNI_DTYPE=float16"), out


def test_a_data_variable_naming_a_file_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("not a folder")
    env = {"MINIDNI_DATA": str(not_a_folder), "MINIDNI_NO_DOWNLOAD": "1"}
    for args in (["train", "--dataset", "cifar10", "--epochs", "1"], ["rnn", "charlm", "--corpus", "ptb", "--quick"]):
        line = the_one_line(cli(*args, "--quiet", env=env)[0])
        assert f"MINIDNI_DATA={not_a_folder}: {not_a_folder} is not a directory" in line, line
    monkeypatch.setenv("MINIDNI_DATA", str(not_a_folder))
    with pytest.raises(DataFileError, match="MINIDNI_DATA="):
        data_dir()
