"""The class kit: `course release` hands students notebooks without answers, and `course grade`
scores what four students hand in with nbgrader, exercise by exercise, with the hints as feedback."""
import csv
import functools
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys

import nbformat
import pytest

pytest.importorskip("nbgrader")

from minidni.course import solutions                             # noqa: E402 (after the skip)
from minidni.course.questions import QUESTIONS                   # noqa: E402
from minidni.course.checker import CHECKS, EXPECTED_FILE         # noqa: E402
from minidni.course.release import exercise_name, reference_body  # noqa: E402
from minidni.course.student_package import LIBRARY_ANSWERS         # noqa: E402

GRADED = ("01_layers_by_hand", "09_write_dni_step")
STUB = re.compile(r"^ *# YOUR CODE HERE\n *raise NotImplementedError\(\)", re.M)

# A typical mistake per exercise, and the words of the hint it must earn in the feedback.
MISTAKES = {
    "relu_backward": ("    return dy * (dy > 0)", "the mask is [x > 0], from the layer's input x, not from dy"),
    "softmax_cross_entropy_backward": ("    e = np.exp(z - z.max(axis=1, keepdims=True))\n"
                                       "    return e / e.sum(axis=1, keepdims=True) - np.eye(z.shape[1])[y]",
                                       "did you forget to divide by N?"),
    "linear_backward": ("    return dy @ W.T, x.T @ dy, 0 * dy[0]", "db is zero"),
    "dni_step": (reference_body("dni_step").replace("if i > 1:", "if i > 2:"),
                 "M[2] predicts g_hat_1 from h_1"),
}
# The concept questions of the two notebooks: a wrong answer, and the nudge it must earn.
MISTAKES.update({"q_what_dni_changes": ("a", QUESTIONS["q_what_dni_changes"]["nudge"]),
                 "q_first_f1_update": (2, QUESTIONS["q_first_f1_update"]["nudge"])})
RIGHT = {name: solutions.CONCEPT_ANSWERS[name] if name in QUESTIONS else reference_body(name) for name in MISTAKES}
HALF = {name: RIGHT[name] for name in ("relu_backward", "linear_backward")}    # one of the two in each notebook
STUDENTS = {"blank": {}, "mistakes": {name: body for name, (body, _) in MISTAKES.items()}, "half": HALF,
            "right": RIGHT}


def minidni(*args):
    """`python -m minidni ARGS` in the quick setting; fails the test on a non-zero exit."""
    env = {**os.environ, "MINIDNI_QUICK": "1"}
    done = subprocess.run([sys.executable, "-m", "minidni", *map(str, args)], env=env, timeout=600,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The whole release in DIR, and the instructor's course directory."""
    root = tmp_path_factory.mktemp("class")
    minidni("course", "release", root / "release", "--course", root / "course")
    return root


def answered(path, bodies):
    """The student notebook at `path` with the stubs of `bodies`' exercises replaced by those bodies, and
    its concept questions answered with their values."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        name = cell.metadata.get("nbgrader", {}).get("solution") and exercise_name(cell)
        if name in bodies:
            cell.source = STUB.sub(lambda _: bodies[name], cell.source)
        question = re.match(r"(q_\w+) = None", cell.source)
        if question and question.group(1) in bodies:
            cell.source = cell.source.replace(" = None", f" = {bodies[question.group(1)]!r}", 1)
    return nb


def test_four_students_get_exactly_the_scores_their_answers_earn(released, tmp_path):
    for student, bodies in STUDENTS.items():
        (tmp_path / "submissions" / student).mkdir(parents=True)
        for notebook in GRADED:
            nb = answered(released / "release" / f"{notebook}.ipynb", bodies)
            nbformat.write(nb, tmp_path / "submissions" / student / f"{notebook}.ipynb")
    out = tmp_path / "grades.csv"
    minidni("course", "grade", tmp_path / "submissions", "--out", out, "--course", released / "course")
    with open(out) as f:
        rows = list(csv.DictReader(f))
    got = {(r["student"], r["notebook"], r["exercise"]): (float(r["score"]), float(r["max_score"])) for r in rows}
    exercises = {"01_layers_by_hand": ("relu_backward", "softmax_cross_entropy_backward", "q_what_dni_changes"),
                 "09_write_dni_step": ("linear_backward", "dni_step", "q_first_f1_update")}
    want = {(student, notebook, name): (float(name in bodies and bodies[name] == RIGHT[name]), 1.0)
            for student, bodies in STUDENTS.items() for notebook, names in exercises.items() for name in names}
    assert got == want
    assert all(got[key][0] == 0 for key in got if key[0] == "blank")
    feedback = (tmp_path / "feedback" / "mistakes.md").read_text()
    for name, (_, hint) in MISTAKES.items():
        assert hint in feedback, name
    blank = (tmp_path / "feedback" / "blank.md").read_text()
    assert "not done yet: relu_backward" in blank and "not done yet: q_what_dni_changes" in blank


# Loop headers that say nothing of an answer: 09 lists its trainer's modules with the loop that
# dni_step also needs; the package's recurrent layers step through time as window_backward does.
LOOP_HEADERS = {"for i, f in enumerate(trainer.modules, start=1):", "for t in range(T):"}


def solution_lines():
    """Every line of every reference solution's body, its comment cut, but for lines too short to mean
    anything (a bare `return loss`, `else:`) and LOOP_HEADERS."""
    lines = set()
    for name, fn in inspect.getmembers(solutions, inspect.isfunction):
        for line in reference_body(name).splitlines():
            code = line.split("#")[0].strip()
            if len(code) >= 12 and not re.fullmatch(r"return [\w, ]+", code):
                lines.add(code)
    return lines - LOOP_HEADERS


def library_text(package):
    """The source of the student package's modules that hold LIBRARY_ANSWERS, which it ships on purpose."""
    modules = {answer.split(":")[0] for answer in LIBRARY_ANSWERS.values()}
    return "\n".join((package / (module.replace(".", "/") + ".py")).read_text() for module in sorted(modules))


def test_no_line_of_any_solution_is_in_the_release_nor_the_student_package_but_the_library_answers(released):
    out = released / "release"
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(list(out.glob("*.ipynb"))) == 9 and (out / EXPECTED_FILE).exists()
    assert (out / "package" / "minidni" / "course" / "solutions.py") in files
    lines = solution_lines()
    assert len(lines) > 50
    shipped = library_text(out / "package")
    for path in files:
        if path.suffix == ".ipynb":
            text = {line.split("#")[0].strip() for cell in nbformat.read(path, as_version=4).cells
                    for line in cell.source.splitlines()}
            leaked = lines & text
        else:
            text = path.read_bytes()
            leaked = {line for line in lines if line.encode() in text}
        leaked = {line for line in leaked if line not in shipped}
        assert not leaked, f"{path.relative_to(out)} holds a line of a reference solution: {sorted(leaked)}"


def test_every_library_answer_is_named_by_its_module_and_qualified_name():
    assert set(LIBRARY_ANSWERS) <= set(CHECKS)
    for exercise, answer in LIBRARY_ANSWERS.items():
        module, qualname = answer.split(":")
        assert functools.reduce(getattr, qualname.split("."), importlib.import_module(module)), exercise


def test_the_student_packages_solutions_hold_no_answer_and_raise(released):
    path = released / "release" / "package" / "minidni" / "course" / "solutions.py"
    spec = importlib.util.spec_from_file_location("student_solutions", path)
    stubs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stubs)
    assert stubs.CONCEPT_ANSWERS == {} and stubs.CONCEPT_WHY == {}
    for name, fn in inspect.getmembers(solutions, inspect.isfunction):
        stub = getattr(stubs, name)
        assert inspect.signature(stub) == inspect.signature(fn) and stub.__doc__ == fn.__doc__
        with pytest.raises(NotImplementedError, match="withheld in the student release"):
            stub(*inspect.signature(fn).parameters)
    assert (released / "release" / "package" / "setup.cfg").exists()
    assert (released / "release" / "package" / "pyproject.toml").exists()


