"""The loop every rank runs, decoupled (DNI, cDNI) or locked (model-parallel backprop).

Rank k holds the paper's module f_i, i = k + 1 (the numbering of minidni.parallel), and,
unless it is the last, M_{i+1}, which sits on f_i's output h_i. One training step t on rank k:

    h_{i-1} <- from rank k-1 (rank 0: the next batch, h_0 = x)
    h_i     = f_i(h_{i-1});  send h_i to rank k+1 at once (nonblocking)
    dh      = delta_L = dL/dh_L            last rank (i = L): the true gradient of the loss
            = delta_i, from rank k+1       locked: wait until rank k+1 has done its backward
            = g_hat_i = M_{i+1}(h_i, c)    DNI: predicted now, nobody waited for   (sg_predict)
    d_in    = f_i.backward(dh);  send d_in to rank k-1, where it is delta_{i-1} (locked)
              or M_i's bootstrapped target for g_hat_{i-1} (DNI)
    update f_i
    DNI: fit M_{i+1} to every target that rank k+1 has sent back since (sg_update), each
         some steps late; if more than `max_lag` are still owed, wait for one (throttle)

The synchronous check mode is the same loop with max_lag = 0: after step t every rank
waits for its target of step t, which makes it the one-process DNI trainer exactly.
"""
import json
from collections import Counter

import numpy as np

from ..backend import get_dtype, to_numpy
from ..data import load_dataset
from ..errors import UserError
from ..losses import SoftmaxCrossEntropy
from ..trace import Trace
from ..train.guard import DivergenceGuard
from . import checkpoints, mpi
from .protocol import Link, SharedClock, message_seconds
from .report import history_record, print_record, result_of, stage_times
from .single import run_single
from .stages import build_stage
from .stream import BatchStream


def train(config, comm=None, faults=None):
    """Run `config` on every rank of `comm` (default: MPI.COMM_WORLD, or one process without MPI).

    Returns the result dict on rank 0 (None on the others). With one process the whole
    network trains in it with the one-process trainer (DNI with cuts at the stage
    boundaries, or backprop), so the same command runs with or without mpiexec.
    faults: a FaultInjection (minidni.parallel.faults), for the tests.
    """
    config.check()
    comm = comm if comm is not None else mpi.world()
    size = 1 if comm is None else comm.size
    if size == 1:
        return run_single(config, faults)
    if config.stages not in (None, size):
        raise UserError(f"--stages {config.stages} needs {config.stages} ranks (mpiexec -n {config.stages}), got {size}")
    config.stages = size
    mpi.limit_blas_threads()
    with mpi.abort_on_error(comm):
        return run_rank(config, comm, faults)


