"""Outputs are checked before any training, written atomically, and never lost.

Every output path (--json, --save, --out, --trace-out, --checkpoint-dir) that could not be
written is refused in one line with exit status 2 before training starts (each case asks
for a long run, so a refusal that came after training would time out); nothing is created
or overwritten on the way. A write that fails at the end keeps the result in a fallback
file, and Ctrl-C during a single run keeps the history so far.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

import minidni
from minidni.checkpoint import read_meta
from minidni.errors import UserError

# The tree whose minidni the test imported: the commands run from it, wherever pytest runs.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(minidni.__file__)))
LONG = "a" * 300 + ".json"                                  # over the 255 bytes a file name may have


def command(args, cwd, python=("-m", "minidni")):
    """Start `python -m minidni ARGS` in cwd (or `python PYTHON ARGS`), its output piped."""
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    return subprocess.Popen([sys.executable, *python, *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(job, pattern):
    """Read the job's stdout until a line matches `pattern` (the run has reached that point)."""
    seen = b""
    while not re.search(pattern.encode(), seen, re.M):
        chunk = os.read(job.stdout.fileno(), 4096)
        assert chunk, f"the job ended before {pattern!r}: {seen.decode()[-500:]}"
        seen += chunk


def refused(args, cwd):
    """Run `python -m minidni ARGS` in cwd; assert one line, exit 2, no traceback, within 5 s. The line."""
    start = time.perf_counter()
    job = command(args, cwd)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 2, (args, out, err)
    assert time.perf_counter() - start < 5, "refused only after training"
    assert "Traceback" not in err and "epoch" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def snapshot(directory):
    """{name: bytes} of every file under `directory` (what must not change)."""
    return {os.path.relpath(os.path.join(d, f), directory): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(directory) for f in files}


@pytest.fixture
def workdir(tmp_path):
    """A working directory holding one file, `afile`, whose content must survive."""
    (tmp_path / "afile").write_text("keep")
    return tmp_path


SYS = pytest.mark.skipif(not os.path.isdir("/sys"), reason="no /sys")


