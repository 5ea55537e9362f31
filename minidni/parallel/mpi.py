"""MPI at arm's length: a lazy mpi4py import, the launcher, one thread per rank, and aborts.

mpi4py is imported only here and only when a command needs it, so the rest of minidni
(and a one-process `parallel` run) works without it.
"""
import faulthandler
import json
import os
import shutil
import signal
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


# Signals that end a process and that it can catch (SIGINT already raises KeyboardInterrupt):
# a rank sent one names itself before the job ends, instead of vanishing.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """This rank was sent a stop signal (STOP_SIGNALS). A BaseException, as KeyboardInterrupt is:
    no `except Exception` on the way may swallow it."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def mpi_error(e):
    """MPI's own one-line description of `e` if it is an MPI error (mpi4py's MPI.Exception), else None."""
    if type(e).__module__ != "mpi4py.MPI":
        return None
    return str(e).partition(", error stack:")[0].partition("\n")[0]


def failure_report(e, where):
    """(message, exit status) for the exception `e` that ends rank `where` ("rank k of K"):
    2 for a user's error (as without MPI), 128 + N for signal N (130: Ctrl-C, 143: SIGTERM),
    1 for anything else. One line, but for a bug: then the traceback follows."""
    if isinstance(e, UserError):
        return f"minidni: error on {where}: {e}", 2
    if type(e).__name__ == "RankSilent":                # protocol.RankSilent: it names the neighbour
        return f"minidni: {where}: {e}", 1
    if isinstance(e, KeyboardInterrupt):
        return f"minidni: interrupted on {where}", 130
    if isinstance(e, Stopped):
        return f"minidni: {where} was stopped by {e} (signal {e.signum}); the job ends", 128 + e.signum
    if mpi_error(e) is not None:                        # outside a neighbour's link (protocol.talking_to)
        return (f"minidni: {where}: MPI failed ({mpi_error(e)}): another rank has ended (killed or crashed; "
                "the launcher's message names its process)"), 1
    return (f"minidni: {where} failed: {type(e).__name__}: {e}\n"
            + "".join(traceback.format_exception(type(e), e, e.__traceback__))), 1


@contextmanager
def abort_on_error(comm):
    """Turn an exception in one rank, or a stop signal sent to it, into the end of the whole job,
    that rank's message printed first (failure_report: what it says, the job's exit status).

    Without this a failed rank exits and its neighbours wait for its messages forever.
    MPI_Abort makes the launcher kill every rank, so the job ends within seconds.
    """
    previous = {s: signal.signal(s, _raise_stopped) for s in STOP_SIGNALS}
    try:
        yield
    except BaseException as e:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)            # the job is ending: a second signal must not cut it short
        message, code = failure_report(e, f"rank {comm.rank} of {comm.size}")
        print(message, file=sys.stderr, flush=True)
        time.sleep(0.5)             # let the launcher forward the message before it ends every rank
        comm.Abort(code)
        os._exit(code)              # MPI_Abort may return before the launcher ends this process
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
