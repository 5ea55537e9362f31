"""Decoupled training across processes and machines over MPI: one stage of the network per rank.

    mpiexec -n 2 python -m minidni parallel --method dni --layers 8        # decoupled (DNI)
    mpiexec -n 2 python -m minidni parallel --method locked --layers 8     # model-parallel backprop
    mpiexec -n 2 python -m minidni parallel --method dni --sync            # zero staleness: = one-process DNI

    from minidni.parallel import Config, train
    result = train(Config(method="dni", layers=8, epochs=3))     # on every rank; the result on rank 0

Modules:
    mpi          lazy mpi4py import, mpiexec, one BLAS thread per rank, abort on any rank's error
    protocol     the messages between neighbouring ranks, the shared clock, message timing
    stages       the balanced split, one rank's Stage, M with late targets (DelayedSG)
    runner       the loop each rank runs (decoupled / synchronous / locked), results, traces
    checkpoints  per-rank atomic checkpoints and resuming from the newest common step
"""
from .runner import Config, train
from .stages import METHODS, balanced_split, cuts_of

__all__ = ["Config", "train", "METHODS", "balanced_split", "cuts_of"]
