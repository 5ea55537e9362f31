"""The two-timescale system: the locked gradient is the true one (finite differences), the
decoupled trainers are the locked one cut at the ticks, the oracle method makes the cut exact,
and the cut diagnostic measures what is injected there; A reads 8x8 digits or MNIST."""
import copy

import numpy as np
import pytest

from minidni.backend import to_numpy
from minidni.data.streams import DigitStreams
from minidni.errors import DataFileError
from minidni.experiments.multinet import MultinetConfig, describe, digit_pools, run_multinet
from minidni.experiments.multinet_report import multinet_markdown, run_multinet_grid
from minidni.experiments.runlog import RunLog
from minidni.gradcheck import numerical_grad, rel_error
from minidni.train.multinet import TwoNetworks

K, J, N, D = 2, 3, 3, 5


def system(method, seed=0, **options):
    return TwoNetworks(D, 4, 2 * K + 1, K, method=method, hidden_a=4, hidden_b=3, message=2,
                       rng=np.random.default_rng(seed), **options)


def segment(rng):
    streams = DigitStreams(rng.standard_normal((20, D)), rng.integers(0, 4, 20), K=K, ticks=J, span=2)
    return streams.batch(N, rng)


def grads_of(net):
    return {k: to_numpy(v).copy() for k, v in net.grads.items()}


def test_digit_streams_count_the_odd_digits_of_the_last_2k_steps(rng):
    streams = DigitStreams(np.zeros((10, 1)), np.arange(10), K=2, ticks=3, span=2)
    _, y_step, y_tick = (to_numpy(a) for a in streams.batch(5, rng))
    for n in range(5):
        odd = y_step[:, n] % 2
        assert list(y_tick[:, n]) == [odd[:2].sum(), odd[:4].sum(), odd[2:6].sum()]


def test_the_locked_gradient_of_both_networks_matches_finite_differences(float64, rng):
    net = system("locked")
    x, y_step, y_tick = segment(rng)
    loss = lambda: net.forward(x, y_step, y_tick)[0]
    _, out_a, _, _ = net.forward(x, y_step, y_tick)
    net.backward(out_a)
    for name, network in (("A", net.A), ("B", net.B)):
        analytic = grads_of(network)
        for key, p in network.params.items():
            assert rel_error(analytic[key], numerical_grad(loss, p)) < 1e-6, (name, key)


def locked_grads(net, x, y_step, y_tick, j=0, state_a=None, state_b=None):
    """{"A", "B"}: the locked gradient of ticks j ... J - 1 of the segment from the given states, at
    net's current parameters, computed on a copy (net is left as it is)."""
    twin, rest = copy.deepcopy(net), slice(j * K, None)
    _, out_a, _, _ = twin.forward(x[rest], y_step[rest], y_tick[j:], state_a, state_b)
    twin.backward(out_a)
    return {"A": grads_of(twin.A), "B": grads_of(twin.B)}


def test_with_the_oracle_future_the_cut_training_adds_up_to_the_locked_gradient(float64, rng):
    """With the true gradient of everything after each tick injected at the cut, the gradients
    of the J tick-wise backward passes (no update in between) sum to the locked gradient."""
    x, y_step, y_tick = segment(rng)
    cut = system("oracle")
    expected = locked_grads(cut, x, y_step, y_tick)
    total = {"A": None, "B": None}

    def accumulate():
        for name, net in (("A", cut.A), ("B", cut.B)):
            g = grads_of(net)
            total[name] = g if total[name] is None else {k: total[name][k] + g[k] for k in g}
    cut.opt_a.step = accumulate           # record the tick's gradients instead of updating
    cut.opt_b.step = lambda: None
    cut.step(x, y_step, y_tick)
    for name in ("A", "B"):
        for k, v in expected[name].items():
            assert rel_error(total[name][k], v) < 1e-10, (name, k)


