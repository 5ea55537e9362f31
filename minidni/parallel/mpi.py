"""MPI at arm's length: a lazy mpi4py import, the launcher, one thread per rank, and aborts.

mpi4py is imported only here and only when a command needs it, so the rest of minidni
(and a one-process `parallel` run) works without it.
"""
import faulthandler
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from ..errors import UserError

INSTALL_HINT = 'pip install -e ".[mpi]" (mpi4py, and the mpich wheel that brings mpiexec)'

# Variables that MPICH's hydra, PMIx launchers (srun, prterun) and Open MPI set in every rank.
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE")


def launched_by_mpiexec():
    """True when this process is one rank of an mpiexec (or srun) job."""
    return any(v in os.environ for v in _LAUNCHER_VARIABLES)


START_TIMEOUT = 20.0         # seconds; MINIDNI_MPI_START_TIMEOUT overrides it


def start_timeout():
    """MINIDNI_MPI_START_TIMEOUT if set (a positive number of seconds), else START_TIMEOUT."""
    text = os.environ.get("MINIDNI_MPI_START_TIMEOUT")
    if text is None:
        return START_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserError(f"MINIDNI_MPI_START_TIMEOUT must be a number of seconds above 0, got {text!r}")
    return value


def import_mpi():
    """The mpi4py.MPI module, or a UserError saying how to install it.

    Importing it starts MPI, which waits for every rank of the job. A rank that died before
    that point (an import error, a crash in start-up) would leave the others waiting for
    ever, so a watchdog ends this process if MPI has not started within START_TIMEOUT
    seconds (MINIDNI_MPI_START_TIMEOUT), and the launcher then ends the job. It is
    faulthandler's C thread: it fires even while MPI's start-up holds the interpreter.
    A rank that is only slow to arrive (importing CuPy and starting CUDA on a busy node)
    ends the job the same way: raise the limit for such machines.
    """
    if launched_by_mpiexec():
        faulthandler.dump_traceback_later(start_timeout(), exit=True)
    try:
        from mpi4py import MPI         # lazy: importing it starts MPI, and a one-process run needs none
        MPI.COMM_WORLD.Barrier()        # every rank has started
    except ImportError as e:
        raise UserError(f"running on several processes needs mpi4py, which is not installed ({e}); {INSTALL_HINT}") from None
    finally:
        faulthandler.cancel_dump_traceback_later()
    return MPI


def world():
    """MPI.COMM_WORLD in a rank of an mpiexec job; None in a plain process (which needs no MPI)."""
    return import_mpi().COMM_WORLD if launched_by_mpiexec() else None


def find_mpiexec():
    """The path of mpiexec: on PATH, or beside this Python (where the mpich wheel puts it)."""
    found = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    if found is None:
        raise UserError(f"mpiexec was not found on PATH or beside {sys.executable}; {INSTALL_HINT}")
    return found


def rank_environment(base=None):
    """The environment for launched ranks: one BLAS thread each, so K ranks share K cores fairly."""
    env = dict(os.environ if base is None else base)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def mpiexec_command(n, args):
    """argv for `mpiexec -n n python -m minidni parallel ARGS`.

    MPICH lets more ranks than cores share a machine (oversubscription) by default.
    """
    return [find_mpiexec(), "-n", str(n), sys.executable, "-m", "minidni", "parallel", *args]


def launch(n, args, timeout=600):
    """Run the `parallel` command on n ranks in a subprocess; return (result, merged trace).

    The ranks get one BLAS thread each (rank_environment). A failed job raises
    RuntimeError with the job's output.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out, trace = os.path.join(tmp, "result.json"), os.path.join(tmp, "trace.json")
        command = mpiexec_command(n, [*args, "--quiet", "--json", out, "--trace-out", trace])
        job = subprocess.run(command, env=rank_environment(), capture_output=True, text=True, timeout=timeout)
        if job.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({job.returncode}):\n{job.stdout}{job.stderr}")
        with open(out) as f, open(trace) as g:
            return json.load(f), json.load(g)


def limit_blas_threads():
    """Use one BLAS thread in this process, even if OMP_NUM_THREADS was not set before numpy loaded."""
    threadpool_limits(1, user_api="blas")


@contextmanager
def abort_on_error(comm):
    """Turn an exception in one rank into the end of the whole job, that rank's error printed first.

    Without this a failed rank exits and its neighbours wait for its messages forever.
    MPI_Abort makes the launcher kill every rank, so the job ends within seconds.
    """
    try:
        yield
    except BaseException as e:
        where = f"rank {comm.rank} of {comm.size}"
        if isinstance(e, UserError):
            message, code = f"minidni: error on {where}: {e}", 2
        elif type(e).__name__ == "RankSilent":           # protocol.RankSilent: the message says it all
            message, code = f"minidni: {where}: {e}", 1
        elif isinstance(e, KeyboardInterrupt):
            message, code = f"minidni: interrupted on {where}", 130
        else:
            message, code = (f"minidni: {where} failed: {type(e).__name__}: {e}\n"
                             + "".join(traceback.format_exception(type(e), e, e.__traceback__))), 1
        print(message, file=sys.stderr, flush=True)
        time.sleep(0.5)             # let the launcher forward the message before it ends every rank
        comm.Abort(code)
        os._exit(code)              # MPI_Abort may return before the launcher ends this process
