"""The options of a parallel run: every option of the `parallel` command, declared once."""
from dataclasses import dataclass
from typing import Optional

from ..errors import UserError
from ..memory import check_fits, feedforward
from ..options import check_at_least, check_positive, option
from ..train.dni import SGOptions
from .stages import METHODS


@dataclass
class Config(SGOptions):
    """Everything a parallel run needs: every option of the `parallel` command, one field each.

    The optimisers' and M's options are SGOptions' fields (minidni.train.dni), inherited;
    a pipeline runs every module on every step with real inputs, so p < 1, complete
    unlock and the diagnostics are the one-process trainer's only.
    """
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
    trace_limit: int = option(100_000, "events kept in the trace", cli=False)
    extra: dict = option({}, "free-form notes kept with the run", cli=False)

    def check(self):
        """Raise UserError for an option no run could use (called before anything starts): a value of
        the wrong type (SGOptions.check checks every field's first), or one no run could use, or a
        network too large for this machine's memory (minidni.memory)."""
        super().check()
        check_at_least(self, 1, "layers", "hidden", "epochs", "batch_size", "stages", "split", "steps",
                       "checkpoint_every")
        check_at_least(self, 0, "max_lag", "warmup", "seed")
        check_positive(self, "time_limit", "recv_timeout")
        if self.update_prob != 1 or self.complete_unlock or self.diagnose_every:
            raise UserError("--update-prob, --complete-unlock and --diagnose-every are for `train` (one process): "
                            "every stage of a pipeline runs every step")
        if self.resume and not self.checkpoint_dir:
            raise UserError("--resume needs --checkpoint-dir")
        if self.checkpoint_every is not None and not self.checkpoint_dir:
            raise UserError("--checkpoint-every needs --checkpoint-dir")
        if self.checkpoint_dir and self.checkpoint_every is None:
            self.checkpoint_every = 100
        check_fits(self, feedforward)
        return self

    @property
    def lag(self):
        """The targets a rank may be owed before it waits: max_lag, or 0 in the synchronous mode."""
        return 0 if self.sync else self.max_lag
