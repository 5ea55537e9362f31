"""The loop every rank runs, decoupled (DNI, cDNI) or locked (model-parallel backprop).

Rank k holds stage f_k (contiguous modules of the network) and, unless it is the last,
the synthetic-gradient model M_k for f_k's output. One training step on rank k:

    h      <- the activation of step t from rank k-1 (rank 0: the next batch)
    h_out  = f_k(h);  send h_out to rank k+1 at once (nonblocking)
    delta  = dL/dh_out           last rank: the true gradient of the loss
           = M_k(h_out, c)       DNI: predicted now, nobody waited for   (sg_predict)
           = receive from k+1    locked: wait until rank k+1 has done its backward
    d_in   = f_k.backward(delta); send d_in to rank k-1  (M_{k-1}'s target, or its gradient)
    update f_k
    DNI: fit M_k to every target that rank k+1 has sent back since (sg_update), each
         some steps late; if more than `max_lag` are still missing, wait for one (throttle)

The synchronous check mode is the same loop with max_lag = 0: after step t every rank
waits for its target of step t, which makes it the one-process DNI trainer exactly.
"""
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backend import get_dtype, to_device, to_numpy
from ..errors import UserError
from ..options import check_at_least, check_choices, check_positive, option
from ..trace import Trace
from ..train.dni import LR, SG_LR
from ..train.guard import DivergenceGuard
from . import checkpoints, mpi
from .protocol import Link, SharedClock, message_seconds
from .stages import METHODS, build_network, build_stage, build_trainer

WORK = ("forward", "sg_predict", "backward", "update", "sg_update")   # what a stage computes per step


@dataclass
class Config:
    """Everything a parallel run needs: every option of the `parallel` command, one field each."""
    method: str = option("dni", "dni, cdni: decoupled stages; locked: model-parallel backprop", choices=METHODS)
    dataset: str = option("digits", "data set", choices=("digits", "mnist5k", "mnist", "cifar10"))
    layers: int = option(4, "Linear layers of the MLP (the modules to split)")
    hidden: int = option(256, "units per hidden layer")
    stages: Optional[int] = option(None, "number of stages K; with one process, K > 1 runs the one-process "
                                         "trainer of that split", default_text="the number of ranks")
    split: Optional[list] = option(None, "modules per stage, e.g. 7 8", many=True, type=int,
                                   default_text="balanced by estimated work, SG included")
    epochs: int = option(5, "passes over the training images")
    steps: Optional[int] = option(None, "stop after this many steps", default_text="no limit")
    time_limit: Optional[float] = option(None, "rank 0 stops feeding batches after this many seconds of training",
                                         default_text="no limit")
    batch_size: int = option(64, "mini-batch size")
    optimizer: str = option("adam", "optimiser of every stage", choices=("adam", "sgd"))
    lr: float = option(LR, "learning rate of the network")
    sg: str = option("linear", "dni, cdni: synthetic-gradient model M", choices=("linear", "mlp", "paper"))
    sg_optimizer: str = option("adam", "dni, cdni: optimiser of M", choices=("adam", "sgd"))
    sg_lr: float = option(SG_LR, "dni, cdni: learning rate of M")
    sg_scale: float = option(1.0, "dni, cdni: multiply g_hat by this before use")
    seed: int = option(0, "seeds weights and batch order")
    sync: bool = option(False, "check mode: every rank waits for its target each step (zero staleness); "
                               "equals the one-process DNI trainer with the same seed")
    max_lag: int = option(3, "targets a rank may be owed by the next one before it waits: bounds staleness "
                             "and buffered messages")
    eval: str = option("epoch", "test error after every epoch, or only at the end", choices=("epoch", "end"))
    warmup: int = option(3, "steps left out of the throughput and the per-stage times")
    checkpoint_dir: Optional[str] = option(None, "every rank saves its stage here")
    checkpoint_every: Optional[int] = option(None, "save every this many steps", default_text="100 with --checkpoint-dir")
    resume: bool = option(False, "continue from the newest step every rank has saved")
    recv_timeout: Optional[float] = option(None, "end the job when a neighbouring rank sends nothing for this "
                                                 "many seconds (a hung rank)", default_text="wait for ever")
    quiet: bool = option(True, "no per-epoch lines", cli=False)
    fail_at_step: Optional[int] = option(None, "tests: raise in rank fail_rank at this step", cli=False)
    fail_rank: Optional[int] = option(None, "tests: the failing rank (default the last)", cli=False)
    fail_mode: str = option("raise", "tests: raise an exception, exit at once (a killed rank), or hang",
                            choices=("raise", "exit", "hang"), cli=False)
    trace_limit: int = option(100_000, "events kept in the trace", cli=False)
    extra: dict = option({}, "free-form notes kept with the run", cli=False)

    def check(self):
        """Raise UserError for an option no run could use (called before anything starts)."""
        check_choices(self)
        check_at_least(self, 1, "layers", "hidden", "epochs", "batch_size", "stages", "split", "steps",
                       "checkpoint_every")
        check_at_least(self, 0, "max_lag", "warmup", "seed")
        check_positive(self, "lr", "time_limit", "recv_timeout")
        check_positive(self, "sg_lr", "sg_scale", zero_ok=True)
        if self.resume and not self.checkpoint_dir:
            raise UserError("--resume needs --checkpoint-dir")
        if self.checkpoint_every is not None and not self.checkpoint_dir:
            raise UserError("--checkpoint-every needs --checkpoint-dir")
        if self.checkpoint_dir and self.checkpoint_every is None:
            self.checkpoint_every = 100
        return self

    @property
    def lag(self):
        return 0 if self.sync else self.max_lag


