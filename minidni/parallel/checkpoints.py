"""Per-rank checkpoints: each rank saves its own stage, atomically, and a job resumes from the
latest step that *every* rank has saved.

Files are DIR/stage{k}-step{s:08d}.npz, written by minidni.checkpoint (temporary file,
then rename), holding f_k, M_k and both optimisers' state. A rank keeps its newest two,
so a job stopped while some ranks had saved step s and others not yet still finds a
step all ranks share.
"""
import glob
import json
import os
import re

from .. import checkpoint
from ..errors import CheckpointError, UserError

KEEP = 2


def path_of(directory, rank, step):
    return os.path.join(directory, f"stage{rank}-step{step:08d}.npz")


def saved_steps(directory, rank):
    """The steps at which rank `rank` has a checkpoint in `directory`, ascending."""
    pattern = re.compile(rf"stage{rank}-step(\d+)\.npz$")
    found = (pattern.search(os.path.basename(p)) for p in glob.glob(os.path.join(directory, f"stage{rank}-step*.npz")))
    return sorted(int(m.group(1)) for m in found if m)


def save_stage(directory, stage, step, meta):
    """Save `stage` as of `step`; then delete all but this rank's newest KEEP checkpoints."""
    model, optimizers = stage.checkpointed()
    checkpoint.save(path_of(directory, stage.index, step), model, optimizers, meta={"step": step, **meta})
    for old in saved_steps(directory, stage.index)[:-KEEP]:
        os.unlink(path_of(directory, stage.index, old))


def common_step(comm, directory):
    """The newest step for which every rank has a checkpoint (all ranks get the same answer)."""
    steps = comm.allgather(saved_steps(directory, comm.rank))
    common = set.intersection(*map(set, steps))
    if not common:
        listing = "; ".join(f"rank {r}: {s or 'none'}" for r, s in enumerate(steps))
        raise UserError(f"--resume: no step has a checkpoint from every rank in {directory} ({listing})")
    return max(common)


def load_stage(directory, stage, step, expected):
    """Load rank `stage.index`'s checkpoint of `step`; `expected` meta (method, split) must match."""
    path = path_of(directory, stage.index, step)
    meta = checkpoint.read_meta(path)
    for key, value in expected.items():
        if meta.get(key) != value:
            raise CheckpointError(f"{path} was saved with {key}={meta.get(key)!r}, this job has {value!r}")
    model, optimizers = stage.checkpointed()
    checkpoint.load(path, model, optimizers)
    return meta


def split_meta(split):
    return json.dumps(list(split))