# A notebook's cell, answered, run where the student runs it: the student package first on the path.
STUDENT_CELL = """
import pathlib, re
import minidni
from minidni.course import ExerciseError, check
assert pathlib.Path(minidni.__file__).resolve().is_relative_to(pathlib.Path("package").resolve()), minidni.__file__
{cell}
"""


def run_in_the_release(released, cell):
    """Run STUDENT_CELL with `cell` in DIR with PYTHONPATH=DIR/package: (exit status, output)."""
    out = released / "release"
    env = {**os.environ, "PYTHONPATH": str(out / "package")}
    env.pop("MINIDNI_COURSE_EXPECTED", None)                         # the data file beside the notebooks
    done = subprocess.run([sys.executable, "-c", STUDENT_CELL.format(cell=cell)], cwd=out, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def relu_cells(released, bodies):
    """The cell of the released 01 that defines relu_backward, answered with `bodies`, and the cell that checks it."""
    cells = answered(released / "release" / "01_layers_by_hand.ipynb", bodies).cells
    return "\n".join(c.source for c in cells if c.source.startswith(("def relu_backward(", "relu_backward = check(")))


def test_a_students_check_runs_on_the_student_package_without_the_solutions(released):
    right = relu_cells(released, RIGHT) + "\nassert relu_backward.__module__ == '__main__'"     # yours, handed back
    status, output = run_in_the_release(released, right)
    assert status == 0 and "correct: relu_backward" in output, output
    status, output = run_in_the_release(released, relu_cells(released, STUDENTS["mistakes"]))
    assert status != 0 and MISTAKES["relu_backward"][1] in output, output
    status, output = run_in_the_release(released, relu_cells(released, {}))
    assert status != 0 and "NotDoneYet: relu_backward" in output, output


def test_the_course_directory_keeps_the_solutions_and_hidden_tests(released):
    source = (released / "course" / "source" / "01_layers_by_hand" / "01_layers_by_hand.ipynb").read_text()
    assert "### BEGIN SOLUTION" in source and "### BEGIN HIDDEN TESTS" in source
    assert "dy * (x > 0)" in source


def test_in_student_mode_the_data_file_gives_the_same_hints_and_a_stub_is_not_done_yet(released, monkeypatch,
                                                                                       capsys):
    from minidni.course.checker import ExerciseError, NotDoneYet, check, show_solution
    monkeypatch.setenv("MINIDNI_COURSE_EXPECTED", str(released / "release" / EXPECTED_FILE))
    with pytest.raises(ExerciseError, match=re.escape(MISTAKES["relu_backward"][1])):
        check("relu_backward", lambda x, dy: dy * (dy > 0))
    assert check("relu_backward", solutions.relu_backward) is solutions.relu_backward

    def stub(x, dy):
        raise NotImplementedError
    with pytest.raises(NotDoneYet) as raised:
        check("relu_backward", stub)
    assert raised.value._render_traceback_() == ["not done yet: relu_backward"]      # IPython's whole traceback
    show_solution("relu_backward")
    assert "x > 0" not in capsys.readouterr().out
