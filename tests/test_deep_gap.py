"""The deep-gap experiment (figures/mnist_gap.md): its search, its runs and its report, on the 8x8 digits."""
import numpy as np
import pytest

from minidni.experiments.deep_gap import DeepGapConfig, gap_by_epoch, markdown, run_deep_gap
from minidni.errors import UserError


def history(errors):
    return [{"epoch": e + 1, "step": 10 * (e + 1), "valid_error": v} for e, v in enumerate(errors)]


def test_the_gap_is_dni_minus_backprop_seed_by_seed_after_each_epoch():
    runs = [{"method": "backprop", "seed": 0, "history": history([5.0, 3.0])},
            {"method": "dni", "seed": 0, "history": history([9.0, 4.0])},
            {"method": "backprop", "seed": 1, "history": history([6.0, 2.0])},
            {"method": "dni", "seed": 1, "history": history([7.0, 7.0])}]
    epochs, gaps = gap_by_epoch(runs)
    assert epochs.tolist() == [1, 2]
    assert gaps.tolist() == [[4.0, 1.0], [1.0, 5.0]]


@pytest.fixture(scope="module")
def out():
    config = DeepGapConfig(dataset="digits", depths=[2, 3], sg_lrs=[1e-4, 1e-2], seeds=[0, 1], epochs=1,
                           long_depth=3, long_epochs=2)
    return run_deep_gap(config)


def test_each_depth_keeps_the_learning_rate_of_its_lowest_validation_error(out):
    for d in (2, 3):
        search = {r["config"]["sg_lr"]: r["best_valid_error"] for r in out["search"] if r["layers"] == d}
        assert set(search) == {1e-4, 1e-2}
        assert out["chosen"][str(d)] == min(search, key=search.get)


def test_the_per_depth_runs_hold_backprop_table_1s_choice_and_the_depths_own_over_every_seed(out):
    for d in (2, 3):
        runs = [r for r in out["depth_runs"] if r["layers"] == d]
        assert sorted(r["seed"] for r in runs if r["method"] == "backprop") == [0, 1]
        lrs = {r["config"]["sg_lr"] for r in runs if r["method"] == "dni"}
        assert lrs == {1e-5, out["chosen"][str(d)]}


def test_the_long_dni_runs_record_the_cosine_once_an_epoch_and_the_report_shows_every_part(out):
    dni = [r for r in out["long_runs"] if r["method"] == "dni"]
    assert all(r["config"]["epochs"] == 2 and r["config"]["sg_lr"] == out["chosen"]["3"] for r in dni)
    assert [d["step"] for d in dni[0]["sg_quality"]] == [1, out["updates_per_epoch"], 2 * out["updates_per_epoch"]]
    text = markdown(out)
    for line in ("| 2 | backprop |", "| 3 | DNI, M's lr 1e-05 |", "| 1 | ", "| backprop | "):
        assert line in text
    assert "± 0.00" not in text


def test_a_depth_below_one_is_refused_before_any_data_is_read():
    with pytest.raises(UserError, match="depths"):
        DeepGapConfig(depths=[0]).check()
