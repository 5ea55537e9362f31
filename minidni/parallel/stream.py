"""Rank 0's stream of work: each epoch's batches, the evaluations, and when to stop."""
import json
import time

from ..backend import get_dtype, to_device
from ..data import batches


class Budget:
    """--steps and --time-limit: spent(step) once `steps` steps are done, or once `seconds`
    have passed since start() was first called (when the first step began)."""

    def __init__(self, steps=None, seconds=None):
        self.steps, self.seconds, self.started = steps, seconds, None

    def start(self):
        self.started = self.started or time.perf_counter()

    def spent(self, step):
        return ((self.steps is not None and step >= self.steps) or
                (self.seconds is not None and self.started is not None and
                 time.perf_counter() - self.started >= self.seconds))


class BatchStream:
    """Rank 0's messages: each epoch's batches, drawn from `rng` as train.fit draws them,
    an "eval" after every epoch (or once at the end), then "stop".

    It stops early after `config.steps` steps or `config.time_limit` seconds. `position()`
    says where it is (epoch, batches taken this epoch, the rng state at the epoch's start)
    so a checkpoint can resume the stream mid-epoch, batch for batch (`resume`).
    """

    def __init__(self, data, config, rng, step=0):
        self.data, self.config, self.rng = data, config, rng
        self.step, self.epoch, self.index, self.epoch_state = step, 1, 0, None

    def position(self):
        """Where the stream is, as a checkpoint's meta records it."""
        return {"epoch": self.epoch, "index": self.index, "rng": json.dumps(self.epoch_state)}

    def resume(self, meta):
        """Go on from where position() said the stream was (a checkpoint's meta)."""
        self.epoch, self.index, self.epoch_state = meta["epoch"], meta["index"], json.loads(meta["rng"])

    def __iter__(self):
        config, skip, evaluated = self.config, self.index, None
        budget = Budget(config.steps, config.time_limit)
        x_test = to_device(self.data.x_test, dtype=get_dtype())
        for self.epoch in range(self.epoch, config.epochs + 1):
            if skip:
                self.rng.bit_generator.state = self.epoch_state       # replay the interrupted epoch's order
            self.epoch_state = self.rng.bit_generator.state
            for self.index, (xb, yb) in enumerate(batches(self.data.x_train, self.data.y_train,
                                                          config.batch_size, self.rng), start=1):
                if self.index <= skip:
                    continue
                if budget.spent(self.step):
                    break
                budget.start()
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