class StageRunner:
    """Rank k's side of the pipeline: the loop of the module docstring, its records and checkpoints.

    stage: this rank's Stage (f_i, its optimiser, M_{i+1}); link: its Link to ranks k-1 and k+1;
    stream: rank 0's BatchStream (None elsewhere); step: the step it resumes after (0: a
    fresh run); faults: a FaultInjection (tests only) or None.
    """

    def __init__(self, stage, split, link, config, data, trace, clock, stream=None, step=0, faults=None):
        self.stage, self.split, self.link, self.config, self.trace, self.clock = stage, split, link, config, trace, clock
        self.stream, self.faults = stream, faults
        self.y_test = data.y_test
        self.locked = config.method == "locked"
        self.t = self.first_step = step         # the step this rank trained last (> 0 when resumed)
        self.staleness = Counter()              # steps late -> number of targets M_{i+1} was fitted to
        self.step_ends = []                     # (step, time its work ended, samples)
        self.history, self.guard = [], DivergenceGuard()
        self.start, self.seconds_before = clock(), 0.0         # seconds_before: trained before a resume
        self.loss_fn = SoftmaxCrossEntropy() if stage.last else None

    def run(self):
        """Work through the messages from rank k-1 (rank 0: its stream) until "stop", pass it on,
        then fit M_{i+1} to the targets still owed and wait until every send has arrived."""
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
        while self.stage.M is not None and self.stage.M.waiting:
            self.fit(self.link.recv_up(self.t))
        self.link.close()

    def train_step(self, t, h_in, y):
        """Step t of the module docstring: forward, the gradient for h_i, backward, update, fit M_{i+1}.

        h_in: (N, D_in) h_{i-1}, the activation rank k-1 sent (rank 0: the batch x);
        y: (N,) the labels (the loss's on the last rank, cDNI's context c elsewhere).
        """
        stage, k, trace = self.stage, self.stage.index, self.trace
        if self.faults is not None:
            self.faults.check(t, k, stage.K)
        self.t = t
        with trace.event(k, "forward", t):
            h = stage.f.forward(h_in)                                 # h_i: (N, D_out)
            if stage.last:
                loss = self.loss_fn.forward(h, y)
        if not stage.last:
            self.link.send_down(("data", t, h, y))                    # rank k+1 starts on it while we go on
        if stage.last:
            dh = self.loss_fn.backward()                              # delta_L
            self.guard.add(t, loss)
        elif self.locked:
            _, _, dh = self.link.recv_up(t)                           # delta_i: the backward lock
        else:
            with trace.event(k, "sg_predict", t):
                dh = stage.sg_scale * stage.M.predict(t, h, y if stage.conditional else None)   # g_hat_i
        with trace.event(k, "backward", t):
            d_in = stage.f.backward(dh)                               # (N, D_in)
        if not stage.first:
            self.link.send_up(("grad", t, d_in))
        with trace.event(k, "update", t):
            stage.optimizer.step()
        if stage.M is not None:
            while self.fit_arrived():
                pass
            while len(stage.M.waiting) > self.config.lag:           # throttle: too many targets owed
                self.fit(self.link.recv_up(t))
        self.step_ends.append((t, self.clock(), len(y)))
        if self.config.checkpoint_dir and self.config.checkpoint_every and t % self.config.checkpoint_every == 0:
            self.save_checkpoint(t)

    def fit_arrived(self):
        """Fit M_{i+1} to one target that has arrived, if any; True if there was one."""
        msg = self.link.poll_up() if self.stage.M is not None else None
        if msg is not None:
            self.fit(msg)
        return msg is not None

    def fit(self, msg):
        """Fit M_{i+1} to the target ("grad", s, target) of step s, and count how late it came."""
        _, s, target = msg
        self.staleness[self.t - s] += 1                          # how many steps f_i has taken since
        with self.trace.event(self.stage.index, "sg_update", s):
            self.stage.M.fit(s, target)

    def evaluate(self, epoch, t, h_in):
        """The test set through f_i in eval mode, passed on; the last rank records the test error."""
        f = self.stage.f
        with self.trace.event(self.stage.index, "eval", t):
            f.eval()
            h = f.forward(h_in)
            f.train()
        if not self.stage.last:
            self.link.send_down(("eval", epoch, t, h))
            return
        accuracy = float((to_numpy(h).argmax(axis=1) == self.y_test).mean())
        losses = self.guard.take()
        self.history.append(history_record(epoch, t, self.seconds_before + self.clock() - self.start,
                                           float(np.mean(losses)) if losses else None, accuracy))
        if not self.config.quiet:
            print_record(self.history[-1])

    def save_checkpoint(self, t):
        """Save this rank's stage as of step t (rank 0 also where its stream is), keeping the newest few."""
        config = self.config
        meta = {"settings": checkpoints.run_settings(config, self.split, get_dtype()), "rank": self.stage.index}
        if self.stream is not None:
            meta.update(self.stream.position())
        if self.stage.last:
            meta["progress"] = self.progress()
        keep = checkpoints.keep_count(len(self.split), config.lag, config.checkpoint_every)
        with self.trace.event(self.stage.index, "checkpoint", t):
            checkpoints.save_stage(config.checkpoint_dir, self.stage, t, meta, keep)

    def progress(self):
        """The last rank's history so far, as its checkpoints carry it (JSON): the records, the losses
        since the last one and the first loss (DivergenceGuard's), and the seconds trained."""
        losses = self.guard.take()
        self.guard.values = losses              # read for the checkpoint, and still counted in the next record
        return json.dumps({"history": self.history, "losses": losses, "first_loss": self.guard.first,
                           "seconds": self.seconds_before + self.clock() - self.start})

    def resume(self, meta):
        """Go on from a checkpoint's meta, as save_checkpoint wrote it: rank 0's stream from where it
        was; the last rank's history from its progress(), so that a resumed run's result holds every
        record since the run began and its next record counts the losses since the last one."""
        if self.stream is not None:
            self.stream.resume(meta)
        if "progress" in meta:                  # (checkpoints saved before the history was kept hold none)
            saved = json.loads(meta["progress"])
            self.history, self.guard.values, self.guard.first = saved["history"], saved["losses"], saved["first_loss"]
            self.seconds_before = saved["seconds"]

    def summary(self):
        """This rank's numbers for the result: per-step work, waits, staleness, (last rank) history."""
        out = {"rank": self.stage.index, "steps": self.t, "staleness": dict(sorted(self.staleness.items())),
               "clock_offset": getattr(self.clock, "offset", 0.0), "clock_error": getattr(self.clock, "error", 0.0),
               **stage_times(self.trace.events, self.stage.index, self.first_step + self.config.warmup)}
        if self.stage.last:
            out.update(history=self.history, step_ends=self.step_ends)
        return out


def restore(config, comm, stage, split):
    """(step, meta) to start from: (0, {}) for a fresh run (whose checkpoint directory must hold
    none yet); with --resume the newest step every rank has saved, loaded, and its checkpoint's meta."""
    if not config.resume:
        if config.checkpoint_dir:
            checkpoints.check_fresh(config.checkpoint_dir, comm.rank)
        return 0, {}
    step = checkpoints.common_step(comm, config.checkpoint_dir, checkpoints.run_settings(config, split, get_dtype()))
    return step, checkpoints.load_stage(config.checkpoint_dir, stage, step)


def run_rank(config, comm, faults=None):
    """One rank of a K-rank job: build the stage, sync the clocks, run the loop; rank 0 gathers
    every rank's numbers and trace and returns the result (minidni.parallel.report), the others None."""
    data = load_dataset(config.dataset, flat=True)
    stage, split = build_stage(config, data, comm.rank)
    clock = SharedClock(comm)
    trace = Trace(clock=clock, limit=config.trace_limit)
    link = Link(comm, trace, stage.index, timeout=config.recv_timeout)
    seconds_per_message = message_seconds(comm, (config.batch_size, config.hidden), get_dtype())
    step, meta = restore(config, comm, stage, split)
    stream = BatchStream(data, config, stage.rng, step) if stage.first else None
    runner = StageRunner(stage, split, link, config, data, trace, clock, stream, step, faults)
    if meta:
        runner.resume(meta)
    comm.Barrier()
    runner.start = start = comm.bcast(clock(), root=0)
    runner.run()
    summaries = comm.gather(runner.summary(), root=0)
    events = comm.gather([tuple(e) for e in trace.events], root=0)
    if comm.rank != 0:
        return None
    mode = f"{config.method}, one stage per rank" + (" (synchronous check mode)" if config.sync else "")
    return result_of(config, split, summaries, start, events, message_seconds=seconds_per_message,
                     resumed_from=step if config.resume else None,
                     clock_error=max(s["clock_error"] for s in summaries),
                     trained_as="model-parallel backprop" if config.method == "locked" else mode)
