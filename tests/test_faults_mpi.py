"""MPI faults (issue 29): a rank that dies names itself, or its neighbour names it, in one line and
with a documented exit status (minidni.parallel.mpi.failure_report); a run resumed after a crash
keeps the history recorded before it. The jobs are `mpiexec -n 2` on the digits, a few seconds each.
"""
import json
import os
import re
import signal
import subprocess

import pytest

from minidni.parallel.mpi import Stopped, failure_report, mpiexec_command, rank_environment
from minidni.parallel.protocol import RankSilent, talking_to

from test_parallel import ROOT, SMALL, mpirun, requires_mpi

PRINTING = [a for a in SMALL if a != "--quiet"]          # the per-epoch lines are what the tests read
RECORD = re.compile(r"epoch +(\d+) +step +(\d+) +train loss (\S+) +test error ([\d.]+)%")
MPIError = type("Exception", (Exception,), {"__module__": "mpi4py.MPI"})      # as mpi4py.MPI.Exception


def minidni_lines(job_stderr):
    """The job's own messages; no traceback and no MPI error stack may come with them."""
    assert "Traceback" not in job_stderr and "error stack" not in job_stderr, job_stderr
    return [line for line in job_stderr.splitlines() if line.startswith("minidni:")]


def printed_records(stdout):
    """[(epoch, step, train loss, test error)] of the per-epoch lines a job printed."""
    return [(int(e), int(s), None if loss == "-" else float(loss), float(err)) for e, s, loss, err in
            RECORD.findall(stdout)]


def parent_of(pid):
    """The parent process id of `pid` (from /proc/PID/stat: the field after the state)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def rank_pid(job, rank):
    """The process id of rank `rank` of the mpiexec `job`: PMI_RANK=rank, a descendant of the launcher."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"PMI_RANK={rank}".encode() not in f.read().split(b"\0"):
                    continue
            line = [int(pid)]
            while line[-1] > 1 and len(line) < 6:
                line.append(parent_of(line[-1]))
        except (OSError, ValueError, IndexError):
            continue                                 # gone meanwhile, or not ours to read
        if job.pid in line:
            return int(pid)
    raise AssertionError(f"rank {rank} of job {job.pid} not found")


def test_a_stop_signal_is_reported_in_one_line_with_128_plus_its_number():
    message, code = failure_report(Stopped(signal.SIGTERM), "rank 1 of 2")
    assert (message, code) == ("minidni: rank 1 of 2 was stopped by SIGTERM (signal 15); the job ends", 143)


def test_an_mpi_error_talking_to_a_neighbour_names_that_neighbour():
    with pytest.raises(RankSilent, match=r"^rank 1 has gone: its process ended mid-run .*\(Other MPI error\)$"):
        with talking_to(1):
            raise MPIError("Other MPI error, error stack:\ninternal_Recv_c(339): MPI_Recv_c(...) failed")
    message, code = failure_report(MPIError("Other MPI error, error stack:\nMPIR_Wait(745)"), "rank 0 of 2")
    assert code == 1 and "\n" not in message and "MPI failed (Other MPI error)" in message


@requires_mpi
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the rank's process in /proc")
def test_sigterm_to_one_rank_mid_run_ends_the_job_naming_that_rank_in_one_line():
    job = subprocess.Popen(mpiexec_command(2, ["--method", "dni", *PRINTING, "--epochs", "3000"]),
                           env=rank_environment(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert RECORD.search(job.stdout.readline())          # rank 1 is training: it printed epoch 1
        os.kill(rank_pid(job, 1), signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=30)
    finally:
        job.kill()
    assert job.returncode == 128 + signal.SIGTERM, stderr
    assert minidni_lines(stderr) == ["minidni: rank 1 of 2 was stopped by SIGTERM (signal 15); the job ends"]


@requires_mpi
def test_a_rank_that_vanishes_mid_run_leaves_no_traceback_and_is_the_one_named():
    """os._exit, as a killed rank: it cannot speak, so rank 0 names it if it notices before the
    launcher ends the job (else the launcher's own message is all there is)."""
    job = mpirun(["--method", "dni", *SMALL, "--fail-at-step", "5", "--fail-rank", "1", "--fail-mode", "exit"],
                 timeout=60)
    assert job.returncode != 0
    assert all("rank 1 has gone" in line for line in minidni_lines(job.stderr)), job.stderr


def crash_and_resume(tmp_path, *options):
    """(the records the crashed job printed, the resumed job's result) of a 3-epoch run on 2 ranks
    that crashes in epoch 3 (step 40 of 17 per epoch) and resumes from its checkpoints."""
    common = ["--method", "dni", "--epochs", "3", *PRINTING, *options, "--checkpoint-dir", str(tmp_path / "ckpt"),
              "--checkpoint-every", "4"]
    crashed = mpirun([*common, "--fail-at-step", "40", "--fail-rank", "1"], timeout=60)
    assert crashed.returncode == 1 and "injected failure at step 40" in crashed.stderr, crashed.stderr
    resumed = mpirun([*common, "--resume", "--quiet", "--json", str(tmp_path / "r.json")], timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    return printed_records(crashed.stdout), json.loads((tmp_path / "r.json").read_text())


def record_of(h):
    return h["epoch"], h["step"], round(h["train_loss"], 4), round(h["test_error"], 2)


@requires_mpi
def test_an_asynchronous_run_resumed_after_a_crash_keeps_the_history_from_before_it(tmp_path):
    before, result = crash_and_resume(tmp_path)
    history = result["history"]
    assert result["resumed_from"] == 36 and [(h["epoch"], h["step"]) for h in history] == [(1, 17), (2, 34), (3, 51)]
    assert [record_of(h) for h in history[:2]] == before[:2]          # as the crashed job printed them
    assert history[0]["seconds"] < history[1]["seconds"] < history[2]["seconds"]


@requires_mpi
def test_a_synchronous_run_resumed_after_a_crash_has_the_uninterrupted_runs_history(tmp_path):
    """Zero staleness makes the run deterministic: every record, the mean training loss of the
    epoch the crash cut in two included, is the uninterrupted run's."""
    _, resumed = crash_and_resume(tmp_path, "--sync")
    whole = mpirun(["--method", "dni", "--epochs", "3", *SMALL, "--sync", "--json", str(tmp_path / "w.json")])
    assert whole.returncode == 0, whole.stderr
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in resumed["history"]]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"}
                     for h in json.loads((tmp_path / "w.json").read_text())["history"]]