def train(config, comm=None):
    """Run `config` on every rank of `comm` (default: MPI.COMM_WORLD, or one process without MPI).

    Returns the result dict on rank 0 (None on the others). With one process the whole
    network trains in it with the one-process trainer (DNI with cuts at the stage
    boundaries, or backprop), so the same command runs with or without mpiexec.
    """
    config.check()
    comm = comm if comm is not None else mpi.world()
    size = 1 if comm is None else comm.size
    if size == 1:
        return run_single(config)
    if config.stages not in (None, size):
        raise UserError(f"--stages {config.stages} needs {config.stages} ranks (mpiexec -n {config.stages}), got {size}")
    config.stages = size
    mpi.limit_blas_threads()
    with mpi.abort_on_error(comm):
        return run_rank(config, comm)


class BatchStream:
    """Rank 0's messages: each epoch's batches, drawn from `rng` as train.fit draws them,
    an "eval" after every epoch (or once at the end), then "stop".

    It stops early after `config.steps` steps or `config.time_limit` seconds. `position()`
    says where it is (epoch, batches taken this epoch, the rng state at the epoch's start)
    so a checkpoint can resume the stream mid-epoch, batch for batch.
    """

    def __init__(self, data, config, rng, step=0, epoch=1, index=0, epoch_state=None):
        self.data, self.config, self.rng = data, config, rng
        self.step, self.epoch, self.index, self.epoch_state = step, epoch, index, epoch_state

    def position(self):
        return {"epoch": self.epoch, "index": self.index, "rng": json.dumps(self.epoch_state)}

    def limit_reached(self, started):
        config = self.config
        return ((config.steps is not None and self.step >= config.steps) or
                (config.time_limit is not None and started is not None and
                 time.perf_counter() - started >= config.time_limit))

    def __iter__(self):
        from ..data import batches
        config, started, skip, evaluated = self.config, None, self.index, None
        x_test = to_device(self.data.x_test, dtype=get_dtype())
        for self.epoch in range(self.epoch, config.epochs + 1):
            if skip:
                self.rng.bit_generator.state = self.epoch_state       # replay the interrupted epoch's order
            self.epoch_state = self.rng.bit_generator.state
            for self.index, (xb, yb) in enumerate(batches(self.data.x_train, self.data.y_train,
                                                          config.batch_size, self.rng), start=1):
                if self.index <= skip:
                    continue
                if self.limit_reached(started):
                    break
                started = started or time.perf_counter()
                self.step += 1
                yield ("data", self.step, xb, yb)
            else:                                                        # the epoch ran to its end
                skip = 0
                if config.eval == "epoch" or self.epoch == config.epochs:
                    evaluated = self.step
                    yield ("eval", self.epoch, self.step, x_test)
                continue
            break
        if evaluated != self.step:
            yield ("eval", self.epoch, self.step, x_test)
        yield ("stop",)


