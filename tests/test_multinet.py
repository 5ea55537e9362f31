"""The two-timescale system: the locked gradient is the true one (finite differences), the
decoupled trainers are the locked one cut at the ticks, and an oracle synthetic gradient
makes the cut exact."""
import copy

import numpy as np
import pytest

from minidni.backend import to_numpy
from minidni.data.streams import DigitStreams
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


def test_with_an_oracle_future_the_cut_training_adds_up_to_the_locked_gradient(float64, rng):
    """With the true gradient of everything after each tick injected at the cut, the gradients
    of the J tick-wise backward passes (no update in between) sum to the locked gradient."""
    x, y_step, y_tick = segment(rng)
    locked = system("locked")
    _, out_a, _, _ = locked.forward(x, y_step, y_tick)
    locked.backward(out_a)
    expected = {"A": grads_of(locked.A), "B": grads_of(locked.B)}

    cut = system("dni", sg_scale=1.0)

    def oracle(j, end_a, end_b):
        """d(losses after tick j)/d(end states), per sequence, from the rest of the segment."""
        rest, twin = slice((j + 1) * K, None), copy.deepcopy(cut)      # the same weights, its own caches
        _, out, _, _ = twin.forward(x[rest], y_step[rest], y_tick[j + 1:], end_a, end_b)
        d_a, d_b = twin.backward(out)
        return N * join(d_a), N * join(d_b)

    from minidni.nn.recurrent import join_state as join
    total = {"A": None, "B": None}

    def accumulate():
        for name, net in (("A", cut.A), ("B", cut.B)):
            g = grads_of(net)
            total[name] = g if total[name] is None else {k: total[name][k] + g[k] for k in g}
    cut.future = oracle
    cut.opt_a.step = accumulate           # record the tick's gradients instead of updating
    cut.opt_b.step = lambda: None
    cut.M = {}                            # no synthetic models to fit: the oracle stands in
    cut.decoupled(x, y_step, y_tick)
    for name in ("A", "B"):
        for k, v in expected[name].items():
            assert rel_error(total[name][k], v) < 1e-10, (name, k)


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


@pytest.mark.parametrize("method", ["locked", "truncated", "dni"])
def test_each_method_lowers_both_losses_on_a_fixed_segment(method, rng):
    net = TwoNetworks(D, 4, 2 * K + 1, K, method=method, hidden_a=16, hidden_b=8, message=4, lr=1e-2,
                      rng=np.random.default_rng(0))
    x, y_step, y_tick = segment(rng)
    first = float(to_numpy(net.forward(x, y_step, y_tick)[0]))
    for _ in range(60):
        net.step(x, y_step, y_tick)
    assert float(to_numpy(net.forward(x, y_step, y_tick)[0])) < 0.5 * first


def test_dni_updates_a_at_every_tick_and_locked_once_a_segment(rng):
    x, y_step, y_tick = segment(rng)
    for method, updates in (("locked", 1), ("dni", J)):
        net = system(method)
        net.step(x, y_step, y_tick)
        assert len([e for e in net.trace.events if e.kind == "update" and "A" in str(e.module)]) == updates


def test_the_multinet_figures_quick(tmp_path):
    from minidni.plots.figures import multinet_figures
    paths, numbers = multinet_figures(str(tmp_path), quick=True)
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["multinet.md", "multinet_curves.png", "multinet_timeline.png"]
    assert {n["method"] for n in numbers} == {"locked", "truncated", "dni"}
    assert "| dni |" in (tmp_path / "multinet.md").read_text()
