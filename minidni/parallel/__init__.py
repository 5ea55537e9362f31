"""Decoupled training across processes and machines over MPI: one stage of the network per rank.

    mpiexec -n 2 python -m minidni parallel --method dni --layers 8        # decoupled (DNI)
    mpiexec -n 2 python -m minidni parallel --method locked --layers 8     # model-parallel backprop
    mpiexec -n 2 python -m minidni parallel --method dni --sync            # zero staleness: = one-process DNI

    from minidni.parallel import Config, train
    result = train(Config(method="dni", layers=8, epochs=3))     # on every rank; the result on rank 0

Numbering. The MLP's Linear layers are cut into K stages of consecutive layers; each stage
is one of the paper's modules, f_1 ... f_L with L = K, and a synthetic gradient sits after
every one but the last, as DNI's `cuts` place them. Rank k (0-based, k = 0 ... K-1) holds
stage k+1: module f_{k+1}, computing h_{k+1} = f_{k+1}(h_k) (h_0 = x, the batch), and,
unless it is the last, M_{k+2}, which predicts g_hat_{k+1} ~ delta_{k+1} = dL/dh_{k+1}.
In code, rank k's Stage has index k, f = f_{k+1} and M = M_{k+2}.

Modules:
    config       Config: every option of a run
    runner       train(); the loop each rank runs (decoupled / synchronous / locked): StageRunner
    stream       rank 0's batches, evaluations and step / time budget
    single       the same command in one process, through minidni.train.fit
    report       per-stage times, throughput, the result dict
    stages       the balanced split, one rank's Stage, M with late targets (DelayedSG)
    protocol     the messages between neighbouring ranks, the shared clock, message timing
    checkpoints  per-rank atomic checkpoints and resuming from the newest common step
    mpi          lazy mpi4py import, mpiexec, one BLAS thread per rank, abort on any rank's error
    faults       the tests' fault injection: make one rank raise, exit or hang at one step
"""
from .config import Config
from .runner import train
from .stages import METHODS, balanced_split, cuts_of

__all__ = ["Config", "train", "METHODS", "balanced_split", "cuts_of"]
