"""Table 1's search and table (minidni.experiments.table1): chosen on validation, tested once."""
import dataclasses
import json
import pathlib

import pytest

from minidni.data import load_dataset
from minidni.errors import UserError
from minidni.experiments import TrainConfig
from minidni.experiments.feedforward import run_cells
from minidni.experiments.table1 import (COLUMNS, STAGES, Table1Config, choose, column, gap_table, gaps,
                                        run_table1, search_cells,
                                        search_summary, table_cells)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _record(stage, value, error, diverged=False):
    return {"stage": stage, "value": value, "best_valid_error": None if diverged else error,
            **({"diverged": "loss is nan at step 3"} if diverged else {})}


def test_choose_takes_the_lowest_mean_validation_error_and_counts_a_divergence_as_100():
    records = [_record("lr", 1e-3, 5.0), _record("lr", 1e-3, 3.0), _record("lr", 3e-3, 1.0),
               _record("lr", 3e-3, 0.0, diverged=True), _record("lr", 3e-4, 4.5), _record("lr", 3e-4, 3.4)]
    assert choose(records, "lr") == 3e-4                  # 3.95 beats 4.0; 3e-3's best run does not count alone
    records[-1]["best_valid_error"] = 3.6                 # now 3e-4 averages 4.05 and 1e-3 wins
    assert choose(records, "lr") == 1e-3
    assert search_summary(records)["lr"][3e-3] == 50.5


def test_every_search_stage_varies_its_setting_over_the_grid_with_the_earlier_choices_fixed():
    config = Table1Config(search_seeds=[0, 1])
    chosen = {"lr": 3e-3, "sg_lr": 3e-4}
    cells = search_cells(config, STAGES[2], chosen)                   # input_lr
    assert len(cells) == len(config.grid["input_lr"]) * 2 * 2
    assert {c.input_lr for _, c in cells} == set(config.grid["input_lr"])
    assert all(c.lr == 3e-3 and c.sg_lr == 3e-4 and c.complete_unlock and c.layers == 4 for _, c in cells)
    paper = search_cells(config, STAGES[3], {**chosen, "input_lr": 1e-2})
    assert {c.sg for _, c in paper} == {"paper"} and {c.sg_lr for _, c in paper} == set(config.grid["paper_sg_lr"])


def test_table_cells_use_the_chosen_settings_in_every_row_and_column():
    config = Table1Config(depths=[3, 5], seeds=[0, 1], cnn_sg_hidden=16)
    chosen = {"lr": 3e-3, "sg_lr": 3e-4, "input_lr": 1e-2, "paper_sg_lr": 3e-5}
    cells = table_cells(config, chosen)
    assert all(c.lr == 3e-3 for _, c in cells)
    assert {column(c) for row, c in cells if row == "CNN"} == set(COLUMNS)
    paper = [c for _, c in cells if column(c) == "dni-paper"]
    assert {c.sg_lr for c in paper} == {3e-5} and {c.sg_hidden for c in paper if c.model == "cnn"} == {16}
    assert {c.sg_lr for _, c in cells if column(c) in ("dni", "cdni")} == {3e-4}
    assert {c.input_lr for _, c in cells if c.complete_unlock} == {1e-2}
    assert {c.update_prob for row, c in cells if "p = 0.2" in row} == {0.2}
    assert len(cells) == 2 * (2 * 4 + 5 + 2 + 2)