class StageRunner:
    """Rank k's side of the pipeline: the loop of the module docstring, its records and checkpoints."""

    def __init__(self, stage, split, link, config, data, trace, clock, stream=None, step=0):
        self.stage, self.split, self.link, self.config, self.trace, self.clock = stage, split, link, config, trace, clock
        self.stream = stream                    # rank 0's BatchStream
        self.y_test = data.y_test
        self.locked = config.method == "locked"
        self.t = self.first_step = step         # the step this rank trained last (> 0 when resumed)
        self.staleness = Counter()              # steps late -> number of targets M_k was fitted to
        self.step_ends = []                     # (step, time its work ended, samples)
        self.history, self.guard = [], DivergenceGuard()
        self.start = clock()
        if stage.last:
            from ..losses import SoftmaxCrossEntropy
            self.loss_fn = SoftmaxCrossEntropy()

    def run(self):
        messages = iter(self.stream) if self.stage.first else None
        while True:
            msg = next(messages) if messages is not None else self.link.recv_down(self.t, idle=self.fit_arrived)
            if msg[0] == "data":
                self.train_step(*msg[1:])
            elif msg[0] == "eval":
                self.evaluate(*msg[1:])
            else:
                if not self.stage.last:
                    self.link.send_down(msg)
                break
        while self.stage.sg is not None and self.stage.sg.waiting:   # the targets still owed to M_k
            self.fit(self.link.recv_up(self.t))
        self.link.close()

    def train_step(self, t, h, y):
        stage, k, trace, config = self.stage, self.stage.index, self.trace, self.config
        if config.fail_at_step == t and k == (config.fail_rank if config.fail_rank is not None else stage.K - 1):
            inject_failure(config, t)
        self.t = t
        with trace.event(k, "forward", t):
            h_out = stage.f.forward(h)
            if stage.last:
                loss = self.loss_fn.forward(h_out, y)
        if not stage.last:
            self.link.send_down(("data", t, h_out, y))
        if stage.last:
            delta = self.loss_fn.backward()
            self.record_loss(t, loss)
        elif self.locked:
            _, _, delta = self.link.recv_up(t)                   # the backward lock: wait for rank k+1
        else:
            with trace.event(k, "sg_predict", t):
                delta = stage.sg_scale * stage.sg.predict(t, h_out, y if stage.conditional else None)
        with trace.event(k, "backward", t):
            d_in = stage.f.backward(delta)
        if not stage.first:
            self.link.send_up(("grad", t, d_in))
        with trace.event(k, "update", t):
            stage.optimizer.step()
        if stage.sg is not None:
            while self.fit_arrived():
                pass
            while len(stage.sg.waiting) > config.lag:           # throttle: too many targets owed
                self.fit(self.link.recv_up(t))
        self.step_ends.append((t, self.clock(), len(y)))
        if config.checkpoint_dir and config.checkpoint_every and t % config.checkpoint_every == 0:
            self.save_checkpoint(t)

    def fit_arrived(self):
        """Fit M_k to one target that has arrived, if any; True if there was one."""
        msg = self.link.poll_up() if self.stage.sg is not None else None
        if msg is not None:
            self.fit(msg)
        return msg is not None

    def fit(self, msg):
        _, s, target = msg
        self.staleness[self.t - s] += 1                          # how many steps f_k has taken since
        with self.trace.event(self.stage.index, "sg_update", s):
            self.stage.sg.fit(s, target)

    def record_loss(self, t, loss):
        self.guard.add(t, loss)

    def evaluate(self, epoch, t, h):
        f = self.stage.f
        with self.trace.event(self.stage.index, "eval", t):
            f.eval()
            out = f.forward(h)
            f.train()
        if not self.stage.last:
            self.link.send_down(("eval", epoch, t, out))
            return
        accuracy = float((to_numpy(out).argmax(axis=1) == self.y_test).mean())
        losses = self.guard.take()
        record = {"epoch": epoch, "step": t, "seconds": self.clock() - self.start,
                  "train_loss": float(np.mean(losses)) if losses else None, "test_accuracy": accuracy,
                  "test_error": 100 * (1 - accuracy)}
        self.history.append(record)
        if not self.config.quiet:
            loss = "-" if record["train_loss"] is None else f"{record['train_loss']:.4f}"
            print(f"epoch {epoch:3d}  step {t:5d}  train loss {loss}  test error {record['test_error']:.2f}%  "
                  f"({record['seconds']:.1f}s)", flush=True)

    def save_checkpoint(self, t):
        config = self.config
        meta = {"settings": checkpoints.run_settings(config, self.split, get_dtype()), "rank": self.stage.index}
        if self.stream is not None:
            meta.update(self.stream.position())
        keep = checkpoints.keep_count(len(self.split), config.lag, config.checkpoint_every)
        with self.trace.event(self.stage.index, "checkpoint", t):
            checkpoints.save_stage(config.checkpoint_dir, self.stage, t, meta, keep)

    def summary(self):
        """This rank's numbers for the result: per-step work, waits, staleness, (last rank) history."""
        out = {"rank": self.stage.index, "steps": self.t, "staleness": dict(sorted(self.staleness.items())),
               "clock_offset": getattr(self.clock, "offset", 0.0), "clock_error": getattr(self.clock, "error", 0.0),
               **stage_times(self.trace.events, self.stage.index, self.first_step + self.config.warmup)}
        if self.stage.last:
            out.update(history=self.history, step_ends=self.step_ends)
        return out