@pytest.mark.parametrize("args,reason", [
    (["train", "--json", "/tmp"], "--json /tmp: is a directory"),
    (["train", "--save", "/tmp"], "--save /tmp: is a directory"),
    (["train", "--json", "/dev/full"], "--json /dev/full: not a regular file"),
    (["train", "--json", LONG], "File name too long"),
    (["train", "--json", "x.json", "--save", "x.json"], "--save x.json: the same file as --json x.json"),
    (["train", "--json", "afile", "--save", "afile"], "--save afile: the same file as --json afile"),
    (["train", "--json", ""], "--json: the path is empty"),
    pytest.param(["train", "--json", "/sys/minidni-out.json"], "cannot write in /sys", marks=SYS),
    (["rnn", "copy", "--steps", "100000", "--json", "/tmp"], "--json /tmp: is a directory"),
    (["multinet", "--segments", "100000", "--json", "/tmp"], "--json /tmp: is a directory"),
    (["parallel", "--json", "/tmp"], "--json /tmp: is a directory"),
    (["parallel", "--trace-out", "/dev/full"], "--trace-out /dev/full: not a regular file"),
    (["parallel", "--json", "r.json", "--trace-out", "r.json"], "--trace-out r.json: the same file as --json"),
    (["compare", "--out", "afile"], "--out afile: not a directory"),
    (["compare", "--out", os.path.join(LONG, "x")], "name is too long"),
    pytest.param(["compare", "--out", "/sys/minidni-out/x"], "cannot write in /sys", marks=SYS),
    (["rnn", "copy", "--compare", "--quick", "--out", "afile"], "--out afile: not a directory"),
    (["multinet", "--compare", "--quick", "--out", "afile"], "--out afile: not a directory"),
    (["figures", "--quick", "--out", "afile"], "--out afile: not a directory"),
], ids=lambda v: " ".join(v)[:50] if isinstance(v, list) else "")
def test_an_unwritable_output_is_refused_before_training_and_nothing_is_written(args, reason, workdir):
    long_run = {"train": ["--epochs", "50"], "compare": ["--epochs", "50"], "parallel": ["--epochs", "50"]}
    before = snapshot(workdir)
    line = refused(args + long_run.get(args[0], []), workdir)
    assert reason in line
    assert snapshot(workdir) == before


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory no one may write in: mode 0o555, and for root (whom modes do not stop) immutable."""
    path = tmp_path / "ro"
    path.mkdir()
    path.chmod(0o555)
    immutable = os.geteuid() == 0 and shutil.which("chattr") is not None and subprocess.run(
        ["chattr", "+i", str(path)], capture_output=True).returncode == 0
    writable = os.access(path, os.W_OK) and not immutable
    if writable:
        path.chmod(0o755)
        pytest.skip("cannot make a directory unwritable here (root without chattr +i); the /sys cases "
                    "cover the probe")
    yield path
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o755)


def test_a_read_only_directory_is_refused_before_training(read_only_dir, workdir):
    line = refused(["train", "--epochs", "50", "--json", str(read_only_dir / "out.json")], workdir)
    assert f"--json {read_only_dir / 'out.json'}: cannot write in {read_only_dir}" in line
    line = refused(["compare", "--epochs", "50", "--out", str(read_only_dir / "grid")], workdir)
    assert "--out" in line and "cannot write in" in line
    assert os.listdir(read_only_dir) == []


def test_two_names_of_one_file_are_the_same_output(workdir):
    (workdir / "result.json").write_text("keep")
    os.symlink(workdir / "result.json", workdir / "link.json")
    line = refused(["train", "--epochs", "50", "--json", "result.json", "--save", "link.json"], workdir)
    assert "--save link.json: the same file as --json result.json" in line
    assert (workdir / "result.json").read_text() == "keep"


def test_resume_from_a_missing_checkpoint_directory_is_refused_without_creating_it(workdir):
    line = refused(["parallel", "--epochs", "50", "--checkpoint-dir", "ckpt", "--resume"], workdir)
    assert not (workdir / "ckpt").exists()
    assert "--resume: checkpoint directory ckpt does not exist" in line


def _mpi_missing():
    from minidni.parallel.mpi import mpiexec_command
    try:
        import mpi4py  # noqa: F401
        mpiexec_command(2, [])
    except (ImportError, UserError):
        return True
    return False


@pytest.mark.skipif(_mpi_missing(), reason="needs mpi4py and mpiexec")
def test_under_mpi_rank_0_refuses_an_unwritable_output_before_any_rank_trains(workdir):
    from minidni.parallel.mpi import mpiexec_command, rank_environment
    start = time.perf_counter()
    job = subprocess.run(mpiexec_command(2, ["--epochs", "50", "--quiet", "--json", str(workdir),
                                             "--checkpoint-dir", str(workdir / "ckpt")]),
                         env={**rank_environment(), "PYTHONPATH": PACKAGE_ROOT}, capture_output=True, text=True,
                         timeout=60)
    assert job.returncode == 2 and time.perf_counter() - start < 10
    assert "Traceback" not in job.stderr
    lines = [line for line in job.stderr.splitlines() if line.startswith("minidni:")]
    assert lines == [f"minidni: error on rank 0 of 2: --json {workdir}: is a directory; give a file name"]
    assert not (workdir / "ckpt").exists()


FAILING_REPLACE = """
import errno, os, runpy, sys
def failing_replace(src, dst):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.replace = failing_replace                     # every rename fails: the disk filled up during the run
sys.argv = ["minidni", *sys.argv[1:]]
runpy.run_module("minidni", run_name="__main__")
"""


def test_a_write_that_fails_at_the_end_keeps_the_result_in_a_fallback_file(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("the previous result")
    job = command(["train", "--epochs", "1", "--layers", "2", "--hidden", "16", "--quiet", "--json", str(out)],
                  tmp_path, python=("-c", FAILING_REPLACE))
    _, err = job.communicate(timeout=60)
    assert job.returncode == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"cannot write {out} (No space left on device)" in lines[0], err
    kept = lines[0].split("the result was kept in ")[1]
    try:
        assert os.path.basename(kept).startswith("minidni-result-")
        result = json.loads(open(kept).read())
        assert result["method"] == "backprop" and len(result["history"]) == 1
    finally:
        os.unlink(kept)
    assert out.read_text() == "the previous result"           # not half a file over a good one
    assert os.listdir(tmp_path) == ["out.json"]                # and no temporary file left behind


def test_results_whose_directory_vanished_during_training_are_kept_in_fallback_files(tmp_path):
    (tmp_path / "d").mkdir()
    job = command(["train", "--epochs", "50", "--json", str(tmp_path / "d" / "out.json"),
                   "--save", str(tmp_path / "d" / "w.npz")], tmp_path)
    wait_for(job, "^epoch")
    shutil.rmtree(tmp_path / "d")
    _, err = job.communicate(timeout=60)
    assert job.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    result, weights = re.findall(r"kept in (\S+?)(?:;|$)", err.strip())     # both outputs, each kept
    try:
        assert len(json.loads(open(result).read())["history"]) == 50
        assert read_meta(weights)["method"] == "backprop"
    finally:
        os.unlink(result)
        os.unlink(weights)


def interrupt(job, pattern):
    """Ctrl-C once the job's stdout shows `pattern`; returns the one line it says on stderr (after the
    progress bar's, if any) once it has ended."""
    wait_for(job, pattern)
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 130 and "Traceback" not in err, err
    said = [line for line in err.splitlines() if line.strip()]
    assert len(said) == 1 or (said[-1].startswith("minidni:") and "minidni:" not in "".join(said[:-1])), err
    return said[-1]