def test_a_choice_at_the_end_of_its_grid_extends_the_grid_beyond_it(monkeypatch):
    """Validation error lowest at lr = 3e-2, two steps past the grid's top: the search walks there."""
    import math
    from minidni.experiments import table1

    def fake_cells(cells, data, progress=None, jobs=1, record_divergence=False):
        return [{"best_valid_error": abs(math.log10(c.lr / 3e-2)) if c.method == "backprop" else 1.0,
                 "best_valid_epoch": 1} for c in cells]
    monkeypatch.setattr(table1, "run_cells", fake_cells)
    records, chosen = table1.run_search(Table1Config(search_seeds=[0]), data=None)
    assert chosen["lr"] == 3e-2
    assert sorted({r["value"] for r in records if r["stage"] == "lr"}) == [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    assert chosen["sg_lr"] == 3e-5 and len({r["value"] for r in records if r["stage"] == "sg_lr"}) == 4   # a tie


def test_one_step_walks_the_1_3_10_sequence():
    from minidni.experiments.table1 import one_step
    assert [one_step(v, up=True) for v in (3e-3, 1e-2, 1e-4)] == [1e-2, 3e-2, 3e-4]
    assert [one_step(v, up=False) for v in (3e-3, 1e-2, 3e-5)] == [1e-3, 3e-3, 1e-5]


def test_the_search_reads_no_test_number():
    """Only validation errors go into the search records: no test error can choose a setting."""
    out = run_table1(Table1Config(depths=[3], seeds=[0], search_seeds=[0], epochs=1, p_epochs=1, quick=True))
    assert out["search"] and all(not any("test" in k for k in r) for r in out["search"])
    assert set(out["chosen"]) == {s[0] for s in STAGES}
    assert {(r["row"], r["column"]) for r in out["results"]} >= {("3-layer FCN", "backprop"), ("CNN", "cdni-channels")}
    assert all("test_error_at_best_valid" in r for r in out["results"])
    json.dumps(out)                                                     # plain JSON


def test_cells_trained_in_two_processes_give_the_same_results_as_one_by_one():
    data = load_dataset("digits", flat=True)
    cells = [TrainConfig(method=m, epochs=1, seed=s) for m, s in (("backprop", 0), ("cdni", 1), ("dni", 2))]
    one, two = run_cells(cells, data), run_cells(cells, data, jobs=2)
    assert [r["history"][-1]["valid_accuracy"] for r in one] == [r["history"][-1]["valid_accuracy"] for r in two]


def test_a_search_records_a_diverged_run_and_goes_on():
    data = load_dataset("digits", flat=True)
    cells = [TrainConfig(epochs=1, lr=1e6), TrainConfig(epochs=1)]
    results = run_cells(cells, data, record_divergence=True)
    assert "diverged" in results[0] and "best_valid_error" in results[1]
    with pytest.raises(UserError):
        run_cells(cells[:1], data)


def test_gaps_take_the_better_m_for_dni_and_the_cnn_goals_for_the_cnn():
    means = {("3-layer FCN", "backprop"): 5.0, ("3-layer FCN", "dni"): 8.0, ("3-layer FCN", "dni-paper"): 6.5,
             ("3-layer FCN", "cdni"): 5.5, ("CNN", "backprop"): 3.0, ("CNN", "dni"): 7.0,
             ("CNN", "dni-paper"): 6.5, ("CNN", "cdni"): 4.0, ("4-layer FCN, complete unlock", "dni"): 9.0}
    out = {"dataset": "mnist5k", "results": [{"row": row, "column": c, "test_error_at_best_valid": v + d}
                                             for (row, c), v in means.items() for d in (-0.5, 0.5)]}
    assert gaps(out) == [("3-layer FCN", "cdni", 0.5, 1.0), ("3-layer FCN", "dni", 1.5, 2.0),
                         ("CNN", "cdni", 1.0, 1.5), ("CNN", "dni", 3.5, 3.0)]
    assert "missed by 0.50" in gap_table(out).splitlines()[-1]
    assert gap_table(out).count("| met |") == 3


def test_the_full_mnist_is_judged_by_its_own_goals_backprop_included():
    """figures/mnist_goals.md: cDNI within 0.5 everywhere, DNI within 1 (3, 4 layers) or 2 (5, 6), no DNI goal
    on the CNN, and backprop's 4-layer FCN at most 2.0 % test error."""
    means = {("4-layer FCN", "backprop"): 2.2, ("4-layer FCN", "dni"): 3.0, ("4-layer FCN", "dni-paper"): 3.5,
             ("4-layer FCN", "cdni"): 2.6, ("6-layer FCN", "backprop"): 2.0, ("6-layer FCN", "dni"): 3.9,
             ("6-layer FCN", "dni-paper"): 4.5, ("6-layer FCN", "cdni"): 2.4, ("CNN", "backprop"): 1.0,
             ("CNN", "dni"): 9.0, ("CNN", "dni-paper"): 9.0, ("CNN", "cdni"): 1.4}
    out = {"dataset": "mnist", "results": [{"row": row, "column": c, "test_error_at_best_valid": v}
                                           for (row, c), v in means.items()]}
    found = {(row, method): (round(gap, 6), goal) for row, method, gap, goal in gaps(out)}
    assert found == {("4-layer FCN", "cdni"): (0.4, 0.5), ("4-layer FCN", "dni"): (0.8, 1.0),
                     ("6-layer FCN", "cdni"): (0.4, 0.5), ("6-layer FCN", "dni"): (1.9, 2.0),
                     ("CNN", "cdni"): (0.4, 0.5)}
    assert gap_table(out).splitlines()[-1].endswith("| 2.20 | ≤ 2 | missed by 0.20 |")


def test_table1_config_refuses_bad_values():
    for bad in (dict(dataset="imagenet"), dict(seeds=[]), dict(epochs=0), dict(cnn_sg_hidden=0)):
        with pytest.raises(UserError):
            Table1Config(**bad).check()


def test_the_defaults_are_the_settings_the_committed_digits_search_chose():
    """No default from a test number: lr, M's and I's learning rates are what validation chose."""
    summary = json.loads((ROOT / "figures" / "summary_results.json").read_text())
    assert not summary["quick"]
    chosen, defaults = summary["results"]["chosen"], TrainConfig()
    assert (defaults.lr, defaults.sg_lr, defaults.input_lr) == (chosen["lr"], chosen["sg_lr"], chosen["input_lr"])
    tried = {r["stage"] for r in summary["results"]["search"]}
    assert tried == {s[0] for s in STAGES}
    assert dataclasses.asdict(defaults)["sg"] == "linear"


def test_one_seed_shows_its_number_without_a_spread():
    """Over one seed there is no spread: the tables print the value alone, never "± 0.00"."""
    from minidni.experiments.feedforward import mean_std_table, mean_std_text
    assert mean_std_text([4.0]) == "4.00"
    assert mean_std_text([3.0, 5.0]) == "4.00 ± 1.00"
    table = mean_std_table("", ["r"], ["one", "two"], lambda row, c: [2.5] if c == "one" else [2.0, 3.0])
    assert "2.50 |" in table and "± 0.00" not in table and "2.50 ± 0.50" in table