def stage_times(events, module, after):
    """Mean seconds per step that `module` spent in each kind of work, and waiting, in steps > `after`."""
    kinds = WORK + ("wait",)
    totals, steps = dict.fromkeys(kinds, 0.0), set()
    for e in events:
        if e.module == module and e.step > after and e.kind in kinds:
            totals[e.kind] += e.end - e.start
            if e.kind == "forward":
                steps.add(e.step)
    n = max(len(steps), 1)
    per_kind = {k: v / n for k, v in totals.items() if k != "wait"}
    return {"work": per_kind, "work_per_step": sum(per_kind.values()), "wait_per_step": totals["wait"] / n}


def pace(step_ends, warmup, start):
    """(samples per second, seconds per step) through the last stage, between the ends of its
    `warmup`-th and last steps; a run too short for a warm-up is measured from `start`."""
    if not step_ends:
        return 0.0, 0.0
    if len(step_ends) <= warmup:
        warmup = 0
    since = step_ends[warmup - 1][1] if warmup else start
    seconds = max(step_ends[-1][1] - since, 1e-12)
    return sum(n for _, _, n in step_ends[warmup:]) / seconds, seconds / (len(step_ends) - warmup)


def run_rank(config, comm):
    """One rank of a K-rank job: build the stage, sync the clocks, run the loop, gather the results."""
    from ..data import load_dataset
    data = load_dataset(config.dataset, flat=True)
    stage, split = build_stage(config, data, comm.rank)
    clock = SharedClock(comm)
    trace = Trace(clock=clock, limit=config.trace_limit)
    link = Link(comm, trace, stage.index, timeout=config.recv_timeout)
    seconds_per_message = message_seconds(comm, (config.batch_size, config.hidden), get_dtype())
    step, position = 0, {}
    if config.checkpoint_dir and not config.resume:
        checkpoints.check_fresh(config.checkpoint_dir, comm.rank)
    if config.resume:
        settings = checkpoints.run_settings(config, split, get_dtype())
        step = checkpoints.common_step(comm, config.checkpoint_dir, settings)
        meta = checkpoints.load_stage(config.checkpoint_dir, stage, step)
        if stage.first:
            position = dict(epoch=meta["epoch"], index=meta["index"], epoch_state=json.loads(meta["rng"]))
    stream = BatchStream(data, config, stage.rng, step, **position) if stage.first else None
    runner = StageRunner(stage, split, link, config, data, trace, clock, stream, step)
    comm.Barrier()
    runner.start = start = comm.bcast(clock(), root=0)
    runner.run()
    summaries = comm.gather(runner.summary(), root=0)
    events = comm.gather([tuple(e) for e in trace.events], root=0)
    if comm.rank != 0:
        return None
    result = _result(config, split, summaries, start, comm.size)
    result.update(message_seconds=seconds_per_message, resumed_from=step if config.resume else None,
                  clock_error=max(s["clock_error"] for s in summaries),
                  trained_as="model-parallel backprop" if config.method == "locked" else
                  f"{config.method}, one stage per rank" + (" (synchronous check mode)" if config.sync else ""))
    result["trace"] = [{"rank": r, "module": e[0], "kind": e[1], "step": e[2], "start": e[3] - start,
                        "end": e[4] - start} for r, rank_events in enumerate(events) for e in rank_events]
    return result