def test_ctrl_c_during_train_keeps_the_history_so_far_and_the_weights(tmp_path):
    out, ckpt = tmp_path / "out.json", tmp_path / "ckpt.npz"
    err = interrupt(command(["train", "--epochs", "1000", "--json", str(out), "--save", str(ckpt)], tmp_path),
                    "^epoch")
    assert err.endswith(f"kept the history so far in {out} and the weights in {ckpt}")
    result = json.loads(out.read_text())
    assert result["interrupted"] is True and 1 <= result["epoch"] < 1000
    assert [h["epoch"] for h in result["history"]] == list(range(1, result["epoch"] + 1))
    assert result["step"] >= result["history"][-1]["step"]
    assert read_meta(ckpt) == {"method": "backprop", "model": "mlp", "dataset": "digits"}


def test_ctrl_c_without_json_keeps_the_history_in_a_fallback_file(tmp_path):
    err = interrupt(command(["train", "--epochs", "1000"], tmp_path), "^epoch")
    kept = err.split("kept the history so far in ")[1]
    try:
        assert os.path.basename(kept).startswith("minidni-result-")
        assert json.loads(open(kept).read())["interrupted"] is True
    finally:
        os.unlink(kept)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args,key", [
    (["rnn", "copy", "--quick", "--steps", "1000000", "--eval-every", "2"], "step"),
    (["multinet", "--quick", "--segments", "1000000", "--eval-every", "2"], "segment"),
])
def test_ctrl_c_during_a_recurrent_or_multinet_run_keeps_its_history(args, key, tmp_path):
    out = tmp_path / "out.json"
    err = interrupt(command([*args, "--json", str(out)], tmp_path), f"^{key} ")
    assert err.startswith(f"minidni: interrupted at {key} ") and err.endswith(f"kept the history so far in {out}")
    result = json.loads(out.read_text())
    assert result["interrupted"] is True and result["history"] and result[key] == result["history"][-1][key]
