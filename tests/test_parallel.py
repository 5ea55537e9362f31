"""minidni.parallel: one stage per MPI rank (decoupled, synchronous, locked), faults, checkpoints,
and the pipeline simulator.

The MPI tests start `mpiexec -n 2` jobs (more ranks than cores is fine: MPICH
oversubscribes by default) and skip where mpi4py or mpiexec is missing.
"""
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from minidni.backend import to_device, to_numpy
from minidni.errors import UserError
from minidni.parallel import Config, balanced_split, cuts_of, train
from minidni.parallel.mpi import import_mpi, mpiexec_command, rank_environment
from minidni.parallel.stages import DelayedSG
from minidni.simulate import StageTimes, simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--layers", "4", "--hidden", "64", "--batch-size", "64", "--quiet"]


def _mpi_missing():
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install -e .[mpi])"
    try:
        mpiexec_command(2, [])
    except UserError as e:
        return str(e)
    return None


requires_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=_mpi_missing() or "")


def mpirun(args, timeout=90):
    """`mpiexec -n 2 python -m minidni parallel ARGS` with one BLAS thread per rank."""
    return subprocess.run(mpiexec_command(2, args), env=rank_environment(), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def checkpoint_params(directory, rank, step):
    with np.load(os.path.join(directory, f"stage{rank}-step{step:08d}.npz")) as f:
        return {k: f[k] for k in f.files if k.startswith(("param/", "buffer/"))}


def stage_params(trainer, k):
    """The parameters and buffers of stage k of a one-process trainer, named as rank k saves them."""
    f, M = trainer.modules[k], getattr(trainer, "M", {})
    parts = [f] if k == len(trainer.modules) - 1 or not M else [f, M[k + 2].model]      # rank k holds f_{k+1}, M_{k+2}
    prefix = (lambda i: "") if len(parts) == 1 else (lambda i: f"{i}.")
    return {f"{kind}/{prefix(i)}{name}": v for i, part in enumerate(parts)
            for kind, d in (("param", part.params), ("buffer", part.buffers)) for name, v in d.items()}


@pytest.fixture(scope="module")
def digits():
    from minidni.data import load_dataset
    return load_dataset("digits", flat=True)


def one_process_trainer(method, digits, epochs=1):
    """The one-process trainer (DNI / cDNI with a cut after module 0, or Backprop) after `epochs`."""
    from threadpoolctl import threadpool_limits

    from minidni.models import build_mlp
    from minidni.nn import Sequential
    from minidni.train import CDNI, DNI, Backprop, fit
    from minidni.train.dni import group
    rng = np.random.default_rng(0)
    model = build_mlp(64, 10, layers=4, hidden=64, rng=rng)
    if method == "locked":
        trainer = Backprop(Sequential(*group(list(model), [0])))
    else:
        trainer = (DNI if method == "dni" else CDNI)(model, digits.input_shape, 10, cuts=[0], rng=rng)
    with threadpool_limits(1, user_api="blas"):       # as in the ranks, so every sum runs in the same order
        fit(trainer, digits, epochs, batch_size=64, rng=rng)
    return trainer


def assert_same_stages(directory, step, trainer):
    for k in range(2):
        saved, expected = checkpoint_params(directory, k, step), stage_params(trainer, k)
        assert saved.keys() == expected.keys()
        for name, value in expected.items():
            np.testing.assert_array_equal(saved[name], to_numpy(value), err_msg=f"stage {k} {name}")


# -- without MPI ---------------------------------------------------------------------------

def test_balanced_split_counts_the_synthetic_gradient_work_of_every_stage_but_the_last():
    costs = [1, 10, 10, 10, 10, 1]
    assert balanced_split(costs, [0] * 6, 2) == [3, 3]
    assert balanced_split(costs, [10] * 6, 2) == [2, 4]       # stage 0 also runs M: give it one module less
    assert balanced_split(costs, [0] * 6, 6) == [1] * 6
    assert cuts_of([2, 4]) == [1]
    with pytest.raises(UserError, match="cannot split 6 modules into 7 stages"):
        balanced_split(costs, [0] * 6, 7)


def test_simulator_reproduces_the_pipeline_formulas():
    s = StageTimes(forward=1.0, backward=2.0, update=0.5, sg_predict=0.25, sg_update=0.25)
    m = 0.01
    for K in (2, 5):
        locked = simulate([s] * K, m, "locked")["step_seconds"]
        # every forward, every backward and rank 0's update in a row, plus 2 (K-1) messages
        assert locked == pytest.approx(K * 3.0 + 0.5 + 2 * (K - 1) * m)
        # the slowest stage's work, SG included; the last stage (no M) waits on the others
        assert simulate([s] * K, m, "dni")["step_seconds"] == pytest.approx(4.0)


def test_delayed_sg_refits_a_stale_target_with_the_current_prediction(rng):
    from minidni.synthetic import Regressor, make_synthetic_model
    sg = DelayedSG(Regressor(make_synthetic_model("linear", (4,), rng=rng), "sgd", lr=0.1))
    h1, h2 = (to_device(rng.standard_normal((3, 4)), np.float32) for _ in range(2))
    sg.predict(1, h1)
    sg.predict(2, h2)
    sg.fit(1, to_device(np.ones((3, 4)), np.float32))        # step 1's target arrives after step 2's prediction
    np.testing.assert_array_equal(to_numpy(sg.regressor.model.layers[0].x), to_numpy(h1))   # at h1, not h2
    assert list(sg.waiting) == [2]


def test_one_process_run_is_the_one_process_trainer(digits):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        result = train(Config(method="dni", layers=4, hidden=64, stages=2, epochs=1))
    reference = one_process_trainer("dni", digits)
    assert result["ranks"] == 1 and result["split"] == [1, 3]
    assert result["test_accuracy"] == reference_accuracy(reference, digits)


def reference_accuracy(trainer, digits):
    from minidni.train import evaluate
    return evaluate(trainer.model, digits.x_test, digits.y_test)


def test_missing_mpi4py_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(UserError, match=r'pip install -e "\.\[mpi\]"'):
        import_mpi()


# -- with mpiexec -n 2 ----------------------------------------------------------------------

@requires_mpi
@pytest.mark.parametrize("method", ["dni", "cdni", "locked"])
def test_two_synchronous_ranks_end_with_the_one_process_trainers_parameters(method, digits, tmp_path):
    steps = -(-len(digits.x_train) // 64)                     # one epoch
    job = mpirun(["--method", method, "--sync", "--epochs", "1", *SMALL, "--checkpoint-dir", str(tmp_path),
                  "--checkpoint-every", str(steps)])
    assert job.returncode == 0, job.stderr
    assert_same_stages(tmp_path, steps, one_process_trainer(method, digits))


@requires_mpi
@pytest.mark.parametrize("mode", ["raise", "exit"])
def test_a_stopped_job_resumes_from_its_checkpoints_to_the_same_parameters(digits, tmp_path, mode):
    steps = -(-len(digits.x_train) // 64)
    common = ["--method", "dni", "--sync", "--epochs", "1", *SMALL, "--checkpoint-dir", str(tmp_path)]
    crashed = mpirun([*common, "--checkpoint-every", "4", "--fail-at-step", "11", "--fail-rank", "1",
                      "--fail-mode", mode])
    assert crashed.returncode != 0
    assert mode == "exit" or "injected failure at step 11" in crashed.stderr
    resumed = mpirun([*common, "--checkpoint-every", str(steps), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert_same_stages(tmp_path, steps, one_process_trainer("dni", digits))


@requires_mpi
def test_decoupled_ranks_train_digits_to_93_percent_with_bounded_staleness(tmp_path):
    from minidni.plots.parallel import plot_rank_timeline
    result_path, trace_path = tmp_path / "result.json", tmp_path / "trace.json"
    job = mpirun(["--method", "dni", "--epochs", "4", "--layers", "4", "--hidden", "128", "--max-lag", "2",
                  "--quiet", "--json", str(result_path), "--trace-out", str(trace_path)])
    assert job.returncode == 0, job.stderr
    import json
    result, trace = json.loads(result_path.read_text()), json.loads(trace_path.read_text())
    assert result["test_accuracy"] >= 0.93
    late = {int(k): v for k, v in result["per_stage"][0]["staleness"].items()}
    assert sum(late.values()) == result["steps"]              # M_0 was fitted once for every step
    assert max(late) <= 2                                     # never more than --max-lag steps behind
    assert {e["rank"] for e in trace["events"]} == {0, 1}
    assert os.path.getsize(plot_rank_timeline({"DNI": trace}, str(tmp_path / "timeline.png"))) > 0


@requires_mpi
@pytest.mark.parametrize("rank", [0, 1])
def test_an_exception_in_one_rank_ends_the_whole_job_within_seconds(rank):
    start = time.perf_counter()
    job = mpirun(["--method", "dni", *SMALL, "--fail-at-step", "5", "--fail-rank", str(rank)], timeout=60)
    seconds = time.perf_counter() - start
    assert job.returncode != 0
    assert f"rank {rank} of 2 failed: RuntimeError: injected failure at step 5" in job.stderr
    assert seconds < 30                                       # start-up included; the abort itself is immediate


# -- faults: every one ends the job within seconds, and a resume continues the right run --------

def one_line_error(job):
    lines = [line for line in job.stderr.splitlines() if line.startswith("minidni:")]
    assert "Traceback" not in job.stderr, job.stderr
    return lines


@requires_mpi
def test_a_rank_killed_mid_run_ends_the_job_within_seconds():
    start = time.perf_counter()
    job = mpirun(["--method", "dni", *SMALL, "--fail-at-step", "5", "--fail-rank", "1", "--fail-mode", "exit"],
                 timeout=60)
    assert job.returncode != 0
    assert time.perf_counter() - start < 30


@requires_mpi
def test_a_hung_rank_is_named_by_its_neighbour_after_the_receive_timeout():
    start = time.perf_counter()
    job = mpirun(["--method", "locked", *SMALL, "--fail-at-step", "5", "--fail-rank", "1", "--fail-mode", "hang",
                  "--recv-timeout", "3"], timeout=60)
    assert job.returncode != 0
    assert any("no message from rank 1 for 3 s" in line for line in one_line_error(job)), (job.returncode, job.stdout,
                                                                                           job.stderr)
    assert time.perf_counter() - start < 30


@requires_mpi
def test_a_rank_that_fails_its_checks_ends_the_job_even_when_the_others_pass(tmp_path):
    """Rank 0 checks the outputs (its --json directory does not exist); rank 1's checks pass: rank 1 must not
    hang in MPI's start waiting for it."""
    (tmp_path / "d1").mkdir()
    command = mpiexec_command(2, [])[:3] + ["bash", "-c", f"exec {sys.executable} -m minidni parallel --layers 4 "
                                                          f"--hidden 64 --json {tmp_path}/d$PMI_RANK/r.json"]
    start = time.perf_counter()
    job = subprocess.run(command, env=rank_environment(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert job.returncode != 0
    assert any("rank 0 of 2" in line and "does not exist" in line for line in one_line_error(job)), job.stderr
    assert time.perf_counter() - start < 30


@requires_mpi
def test_a_new_run_refuses_a_directory_that_holds_another_runs_checkpoints(tmp_path):
    first = mpirun(["--method", "dni", "--sync", "--steps", "4", *SMALL, "--checkpoint-dir", str(tmp_path),
                    "--checkpoint-every", "2"])
    assert first.returncode == 0, first.stderr
    before = sorted(os.listdir(tmp_path))
    second = mpirun(["--method", "dni", "--sync", "--steps", "4", *SMALL, "--seed", "1",
                     "--checkpoint-dir", str(tmp_path), "--checkpoint-every", "2"])
    assert second.returncode == 2
    assert any("already holds checkpoints" in line for line in one_line_error(second)), second.stderr
    assert sorted(os.listdir(tmp_path)) == before                   # nothing of the first run was touched


@requires_mpi
@pytest.mark.parametrize("option,value,saved", [("--seed", "1", "seed=0"), ("--batch-size", "32", "batch_size=64"),
                                                ("--optimizer", "sgd", "optimizer='adam'")])
def test_resume_refuses_checkpoints_saved_with_other_settings(tmp_path, option, value, saved):
    common = ["--method", "dni", "--sync", "--layers", "4", "--hidden", "64", "--quiet",
              "--checkpoint-dir", str(tmp_path), "--checkpoint-every", "2"]
    assert mpirun([*common, "--steps", "4"]).returncode == 0
    resumed = mpirun([*common, "--steps", "6", "--resume", option, value])
    assert resumed.returncode == 2
    assert any("from another run" in line and saved in line for line in one_line_error(resumed)), resumed.stderr


@requires_mpi
def test_resume_skips_a_damaged_checkpoint_and_ends_where_an_uninterrupted_run_ends(digits, tmp_path):
    steps = -(-len(digits.x_train) // 64)
    common = ["--method", "dni", "--sync", "--epochs", "1", *SMALL, "--checkpoint-dir", str(tmp_path)]
    crashed = mpirun([*common, "--checkpoint-every", "4", "--fail-at-step", "14", "--fail-rank", "1"])
    assert crashed.returncode != 0
    newest = max(s for s in range(4, 14, 4) if os.path.exists(tmp_path / f"stage1-step{s:08d}.npz"))
    damaged = tmp_path / f"stage1-step{newest:08d}.npz"
    damaged.write_bytes(damaged.read_bytes()[:200])                 # truncated, as by a full disk
    resumed = mpirun([*common, "--checkpoint-every", str(steps), "--resume", "--json", str(tmp_path / "r.json")])
    assert resumed.returncode == 0, resumed.stderr
    assert "falling back to an earlier step" in resumed.stderr
    import json
    assert json.loads((tmp_path / "r.json").read_text())["resumed_from"] == newest - 4
    assert_same_stages(tmp_path, steps, one_process_trainer("dni", digits))


def test_every_rank_keeps_enough_checkpoints_for_a_common_step():
    from minidni.parallel.checkpoints import keep_count
    for K, lag, every in [(2, 3, 1), (8, 3, 1), (2, 0, 1), (4, 2, 5), (2, 3, 100)]:
        lead = (K - 1) * (lag + 1)                      # how far rank 0 may run ahead of the last rank
        keep = keep_count(K, lag, every)
        for newest_first in range(lead, lead + 3 * every):          # rank 0's newest step ...
            saved_first = [s for s in range(every, newest_first + 1, every)][-keep:]
            newest_last = max(0, newest_first - lead)               # ... and the last rank's, as far behind as it can be
            saved_last = [s for s in range(every, newest_last + 1, every)]
            if saved_last:
                assert saved_last[-1] in saved_first, (K, lag, every, newest_first)


def test_messages_travel_as_a_header_and_raw_buffers():
    from minidni.parallel.protocol import decode, encode
    h, y = np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2, 3])
    header, arrays = encode(("data", 7, h, y))
    assert header.dtype == np.int64 and all(a.dtype != object for a in arrays)
    kind, ints, specs = decode(header)
    assert (kind, ints, specs) == ("data", [7], [(np.dtype(np.float32), (3, 4)), (np.dtype(np.int64), (3,))])
    assert decode(encode(("stop",))[0]) == ("stop", [], [])
    assert decode(encode(("eval", 2, 40, h))[0])[:2] == ("eval", [2, 40])


@requires_mpi
def test_a_rank_that_dies_before_mpi_starts_does_not_leave_the_others_waiting():
    """Rank 1 fails to import; rank 0 would wait in MPI's start-up for ever without the watchdog."""
    command = mpiexec_command(2, [])[:3] + ["bash", "-c", f"if [ $PMI_RANK = 1 ]; then exec {sys.executable} -c "
                                            f"'import no_such_module'; else exec {sys.executable} -m minidni parallel "
                                            f"--layers 4 --hidden 64 --quiet; fi"]
    start = time.perf_counter()
    job = subprocess.run(command, env={**rank_environment(), "MINIDNI_MPI_START_TIMEOUT": "5"}, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert job.returncode != 0
    assert "No module named 'no_such_module'" in job.stderr and "Timeout" in job.stderr
    assert time.perf_counter() - start < 30


def test_a_one_process_run_says_what_it_trained(digits):
    result = train(Config(method="dni", layers=3, hidden=16, epochs=1))
    assert result["split"] == [3] and result["trained_as"] == "backprop"


def test_a_one_process_run_stops_at_its_step_limit_and_evaluates_once_with_eval_end():
    result = train(Config(method="dni", layers=3, hidden=16, stages=2, epochs=3, steps=25, eval="end"))
    assert result["steps"] == 25 and len(result["history"]) == 1
    assert result["history"][0]["step"] == 25 and result["history"][0]["epoch"] == 2
