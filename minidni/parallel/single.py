"""One process: the whole network, trained by the one-process trainer of the same split.

`python -m minidni parallel` without mpiexec lands here: DNI / cDNI with a synthetic
gradient at each stage boundary (backprop for "locked", and for a single stage) through
minidni.train.fit, with the same seed, batches, step and time limits as the ranks, and a
result shaped like theirs (minidni.parallel.report).
"""
import dataclasses

from ..data import load_dataset
from ..errors import UserError
from ..train.loop import fit
from .report import history_record, print_record, result_of, stage_times
from .stages import build_network, build_trainer
from .stream import Budget


def run_single(config, faults=None):
    """The whole network in this process, trained by the one-process trainer of the same split.

    Returns the result dict; each stage's times come from the trainer's trace, as module i.
    faults: a FaultInjection (tests only) or None.
    """
    if config.checkpoint_dir:
        raise UserError("--checkpoint-dir needs several ranks (mpiexec -n K); "
                        "in one process use `python -m minidni train --save`")
    config.stages = config.stages or 1
    data = load_dataset(config.dataset, flat=True)
    model, rng, split = build_network(config, data)
    trainer = build_trainer(config, data, model, rng, split)
    clock, budget, step_ends, history = trainer.trace.clock, Budget(config.steps, config.time_limit), [], []

    def timed(batches, epoch):
        """fit's batches of `epoch`: each step's end is noted; the epoch ends early once the budget is spent."""
        for xb, yb in batches:
            if faults is not None:
                faults.check(trainer.t + 1, 0, 1)
            budget.start()
            yield xb, yb
            step_ends.append((trainer.t, clock(), len(yb)))
            if budget.spent(trainer.t):
                return

    def on_epoch(record):
        history.append(history_record(record["epoch"], record["step"], record["seconds"], record["train_loss"],
                                      record["test_accuracy"]))
        if not config.quiet:
            print_record(history[-1])

    start = clock()
    no_valid = dataclasses.replace(data, x_valid=None, y_valid=None)      # the ranks evaluate on the test set only
    fit(trainer, no_valid, config.epochs, config.batch_size, rng, progress=timed, on_epoch=on_epoch,
        stop=lambda: budget.spent(trainer.t), eval_every_epoch=config.eval == "epoch")
    summaries = [{"rank": 0, "stage": i, **stage_times(trainer.trace.events, i, config.warmup)}
                 for i in range(len(split))]
    summaries[-1].update(step_ends=step_ends, history=history)
    return result_of(config, split, summaries, start, [trainer.trace.events], message_seconds=0.0, clock_error=0.0,
                     resumed_from=None,
                     trained_as="backprop" if len(split) == 1 or config.method == "locked" else
                     f"one-process {config.method} with a synthetic gradient at each stage boundary")
