"""Experiments as data: a config dataclass per kind, and `run(config)` -> result.

    from minidni.experiments import TrainConfig, run
    result = run(TrainConfig(method="cdni", layers=4, epochs=5, seed=0))
    print(f"test error {result['test_error']:.2f}%")

| config             | what runs                                  | returns             |
|--------------------|--------------------------------------------|---------------------|
| TrainConfig        | one feed-forward network (paper §3.2)      | a result dict       |
| CompareConfig      | depths x methods x seeds of TrainConfigs   | a list of them      |
| RNNConfig          | Copy, Repeat-Copy or char-LM (paper §3.1)  | a result dict       |
| RNNCompareConfig   | (method, T) runs x seeds of RNNConfigs     | a list of them      |
| ParallelConfig     | one stage per MPI rank (minidni.parallel)  | a result on rank 0  |
| MultinetConfig     | two networks on two clocks (paper §3.3)    | a result dict       |
| MultinetCompareConfig | methods x seeds of MultinetConfigs      | a list of them      |

Each config's defaults and validity rules are written once, in the class; `check()`
raises UserError naming the option and the value. The commands (`python -m minidni`), the
figures (minidni.plots), the notebooks, the benchmarks and the tests all run these.
Every result is plain JSON (lists, dicts, numbers, strings).
"""
import os

from ..parallel import Config as ParallelConfig, train as train_parallel
from .feedforward import CompareConfig, TrainConfig, error_table, run_compare, run_train
from .multinet import MultinetCompareConfig, MultinetConfig, run_multinet, run_multinet_compare
from .recurrent import RNNCompareConfig, RNNConfig, run_rnn, run_rnn_compare
from .recurrent_report import results_table

RUNNERS = {TrainConfig: run_train, CompareConfig: run_compare, RNNConfig: run_rnn,
           RNNCompareConfig: run_rnn_compare, MultinetConfig: run_multinet, MultinetCompareConfig: run_multinet_compare}


def run(config, progress=None):
    """Run any experiment config; progress(record) is called as records or runs complete."""
    if isinstance(config, ParallelConfig):
        return train_parallel(config)
    try:
        runner = RUNNERS[type(config)]
    except KeyError:
        raise TypeError(f"run() takes one of {', '.join(c.__name__ for c in RUNNERS)} or ParallelConfig, "
                        f"got {type(config).__name__}") from None
    return runner(config, progress)


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


def quick():
    """Whether a notebook runs its quick (classroom) setting: yes, unless MINIDNI_FULL is set
    (to anything but "" or "0"). MINIDNI_QUICK=1 (the README's test command; tests/conftest.py
    sets it unless given) forces it even then."""
    return _flag("MINIDNI_QUICK") or not _flag("MINIDNI_FULL")


__all__ = ["TrainConfig", "CompareConfig", "RNNConfig", "RNNCompareConfig", "ParallelConfig", "MultinetConfig",
           "MultinetCompareConfig", "run", "quick",
           "run_train", "run_compare", "run_rnn", "run_rnn_compare", "error_table", "results_table"]
