"""Static checks of the tutorial notebooks: cheap, no kernel started.

nbmake executes every notebook (`--nbmake` in setup.cfg); these tests check the house
style that execution cannot: numbered names with no gaps, short code cells, a title
first, the quick setting read, no library code defined in a notebook (except in a cell
tagged "exercise": a stub the reader completes), and "Next" links that lead somewhere.
`style_problems` is the one function that judges a notebook; the tests at the bottom
feed it broken notebooks to show that each rule can fail.
"""
import ast
import json
import re
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
MAX_CELL_LINES = 40      # a code cell is read at a glance
MAX_DEF_LINES = 3        # a helper this short is a formula; anything longer belongs in minidni/
EXERCISE_TAG = "exercise"  # a cell's metadata tag: the reader writes this function (minidni.course checks it)
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
NEXT_LINKS = re.compile(r"\*\*Next:\*\*(.*)", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _long_definitions(code):
    """(kind, name, lines) of every def/class in `code` longer than MAX_DEF_LINES lines."""
    # IPython magics and shell escapes are not Python; blank them so the rest still parses
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_DEF_LINES:
                found.append(("class" if isinstance(node, ast.ClassDef) else "def", node.name, lines))
    return found


def style_problems(path):
    """Every house-style rule the notebook at `path` breaks, one line each; [] if none."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        return [f"not valid JSON: {e}"]
    if nb.get("nbformat") != 4:
        return [f"nbformat is {nb.get('nbformat')!r}, not 4"]
    cells = nb.get("cells", [])
    problems = []
    number = NAME.match(path.name)
    first = _source(cells[0]).lstrip() if cells else ""
    if not cells or cells[0].get("cell_type") != "markdown" or not first.startswith("# "):
        problems.append("the first cell is not a markdown title ('# NN · ...')")
    elif number and not first.startswith(f"# {number.group(1)} "):
        problems.append(f"the title does not start with the file's number {number.group(1)}")
    code = [(i, _source(c)) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    for i, src in code:
        if len(src.splitlines()) > MAX_CELL_LINES:
            problems.append(f"cell {i}: {len(src.splitlines())} lines of code (at most {MAX_CELL_LINES})")
        exercise = EXERCISE_TAG in cells[i].get("metadata", {}).get("tags", [])
        try:
            for kind, name, lines in _long_definitions(src):
                if not exercise:
                    problems.append(f"cell {i}: {kind} {name} is {lines} lines long: library code belongs in minidni/")
        except SyntaxError as e:
            problems.append(f"cell {i}: not valid Python ({e.msg}, line {e.lineno})")
    if not any("quick()" in src for _, src in code):
        problems.append("never reads the quick setting (QUICK = quick() from minidni.experiments)")
    markdown = [_source(c) for c in cells if c.get("cell_type") == "markdown"]
    for heading in ("**Learning goals", "**What to try next"):
        if not any(heading in m for m in markdown):
            problems.append(f"no {heading.strip('*')} cell (a markdown cell with '{heading}**')")
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        for paragraph in NEXT_LINKS.findall(_source(cell)):
            for target in LINK.findall(paragraph.split("\n\n")[0]):
                if "://" not in target and not (path.parent / target.split("#")[0]).exists():
                    problems.append(f"cell {i}: the Next link {target} leads to no file")
    return problems


def numbering_problems(names):
    """Problems with a list of notebook file names: each NN_name.ipynb, numbered 01, 02, ... with no gap."""
    problems = [f"{n}: not named NN_lowercase_words.ipynb" for n in names if not NAME.match(n)]
    numbers = sorted(int(NAME.match(n).group(1)) for n in names if NAME.match(n))
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"numbers {numbers} are not 1, 2, ... {len(numbers)} without gaps or repeats")
    return problems


def test_the_tutorials_are_numbered_01_to_07_at_least_without_gaps():
    names = [p.name for p in NOTEBOOKS]
    assert numbering_problems(names) == []
    assert len(names) >= 7, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_tutorial_follows_the_house_style(path):
    assert style_problems(path) == []


# --- the rules can fail: broken notebooks, judged by the same function ---

def _write(tmp_path, cells, name="01_example.ipynb", nbformat=4):
    """cells: (kind, source) or (kind, source, tags)."""
    nb = {"nbformat": nbformat, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": kind, "metadata": {"tags": tags[0]} if tags else {}, "source": src}
                    for kind, src, *tags in cells]}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


GOOD = [("markdown", "# 01 · Example\n\nText."),
        ("markdown", "**Learning goals.** After this notebook you can: write an example."),
        ("code", "from minidni.experiments import quick\n\nQUICK = quick()"),
        ("markdown", "**What to try next**\n\n- change x."),
        ("markdown", "**Next:** [02 · More](02_more.ipynb).")]


def test_a_well_formed_notebook_has_no_problems(tmp_path):
    (tmp_path / "02_more.ipynb").write_text("{}")
    assert style_problems(_write(tmp_path, GOOD)) == []


@pytest.mark.parametrize("cells, expected", [
    ([("code", "x = 1")] + GOOD, "first cell is not a markdown title"),
    ([("markdown", "# 03 · Wrong number")] + GOOD[1:], "file's number 01"),
    (GOOD + [("code", "\n".join(f"x{k} = {k}" for k in range(41)))], "41 lines of code"),
    (GOOD[:2] + [("code", "x = 1")] + GOOD[3:], "never reads the quick setting"),
    (GOOD[:1] + GOOD[2:], "no Learning goals cell"),
    (GOOD[:3] + GOOD[4:], "no What to try next cell"),
    (GOOD + [("code", "def f(x):\n    y = x + 1\n    y = y * 2\n    return y")], "def f is 4 lines long"),
    (GOOD + [("code", "class Layer:\n    a = 1\n    b = 2\n    c = 3")], "class Layer is 4 lines long"),
    (GOOD + [("code", "x = (")], "not valid Python"),
], ids=["title", "title-number", "long-cell", "no-quick", "no-goals", "no-what-next", "long-def", "long-class",
        "syntax"])
def test_a_notebook_breaking_a_rule_is_reported(tmp_path, cells, expected):
    (tmp_path / "02_more.ipynb").write_text("{}")
    problems = style_problems(_write(tmp_path, cells))
    assert any(expected in p for p in problems), problems


def test_only_a_cell_tagged_exercise_may_define_a_long_function(tmp_path):
    (tmp_path / "02_more.ipynb").write_text("{}")
    stub = 'def f(x):\n    """x: (N, D) -> (N, D)."""\n    y = x\n    raise NotImplementedError'
    problems = {tags: style_problems(_write(tmp_path, GOOD + [("code", stub, list(tags))]))
                for tags in [(), ("exercise",), ("solution",)]}
    assert problems == {(): ["cell 5: def f is 4 lines long: library code belongs in minidni/"],
                        ("exercise",): [],
                        ("solution",): ["cell 5: def f is 4 lines long: library code belongs in minidni/"]}


def test_an_exercise_cell_still_keeps_to_the_cell_length_and_valid_python(tmp_path):
    (tmp_path / "02_more.ipynb").write_text("{}")
    long_stub = "def f(x):\n" + "\n".join(f"    x{k} = {k}" for k in range(41))
    problems = style_problems(_write(tmp_path, GOOD + [("code", long_stub, ["exercise"]),
                                                      ("code", "def f(", ["exercise"])]))
    assert problems[0] == "cell 5: 42 lines of code (at most 40)"
    assert problems[1].startswith("cell 6: not valid Python") and len(problems) == 2


def test_a_next_link_to_a_missing_notebook_is_reported(tmp_path):
    problems = style_problems(_write(tmp_path, GOOD))          # 02_more.ipynb does not exist here
    assert problems == ["cell 4: the Next link 02_more.ipynb leads to no file"]


def test_invalid_json_and_old_nbformat_are_reported(tmp_path):
    broken = tmp_path / "01_broken.ipynb"
    broken.write_text('{"cells": [')
    assert style_problems(broken)[0].startswith("not valid JSON")
    assert style_problems(_write(tmp_path, GOOD, nbformat=3)) == ["nbformat is 3, not 4"]


def test_a_gap_in_the_numbering_is_reported():
    assert numbering_problems(["01_a.ipynb", "02_b.ipynb"]) == []
    assert "without gaps" in numbering_problems(["01_a.ipynb", "03_c.ipynb"])[0]
    assert "without gaps" in numbering_problems(["01_a.ipynb", "01_b.ipynb"])[0]
    assert "not named" in numbering_problems(["1_a.ipynb"])[0]


@pytest.mark.parametrize("env, expected", [({}, True), ({"MINIDNI_FULL": "1"}, False), ({"MINIDNI_FULL": "0"}, True),
                                           ({"MINIDNI_QUICK": "1"}, True),
                                           ({"MINIDNI_QUICK": "1", "MINIDNI_FULL": "1"}, True)])
def test_a_notebook_runs_its_quick_setting_unless_the_full_one_is_asked_for(monkeypatch, env, expected):
    from minidni.experiments import quick
    monkeypatch.delenv("MINIDNI_QUICK", raising=False)
    monkeypatch.delenv("MINIDNI_FULL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert quick() is expected
