"""The tutorials' text never contradicts what they show, in the quick setting or the full one.

A sentence that depends on a live output (a number this run printed, "DNI beats the control")
sits in a markdown line that starts with **Live:**, next to a hidden code cell tagged `claim`
that asserts it. nbmake executes every notebook in the quick setting (`--nbmake` in setup.cfg),
so a claim that does not hold fails CI there; the full setting runs the same cells when the
committed outputs are made. Numbers quoted from anything but this run come from the committed
full runs, in a paragraph marked **From the committed full runs** that names the file.
These tests check that structure without starting a kernel, except one: a synthetic notebook
whose claim is false fails under nbmake's own executor.
"""
import json
import re
from pathlib import Path

import pytest
from nbmake.nb_run import NotebookRun

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
LIVE = re.compile(r"^\s*(?:[*-]\s+)?\*\*Live:\*\*", re.M)
COMMITTED = "**From the committed full runs**"
COMMITTED_FILE = re.compile(r"`((?:figures|docs)/[\w./-]+)`")
ZERO_SPREAD = re.compile(r"±\s*0\.0+(?![0-9])")          # "± 0.00": a spread over one seed, or none


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _is_claim(cell):
    return cell.get("cell_type") == "code" and "claim" in cell.get("metadata", {}).get("tags", [])


def claim_problems(nb):
    """Every way notebook `nb` (a dict) breaks the claim rules above, one line each; [] if none."""
    cells = nb.get("cells", [])
    problems = [] if any(_is_claim(c) for c in cells) else ["no cell tagged claim"]
    if nb.get("metadata", {}).get("execution", {}).get("allow_errors"):
        problems.append("metadata execution.allow_errors is set: a false claim would not fail")
    for i, cell in enumerate(cells):
        if _is_claim(cell):
            meta = cell.get("metadata", {})
            if not meta.get("jupyter", {}).get("source_hidden"):
                problems.append(f"cell {i}: a claim cell whose source is not hidden")
            if "assert " not in _source(cell):
                problems.append(f"cell {i}: a claim cell with no assert")
            if {"skip-execution", "raises-exception"} & set(meta.get("tags", [])):
                problems.append(f"cell {i}: a claim cell that nbmake would not check")
        elif cell.get("cell_type") == "markdown":
            if LIVE.search(_source(cell)) and not any(_is_claim(cells[j]) for j in (i - 1, i + 1)
                                                      if 0 <= j < len(cells)):
                problems.append(f"cell {i}: a **Live:** sentence with no claim cell right before or after it")
            if COMMITTED in _source(cell):
                named = COMMITTED_FILE.findall(_source(cell))
                if not named or not all((ROOT / name).exists() for name in named):
                    problems.append(f"cell {i}: committed runs quoted without an existing file in figures/ or docs/")
    return problems


def output_text(nb):
    """The text of every output of every code cell of `nb`: streams, text/plain, markdown, html."""
    parts = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            parts.append(_source({"source": out.get("text", "")}))
            for kind in ("text/plain", "text/markdown", "text/html"):
                parts.append(_source({"source": out.get("data", {}).get(kind, "")}))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_live_sentence_sits_next_to_a_hidden_claim_cell(path):
    assert claim_problems(json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_committed_output_shows_a_zero_spread(path):
    assert ZERO_SPREAD.findall(output_text(json.loads(path.read_text()))) == []


def test_nbmake_runs_the_notebooks_so_ci_runs_every_claim():
    setup = (ROOT / "setup.cfg").read_text()
    assert re.search(r"addopts\s*=.*--nbmake", setup) and re.search(r"testpaths\s*=.*\btutorials\b", setup)


# --- the rules can fail: synthetic notebooks ---

def _nb(*cells, **metadata):
    """cells: (kind, source) or (kind, source, tags, hidden)."""
    out = []
    for k, (kind, src, *rest) in enumerate(cells):
        tags, hidden = (rest + [[], False])[:2] if rest else ([], False)
        meta = {"tags": tags, **({"jupyter": {"source_hidden": True}} if hidden else {})}
        cell = {"cell_type": kind, "id": f"cell-{k}", "metadata": meta, "source": src}
        if kind == "code":
            cell.update(outputs=[], execution_count=None)
        out.append(cell)
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": out}


GOOD = [("code", "x = 2"), ("code", "assert x == 2", ["claim"], True), ("markdown", "**Live:** x is 2.")]


def test_a_notebook_that_follows_the_rules_has_no_problems():
    assert claim_problems(_nb(*GOOD)) == []


@pytest.mark.parametrize("cells, metadata, expected", [
    ([("code", "x = 2"), ("markdown", "x is 2.")], {}, "no cell tagged claim"),
    ([GOOD[0], ("markdown", "**Live:** x is 2."), GOOD[1]], {}, ""),      # after the claim or before it: both fine
    ([GOOD[1], GOOD[0], ("markdown", "* **Live:** x is 2.")], {}, "cell 2: a **Live:** sentence with no claim"),
    ([GOOD[0], ("code", "assert x == 2", ["claim"], False), GOOD[2]], {}, "source is not hidden"),
    ([GOOD[0], ("code", "print(x)", ["claim"], True), GOOD[2]], {}, "with no assert"),
    ([GOOD[0], ("code", "assert x", ["claim", "raises-exception"], True), GOOD[2]], {}, "would not check"),
    (GOOD, {"execution": {"allow_errors": True}}, "allow_errors"),
    (GOOD + [("markdown", f"{COMMITTED} (`figures/no_such_file.md`): 3%.")], {}, "without an existing file"),
], ids=["no-claim", "claim-after", "live-alone", "not-hidden", "no-assert", "raises-tag", "allow-errors",
        "missing-file"])
def test_a_notebook_breaking_a_claim_rule_is_reported(cells, metadata, expected):
    problems = claim_problems(_nb(*cells, **metadata))
    assert (problems == []) if not expected else any(expected in p for p in problems), problems


def test_a_zero_spread_is_found_in_any_kind_of_output():
    nb = _nb(("code", ""))
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["3.06 ± 0.00\n"]},
                                 {"output_type": "display_data", "data": {"text/markdown": "| 2.5 ± 0.0 |"}}]
    assert ZERO_SPREAD.findall(output_text(nb)) == ["± 0.00", "± 0.0"]
    assert ZERO_SPREAD.findall("2.44 ± 0.32, 1.0 ± 0.05, 7 ± 0.001") == []


def test_a_false_claim_fails_the_notebook_under_nbmakes_executor(tmp_path):
    path = tmp_path / "claims.ipynb"
    path.write_text(json.dumps(_nb(*GOOD, ("code", "assert x == 3, 'x is not 3'", ["claim"], True),
                                   ("markdown", "**Live:** x is 3."))))
    error = NotebookRun(path, 60).execute().error
    assert error is not None and error.failing_cell_index == 3 and "x is not 3" in error.summary + error.trace