def test_each_oracle_update_is_the_locked_gradient_of_its_tick_at_the_current_parameters(float64, rng):
    """Updating at every tick, the oracle's gradient at tick j is the locked gradient of ticks j ... J - 1
    from the state the tick starts at, less that of ticks j + 1 ... J - 1 from the state it ends at: the
    part of the locked gradient that tick j's own steps make, exact at the parameters of that update."""
    net = system("oracle")
    ends, checked = [(None, None)], []        # the states the oracle's cuts start from, tick by tick
    true_future = net.true_future

    def recording(x, y_step, y_tick):
        future = true_future(x, y_step, y_tick)

        def at_cut(j, end_a, end_b):
            ends.append((end_a, end_b))
            return future(j, end_a, end_b)
        return at_cut
    net.true_future = recording
    update_a = net.opt_a.step

    def check_then_update():
        j = len(checked)
        whole = locked_grads(net, x, y_step, y_tick, j, *ends[j])
        rest = locked_grads(net, x, y_step, y_tick, j + 1, *ends[j + 1]) if j < J - 1 else None
        for name, network in (("A", net.A), ("B", net.B)):
            for k, g in grads_of(network).items():
                expected = whole[name][k] - (rest[name][k] if rest else 0)
                assert np.allclose(g, expected, rtol=1e-9, atol=1e-12), (j, name, k)
        checked.append(j)
        update_a()
    net.opt_a.step = check_then_update
    for _ in range(2):                        # two segments: 2 J updates, the parameters moving between them
        x, y_step, y_tick = segment(rng)
        ends[:], checked[:] = [(None, None)], []
        net.step(x, y_step, y_tick)
        assert checked == list(range(J))


def test_the_cut_diagnostic_gives_a_zero_m_cosine_0_and_the_oracle_cosine_1(float64, rng):
    x, y_step, y_tick = segment(rng)
    zero, oracle, cut = system("dni"), system("oracle"), system("truncated")
    for records, cosine in ((zero.future_gradient_quality(x, y_step, y_tick), 0.0),
                            (oracle.future_gradient_quality(x, y_step, y_tick), 1.0)):
        assert [r["tick"] for r in records] == list(range(1, J))
        for r in records:
            for net in ("A", "B"):
                assert abs(r[net]["cosine"] - cosine) < 1e-10
                assert abs(r[net]["relative_error"] - (1.0 - cosine)) < 1e-10
    assert cut.future_gradient_quality(x, y_step, y_tick) == []


def test_the_diagnostic_is_recorded_every_k_segments_and_leaves_training_as_it_was():
    tiny = dict(method="dni", segments=3, eval_every=3, hidden_a=8, hidden_b=4, message=2, batch_size=4)
    plain, diagnosed = (run_multinet(MultinetConfig(**tiny, diagnose_every=every)) for every in (0, 2))
    assert "diagnostics" not in plain and plain["history"] == [
        {**h, "seconds": p["seconds"]} for h, p in zip(diagnosed["history"], plain["history"])]
    assert [d["segment"] for d in diagnosed["diagnostics"]] == [0, 2]
    first = diagnosed["diagnostics"][0]
    assert first["cosine_a"] == first["cosine_b"] == 0.0          # M starts at zero
    assert len(first["cuts"]) == MultinetConfig.ticks - 1


def test_a_reads_flattened_mnist_images_with_the_digits_option():
    pools = digit_pools("mnist5k")
    assert {k: v[0].shape[1] for k, v in pools.items()} == {"train": 784, "valid": 784, "test": 784}
    result = run_multinet(MultinetConfig(method="oracle", digits="mnist5k", segments=1, ticks=2, hidden_a=8,
                                         hidden_b=4, message=2, batch_size=4), pools=pools)
    assert result["digits"] == "mnist5k" and result["a_updates"] == 2
    assert "on mnist5k" in describe(result)


def test_truncated_training_misses_the_gradient_of_later_ticks(float64, rng):
    x, y_step, y_tick = segment(rng)
    locked, cut = system("locked"), system("truncated")
    _, out_a, _, _ = locked.forward(x, y_step, y_tick)
    locked.backward(out_a)
    total = {}

    def accumulate():
        for k, v in grads_of(cut.A).items():
            total[k] = total.get(k, 0) + v
    cut.opt_a.step, cut.opt_b.step = accumulate, lambda: None
    cut.decoupled(x, y_step, y_tick)
    assert rel_error(total["message.W"], grads_of(locked.A)["message.W"]) > 1e-3


@pytest.mark.parametrize("method", ["locked", "truncated", "dni", "oracle"])
def test_each_method_lowers_both_losses_on_a_fixed_segment(method, rng):
    net = TwoNetworks(D, 4, 2 * K + 1, K, method=method, hidden_a=16, hidden_b=8, message=4, lr=1e-2,
                      rng=np.random.default_rng(0))
    x, y_step, y_tick = segment(rng)
    first = float(to_numpy(net.forward(x, y_step, y_tick)[0]))
    for _ in range(60):
        net.step(x, y_step, y_tick)
    assert float(to_numpy(net.forward(x, y_step, y_tick)[0])) < 0.5 * first