def _result(config, split, summaries, start, ranks):
    last = summaries[-1]
    ends, history = last.pop("step_ends"), last.pop("history")
    rate, step_seconds = pace(ends, config.warmup, start)
    return {"method": config.method, "sync": config.sync, "ranks": ranks, "stages": len(split), "split": split,
            "layers": config.layers, "hidden": config.hidden, "batch_size": config.batch_size, "seed": config.seed,
            "max_lag": config.lag, "steps": ends[-1][0] if ends else 0, "samples": sum(n for _, _, n in ends),
            "seconds": ends[-1][1] - start if ends else 0.0,
            "throughput": rate, "step_seconds": step_seconds,
            "test_accuracy": history[-1]["test_accuracy"] if history else None,
            "test_error": history[-1]["test_error"] if history else None,
            "history": history, "per_stage": summaries}


def inject_failure(config, t):
    """Tests: fail as --fail-mode says at step t: raise, exit at once as a killed rank would, or hang."""
    if config.fail_mode == "exit":
        os._exit(9)
    if config.fail_mode == "hang":
        while True:
            time.sleep(1)
    raise RuntimeError(f"injected failure at step {t} (--fail-at-step)")


def run_single(config):
    """The whole network in this process, trained by the one-process trainer of the same split."""
    from ..data import load_dataset
    from ..train.loop import evaluate
    if config.checkpoint_dir:
        raise UserError("--checkpoint-dir needs several ranks (mpiexec -n K); "
                        "in one process use `python -m minidni train --save`")
    config.stages = config.stages or 1
    data = load_dataset(config.dataset, flat=True)
    model, rng, split = build_network(config, data)
    trainer = build_trainer(config, data, model, rng, split)
    trace, clock = trainer.trace, trainer.trace.clock
    step_ends, history, start, guard = [], [], clock(), DivergenceGuard()
    for msg in BatchStream(data, config, rng):
        if msg[0] == "data":
            _, t, xb, yb = msg
            if config.fail_at_step == t:
                inject_failure(config, t)
            guard.add(t, trainer.step(xb, yb))
            step_ends.append((t, clock(), len(yb)))
        elif msg[0] == "eval":
            _, epoch, t, _ = msg
            losses = guard.take()
            record = {"epoch": epoch, "step": t, "seconds": clock() - start,
                      "train_loss": float(np.mean(losses)) if losses else None,
                      "test_accuracy": evaluate(trainer.model, data.x_test, data.y_test)}
            record["test_error"] = 100 * (1 - record["test_accuracy"])
            history.append(record)
            if not config.quiet:
                print(f"epoch {epoch:3d}  step {t:5d}  test error {record['test_error']:.2f}%  "
                      f"({record['seconds']:.1f}s)", flush=True)
    summaries = [{"rank": 0, "stage": i, **stage_times(trace.events, i, config.warmup)} for i in range(len(split))]
    summaries[-1].update(step_ends=step_ends, history=history)
    result = _result(config, split, summaries, start, 1)
    result.update(message_seconds=0.0, clock_error=0.0, resumed_from=None,
                  trained_as="backprop" if len(split) == 1 or config.method == "locked" else
                  f"one-process {config.method} with a synthetic gradient at each stage boundary")
    result["trace"] = [{"rank": 0, "module": e.module, "kind": e.kind, "step": e.step, "start": e.start - start,
                        "end": e.end - start} for e in trace.events]
    return result
