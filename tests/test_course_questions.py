"""Concept questions: every notebook asks at least one, the checker grades it from a hash, a wrong
answer earns a nudge that does not give the answer away, and the package holds no answer."""
import ast
import json
import re
from pathlib import Path

import pytest

from minidni.course import ExerciseError, check, solutions
from minidni.course.checker import NotDoneYet
from minidni.course.questions import QUESTIONS, digest, judge, unseal

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("0*.ipynb"))
ASKED = re.compile(r'^(q_\w+) = None .*\ncheck\("\1", \1\)$')


def question_cells(path):
    """[(name, the markdown cell before it)] of each concept-question cell of notebook `path`."""
    cells = json.loads(path.read_text())["cells"]
    found = []
    for before, cell in zip(cells, cells[1:]):
        match = ASKED.match("".join(cell["source"]))
        if cell["cell_type"] == "code" and match:
            assert "exercise" in cell["metadata"].get("tags", ()), (path.name, match.group(1))
            found.append((match.group(1), "".join(before["source"])))
    return found


def wrong_answers(name):
    """Every wrong answer of a multiple-choice question, or a few wrong numbers."""
    question, right = QUESTIONS[name], solutions.CONCEPT_ANSWERS[name]
    if question["choices"]:
        return [k for k in question["choices"] if k != right]
    return [right + 1, right - 1, right + 0.5]


def test_every_notebook_asks_a_concept_question_with_its_text_and_choices():
    asked = []
    for path in NOTEBOOKS:
        cells = question_cells(path)
        assert cells, path.name
        for name, text in cells:
            question = QUESTIONS[name]
            assert path.name.startswith(question["notebook"]) and question["prompt"] in text
            assert all(f"**{k}**: {choice}" in text for k, choice in (question["choices"] or {}).items())
            asked.append(name)
    assert sorted(asked) == sorted(QUESTIONS)                    # each asked once, where it belongs


def test_each_hash_is_that_of_the_instructors_answer_and_unseals_its_reason():
    assert set(solutions.CONCEPT_ANSWERS) == set(QUESTIONS) == set(solutions.CONCEPT_WHY)
    for name, answer in solutions.CONCEPT_ANSWERS.items():
        assert digest(name, answer) == QUESTIONS[name]["answer_sha256"], name
        assert unseal(name, answer, QUESTIONS[name]["why_sealed"]) == solutions.CONCEPT_WHY[name]


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_the_right_answer_passes_and_says_why(name, capsys):
    answer = solutions.CONCEPT_ANSWERS[name]
    variants = [answer.upper(), f" {answer} "] if isinstance(answer, str) else [float(answer), str(answer)]
    for value in [answer, *variants]:
        assert check(name, value) == value
        assert capsys.readouterr().out == f"correct: {name}: {solutions.CONCEPT_WHY[name]}\n"


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_a_wrong_answer_raises_a_nudge_that_does_not_give_the_answer(name):
    answer = solutions.CONCEPT_ANSWERS[name]
    for wrong in wrong_answers(name):
        with pytest.raises(ExerciseError) as raised:
            check(name, wrong)
        message = str(raised.value)
        assert message.startswith(f"{name}: ") and QUESTIONS[name]["nudge"] in message
        assert solutions.CONCEPT_WHY[name] not in message
        if QUESTIONS[name]["choices"]:
            assert QUESTIONS[name]["choices"][answer] not in message and f"{answer!r}" not in message


def test_an_answer_of_the_wrong_kind_says_what_kind_is_asked():
    with pytest.raises(ExerciseError, match="answer with one of 'a', 'b', 'c', 'd'"):
        check("q_m_target", "e")
    with pytest.raises(ExerciseError, match="answer with a number, not 'three'"):
        check("q_first_f1_update", "three")


def test_an_unanswered_question_runs_on_like_a_stub_and_is_not_done_yet_in_student_mode(tmp_path, monkeypatch,
                                                                                      capsys):
    assert check("q_m_target", None) is None
    assert capsys.readouterr().out.startswith("not attempted: ")
    data = tmp_path / "expected.json"
    data.write_bytes(b"")
    monkeypatch.setenv("MINIDNI_COURSE_EXPECTED", str(data))
    with pytest.raises(NotDoneYet):
        check("q_m_target", ...)
    assert judge("q_m_target", solutions.CONCEPT_ANSWERS["q_m_target"]) == solutions.CONCEPT_WHY["q_m_target"]


def test_the_questions_module_holds_no_answer_in_plain_text():
    """Outside the keys of `choices`, no string in QUESTIONS equals an answer; nor is a reason there."""
    source = (ROOT / "minidni" / "course" / "questions.py").read_text()
    tree = next(node.value for node in ast.parse(source).body
                if isinstance(node, ast.Assign) and node.targets[0].id == "QUESTIONS")
    for key, call in zip(tree.keys, tree.values):
        name, answer = key.value, solutions.CONCEPT_ANSWERS[key.value]
        choice_keys = {id(k) for arg in call.args if isinstance(arg, ast.Dict) for k in arg.keys}
        strings = [node.value for node in ast.walk(call) if isinstance(node, ast.Constant) and id(node) not in
                   choice_keys and isinstance(node.value, str)]
        assert str(answer) not in strings, name
        assert not any(solutions.CONCEPT_WHY[name][:40] in s for s in strings), name