def params_of(net):
    return {k: to_numpy(v).copy() for k, v in net.params.items()}


@pytest.mark.parametrize("method, updates", [("locked", 1), ("truncated", J), ("dni", J), ("oracle", J)])
def test_a_changes_only_when_bs_gradient_arrives_locked_once_a_segment_and_decoupled_every_tick(method, updates,
                                                                                                rng):
    """Locked, A's parameters change once, after B's backward through all J ticks of the segment (the
    paper's locked baseline: A waits for B); the decoupled methods update A at every tick. Each update
    of A and of B is counted in `updates` and traced."""
    net, x, y_step, y_tick = system(method), *segment(rng)
    step_a, snapshots, waited = net.opt_a.step, [params_of(net.A)], []

    def update_a():
        assert all(np.array_equal(v, snapshots[-1][k]) for k, v in params_of(net.A).items())  # unchanged so far
        waited.append(sum(e.module == "B" and e.kind == "backward" for e in net.trace.events))
        step_a()
        snapshots.append(params_of(net.A))
    net.opt_a.step = update_a
    net.step(x, y_step, y_tick)
    assert waited == list(range(1, updates + 1))      # each A update follows exactly one more backward of B
    assert all(any(not np.array_equal(a[k], b[k]) for k in a) for a, b in zip(snapshots, snapshots[1:]))
    assert net.updates == {"A": updates, "B": updates}
    for name in ("A", "B"):
        assert len(net.trace.select(kind="update", module=name)) == updates
    net.step(x, y_step, y_tick)
    assert net.updates == {"A": 2 * updates, "B": 2 * updates}


@pytest.mark.parametrize("method", ["locked", "dni"])
def test_the_history_records_a_and_bs_updates_and_when_b_first_reached_the_target(method):
    tiny = dict(segments=4, eval_every=2, hidden_a=8, hidden_b=4, message=2, batch_size=4, target=100.0)
    result = run_multinet(MultinetConfig(method=method, **tiny))
    per_segment = 1 if method == "locked" else MultinetConfig.ticks
    assert [(h["a_updates"], h["b_updates"]) for h in result["history"]] == [(2 * per_segment,) * 2,
                                                                             (4 * per_segment,) * 2]
    assert result["a_updates"] == result["b_updates"] == 4 * per_segment
    first = result["history"][0]                       # a 100 % target: reached at the first record
    assert (result["a_updates_to_target"], result["segment_to_target"], result["seconds_to_target"]) == (
        first["a_updates"], first["segment"], first["seconds"])


def test_the_remedies_of_3_1_m_reads_h_and_tanh_c_and_fits_targets_clipped_to_a_norm(rng):
    x, y_step, y_tick = segment(rng)
    net = system("dni", sg_input="bounded", target_clip=0.01)
    h, c = rng.standard_normal((N, 3)), 5 * rng.standard_normal((N, 3))
    assert np.array_equal(net.m_input((h, c)), np.concatenate([h, np.tanh(c)], axis=1))
    targets, fit = [], net.M["B"].fit

    def recording(target):
        targets.append(to_numpy(target))
        return fit(target)
    net.M["B"].fit = recording
    net.step(x, y_step, y_tick)
    assert len(targets) == J - 1                         # one bootstrapped target at each tick after the first
    assert all(np.all(np.linalg.norm(t, axis=1) <= 0.01 * (1 + 1e-5)) for t in targets)


def test_the_multinet_figures_quick_are_drawn_again_from_their_runs_file_without_training(tmp_path):
    from minidni.plots.multinet import multinet_figures
    paths, numbers = multinet_figures(str(tmp_path), quick=True)
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["multinet.md", "multinet_cosine.png", "multinet_curves.png",
                                                           "multinet_runs.jsonl", "multinet_timeline.png"]
    assert {n["method"] for n in numbers["runs"]} == {"locked", "truncated", "dni", "oracle"}
    text = (tmp_path / "multinet.md").read_text()
    assert "| oracle |" in text and "(chosen)" in text and "python -m minidni figures --only multinet" in text
    again, _ = multinet_figures(str(tmp_path), quick=True)        # every run is in the file now
    assert (tmp_path / "multinet.md").read_text() == text
    read = run_multinet_grid(quick=True, log=RunLog(tmp_path / "multinet_runs.jsonl"), train=False)
    assert multinet_markdown(read) == text
    with pytest.raises(DataFileError, match="lacks the run dni seed 0"):
        run_multinet_grid(quick=True, log=RunLog(tmp_path / "empty.jsonl"), train=False)
