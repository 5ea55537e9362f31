"""Per-rank checkpoints: each rank saves its own stage, atomically, and a job resumes from the
latest step that *every* rank has saved, readable, from the same run.

Files are DIR/stage{k}-step{s:08d}.npz, written by minidni.checkpoint (temporary file,
then rename), holding f_{k+1}, M_{k+2} and both optimisers' state, and the run's settings (every
option that changes the numbers). Rules:

- A rank keeps its newest `keep_count(...)` checkpoints: rank 0 can run up to
  (K-1)(max_lag+1) steps ahead of the last rank, so it keeps enough to still hold the
  newest step the last rank has saved, and a job stopped at any moment finds a common step.
- A fresh run refuses a directory that already holds checkpoints (of this run or another):
  nothing saved is overwritten or deleted by another run; `--resume` continues it.
- `--resume` refuses checkpoints saved with other settings, naming the first that
  differs, and skips a step whose file is damaged on any rank, falling back to the
  previous common step with a message.
"""
import glob
import json
import math
import os
import re
import sys

from .. import checkpoint
from ..errors import CheckpointError, UserError

# The options that change what a run computes: a resumed run must match them all.
SETTINGS = ("method", "dataset", "layers", "hidden", "batch_size", "optimizer", "lr", "sg", "sg_optimizer",
            "sg_lr", "sg_scale", "seed", "sync", "max_lag")


def path_of(directory, rank, step):
    return os.path.join(directory, f"stage{rank}-step{step:08d}.npz")


def saved_steps(directory, rank):
    """The steps at which rank `rank` has a checkpoint in `directory`, ascending."""
    pattern = re.compile(rf"stage{rank}-step(\d+)\.npz$")
    found = (pattern.search(os.path.basename(p)) for p in glob.glob(os.path.join(directory, f"stage{rank}-step*.npz")))
    return sorted(int(m.group(1)) for m in found if m)


def run_settings(config, split, dtype):
    """The settings a checkpoint records and a resumed run must match, as a JSON string."""
    settings = {name: getattr(config, name) for name in SETTINGS}
    settings.update(max_lag=config.lag, split=list(split), dtype=str(dtype))
    return json.dumps(settings, sort_keys=True)


def keep_count(K, lag, every):
    """Checkpoints each rank keeps: enough that rank 0, up to (K-1)(lag+1) steps ahead of the
    last rank, still holds the last rank's newest saved step."""
    return math.ceil((K - 1) * (lag + 1) / every) + 2


def check_fresh(directory, rank):
    """A new (not resumed) run: refuse a directory that already holds this rank's checkpoints."""
    steps = saved_steps(directory, rank)
    if steps:
        raise UserError(f"{directory} already holds checkpoints ({os.path.basename(path_of(directory, rank, steps[-1]))}"
                        f", ...): continue that run with --resume, or choose an empty directory")


def save_stage(directory, stage, step, meta, keep):
    """Save `stage` as of `step`; then delete all but this rank's newest `keep` checkpoints."""
    model, optimizers = stage.checkpointed()
    checkpoint.save(path_of(directory, stage.index, step), model, optimizers, meta={"step": step, **meta})
    for old in saved_steps(directory, stage.index)[:-keep]:
        os.unlink(path_of(directory, stage.index, old))


def _differences(saved, wanted):
    saved, wanted = json.loads(saved), json.loads(wanted)
    return [f"{k}={saved.get(k)!r} (this job: {wanted.get(k)!r})" for k in sorted(wanted) if saved.get(k) != wanted.get(k)]


def _usable(path, settings):
    """None if `path` is readable and of this run; else why not. Other settings raise UserError."""
    try:
        meta = checkpoint.read_meta(path)
        checkpoint.verify(path)
    except CheckpointError as e:
        return str(e)
    differ = _differences(meta.get("settings", "{}"), settings)
    if differ:
        raise UserError(f"--resume: {path} is from another run, saved with " + ", ".join(differ[:3]))
    return None


def common_step(comm, directory, settings):
    """The newest step that every rank has saved, readable, with these settings (all ranks agree).

    A damaged file on any rank makes every rank fall back to the previous common step.
    """
    steps = comm.allgather(saved_steps(directory, comm.rank))
    common = sorted(set.intersection(*map(set, steps)), reverse=True)
    for step in common:
        problem = _usable(path_of(directory, comm.rank, step), settings)
        if problem:
            print(f"minidni: rank {comm.rank}: {problem}; falling back to an earlier step", file=sys.stderr, flush=True)
        if all(p is None for p in comm.allgather(problem)):
            return step
    listing = "; ".join(f"rank {r}: {s or 'none'}" for r, s in enumerate(steps))
    raise UserError(f"--resume: no step has a readable checkpoint from every rank in {directory} ({listing})")


def load_stage(directory, stage, step):
    """Load rank `stage.index`'s checkpoint of `step` (checked by common_step); returns its meta."""
    path = path_of(directory, stage.index, step)
    model, optimizers = stage.checkpointed()
    checkpoint.load(path, model, optimizers)
    return checkpoint.read_meta(path)
