"""The class kit: `course release` hands students notebooks without answers, and `course grade`
scores what four students hand in with nbgrader, exercise by exercise, with the hints as feedback."""
import csv
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

pytest.importorskip("nbgrader")

from minidni.course import solutions                             # noqa: E402 (after the skip)
from minidni.course.questions import QUESTIONS                   # noqa: E402
from minidni.course.checker import CHECKS, EXPECTED_FILE         # noqa: E402
from minidni.course.files import REPOSITORY                      # noqa: E402
from minidni.course.hints import ARRAY_HINTS, VALUE_HINTS         # noqa: E402
from minidni.course.release import exercise_name, reference_body  # noqa: E402
from minidni.course.student_package import NOT_IN_THE_LIBRARY, PACKAGE, WITHHELD_CODE  # noqa: E402

GRADED = ("01_layers_by_hand", "09_write_dni_step")
STUB = re.compile(r"^ *# YOUR CODE HERE\n *raise NotImplementedError\(\)", re.M)

# A typical mistake per exercise, and the words of the hint it must earn in the feedback.
MISTAKES = {
    "relu_backward": ("    return dy * (dy > 0)", "the mask is [x > 0], from the layer's input x, not from dy"),
    "softmax_cross_entropy_backward": ("    e = np.exp(z - z.max(axis=1, keepdims=True))\n"
                                       "    return e / e.sum(axis=1, keepdims=True) - np.eye(z.shape[1])[y]",
                                       "did you forget to divide by N?"),
    "linear_backward": ("    return dy @ W.T, x.T @ dy, 0 * dy[0]", "db is zero"),
    "relative_error": ("    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))",
                       "when a and b are both zero"),
    "stable_softmax": ("    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)", "exp overflows for large logits"),
    "dni_step": (reference_body("dni_step").replace("g_hat * (z1 > 0)", "g_hat"),
                 "f_1's backward runs through its ReLU"),
}
# The concept questions of the two notebooks: a wrong answer, and the nudge it must earn.
MISTAKES.update({"q_what_dni_changes": ("a", QUESTIONS["q_what_dni_changes"]["nudge"]),
                 "q_first_f1_update": (2, QUESTIONS["q_first_f1_update"]["nudge"])})
RIGHT = {name: solutions.CONCEPT_ANSWERS[name] if name in QUESTIONS else reference_body(name) for name in MISTAKES}
HALF = {name: RIGHT[name] for name in ("linear_backward", "relu_backward", "dni_step")}   # some right in each notebook
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
    exercises = {"01_layers_by_hand": ("linear_backward", "relu_backward", "relative_error", "stable_softmax",
                                       "softmax_cross_entropy_backward", "q_what_dni_changes"),
                 "09_write_dni_step": ("dni_step", "q_first_f1_update")}
    want = {(student, notebook, name): (float(name in bodies and bodies[name] == RIGHT[name]), 1.0)
            for student, bodies in STUDENTS.items() for notebook, names in exercises.items() for name in names}
    assert got == want
    assert all(got[key][0] == 0 for key in got if key[0] == "blank")
    assert all(got[key][0] == 1 for key in got if key[0] == "right")              # every exercise, the source's answers
    feedback = (tmp_path / "feedback" / "mistakes.md").read_text()
    for name, (_, hint) in MISTAKES.items():
        assert hint in feedback, name
    blank = (tmp_path / "feedback" / "blank.md").read_text()
    assert "not done yet: relu_backward" in blank and "not done yet: q_what_dni_changes" in blank


# Lines that say nothing of an answer: the package's recurrent layers step through time as window_backward
# does; the parallel report and SequenceCrossEntropy.backward read events and an array module as the
# withheld waiting_intervals and SoftmaxCrossEntropy.backward did.
SAYS_NOTHING = {"for t in range(T):", 'if e.kind == "forward":', "xp = array_module(self.log_p)"}


def solution_lines():
    """Every line of every reference solution's body, its comment cut, but for lines too short to mean
    anything (a bare `return loss`, `else:`) and SAYS_NOTHING."""
    lines = set()
    for name, fn in inspect.getmembers(solutions, inspect.isfunction):
        for line in reference_body(name).splitlines():
            code = line.split("#")[0].strip()
            if len(code) >= 12 and not re.fullmatch(r"return [\w, ]+", code):
                lines.add(code)
    return lines - SAYS_NOTHING


def withheld_lines():
    """{line: exercise}: each code line of WITHHELD_CODE's library texts (its comment cut, 12 characters or
    more) that its replacement does not keep: the library code the exercises ask for."""
    lines = {}
    for name, _, _, replacements in WITHHELD_CODE:
        for old, new in replacements:
            kept = {line.split("#")[0].strip() for line in new.splitlines()}
            for line in old.splitlines():
                code = line.split("#")[0].strip()
                if len(code) >= 12 and code not in kept | SAYS_NOTHING:
                    lines[code] = name
    return lines


def test_no_line_of_any_solution_nor_of_the_library_code_they_ask_for_is_in_the_release(released):
    out = released / "release"
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(list(out.glob("*.ipynb"))) == 9 and (out / EXPECTED_FILE).exists()
    assert (out / "package" / "minidni" / "course" / "solutions.py") in files
    answers = solution_lines() | set(withheld_lines())
    assert len(solution_lines()) > 50 and len(withheld_lines()) > 15
    for path in files:
        if path.suffix == ".ipynb":
            text = {line.split("#")[0].strip() for cell in nbformat.read(path, as_version=4).cells
                    for line in cell.source.splitlines()}
            leaked = answers & text
        else:
            text = path.read_bytes()
            leaked = {line for line in answers if line.encode() in text}
        assert not leaked, f"{path.relative_to(out)} holds a line of an answer: {sorted(leaked)}"
    data = json.dumps(json.loads((out / EXPECTED_FILE).read_text()), ensure_ascii=False)     # "ᵀ", not "\\u1d40"
    hints = [hint for by_output in ARRAY_HINTS.values() for mistakes in by_output.values() for _, hint in mistakes]
    hints += [hint for mistakes in VALUE_HINTS.values() for _, hint in mistakes]
    assert len(hints) > 40 and not [hint for hint in hints if hint in data]        # sealed: minidni.course.mistakes


def test_the_repository_holds_each_withheld_text_once_and_every_exercise_is_withheld_or_not_in_the_library():
    for name, file, _, replacements in WITHHELD_CODE:
        for old, _ in replacements:
            assert (PACKAGE / file).read_text().count(old) == 1, (name, file)
    withheld = {name for name, *_ in WITHHELD_CODE}
    assert not withheld & set(NOT_IN_THE_LIBRARY)
    assert withheld | set(NOT_IN_THE_LIBRARY) == set(CHECKS) - set(QUESTIONS)


# Library code that runs the withheld pieces, printed as JSON: run on the repository's minidni and on the
# student package with the reference solutions as the student's answers, the two must agree.
PIECES = """
import json
import numpy as np
import minidni
from minidni.data.streams import DigitStreams
from minidni.experiments.locking import waiting_intervals
from minidni.gradcheck import check_module
from minidni.models import build_mlp
from minidni.nn import Conv2d, Linear, ReLU, Sequential
from minidni.data.tasks import CopyTask
from minidni.nn.recurrent import LSTM, SequenceModel
from minidni.trace import Event
from minidni.train import DNI
from minidni.train.tbptt import TBPTT, SequenceCrossEntropy
minidni.set_dtype("float64")
rng = np.random.default_rng(0)
x, y = rng.standard_normal((32, 6)), rng.integers(0, 3, 32)
out = {"gradcheck": list(check_module(Sequential(Linear(6, 5, rng), ReLU()), rng.standard_normal((4, 6)),
                                      rng=rng).values())}
for name, conditional in (("dni", False), ("cdni", True)):
    net = build_mlp(6, 3, layers=3, hidden=8, rng=np.random.default_rng(1), batchnorm=False)
    trainer = DNI(net, (6,), 3, conditional=conditional, rng=np.random.default_rng(1), diagnose_every=1)
    out[name] = [float(trainer.step(x, y)) for _ in range(4)]
    out[name + " cosine"] = [m["cosine"] for d in trainer.diagnostics for m in d["modules"]]
out["conv"] = list(check_module(Conv2d(2, 3, 3, padding=1, rng=rng), rng.standard_normal((2, 2, 5, 5)),
                                  rng=rng).values())
lstm = LSTM(3, 4, rng)
y, _ = lstm.forward(rng.standard_normal((5, 2, 3)))
back = lstm.backward(rng.standard_normal(y.shape))
out["lstm"] = [float((v * v).sum()) for v in [back[0], *(lstm.grads[k] for k in sorted(lstm.grads))]]
task = CopyTask(bits=1)
tokens, targets, mask = task.batch(4, 3, np.random.default_rng(2))
tbptt = TBPTT(SequenceModel(task.n_in, task.n_out, 8, np.random.default_rng(3)), 3, "dni-aux", rng=np.random.default_rng(3))
out["tbptt"] = [float(tbptt.sequence(tokens, targets, mask)) for _ in range(3)] + [float(tbptt.aux_loss)]
loss = SequenceCrossEntropy()
out["sequence"] = float(loss.forward(rng.standard_normal((3, 4, 5)), rng.integers(0, 5, (3, 4)),
                                     rng.integers(0, 2, (3, 4))))
out["sequence backward"] = loss.backward().ravel().tolist()
streams = DigitStreams(rng.standard_normal((20, 2)), rng.integers(0, 10, 20), K=3, ticks=4, span=2)
out["y_tick"] = streams.batch(3, rng)[2].tolist()
order = [(0, "forward"), (1, "forward"), (1, "backward"), (1, "update"), (0, "backward"), (0, "update")]
events = [Event(m, k, 1, t, t + 0.5) for t, (m, k) in enumerate(order)]
out["waits"] = sorted(waiting_intervals(events).values())
print("PIECES " + json.dumps(out))
"""


def pieces(cwd, pythonpath):
    """What PIECES prints, run in `cwd` with `pythonpath` first on the path (the student package, or the repository)."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    env.pop("MINIDNI_COURSE_EXPECTED", None)
    done = subprocess.run([sys.executable, "-c", PIECES], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(done.stdout.split("PIECES ", 1)[1])


def test_the_student_package_runs_the_students_answers_where_the_library_code_is_withheld(released, tmp_path):
    out = released / "release"
    shutil.copy(out / EXPECTED_FILE, tmp_path / EXPECTED_FILE)
    withheld = sorted({name for name, *_ in WITHHELD_CODE})
    status, output = run_in_the_release(released, PIECES, cwd=tmp_path)          # nothing answered yet
    assert status != 0 and "not answered yet: " in output and "the exercise of 0" in output, output
    (tmp_path / "answers.py").write_text("import math\n\nimport numpy as np\n\n\n" + "\n\n".join(
        inspect.getsource(getattr(solutions, name)) for name in withheld))      # the student's, in a file
    checks = "import sys\nsys.path.insert(0, '.')\nimport answers\n" + "".join(
        f"check({name!r}, answers.{name})\n" for name in withheld)
    status, output = run_in_the_release(released, checks, cwd=tmp_path)
    assert status == 0 and output.count("correct: ") == len(withheld), output
    assert sorted(p.stem for p in (tmp_path / "my_answers").glob("*.py")) == withheld
    want, got = pieces(tmp_path, str(REPOSITORY)), pieces(tmp_path, str(out / "package"))
    assert want.keys() == got.keys()
    for key in want:
        assert np.allclose(np.array(got[key], dtype=float), np.array(want[key], dtype=float),
                           rtol=1e-9, atol=1e-12), key


def test_the_student_packages_solutions_hold_no_answer_and_raise(released):
    path = released / "release" / "package" / "minidni" / "course" / "solutions.py"
    spec = importlib.util.spec_from_file_location("student_solutions", path)
    stubs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stubs)
    assert stubs.CONCEPT_ANSWERS == {} and stubs.CONCEPT_WHY == {}
    for name, fn in inspect.getmembers(solutions, inspect.isfunction):
        stub = getattr(stubs, name)
        assert inspect.signature(stub) == inspect.signature(fn) and name in stub.__doc__ and fn.__doc__ not in stub.__doc__
        with pytest.raises(NotImplementedError, match="withheld in the student release"):
            stub(*inspect.signature(fn).parameters)
    assert (released / "release" / "package" / "setup.cfg").exists()
    assert (released / "release" / "package" / "pyproject.toml").exists()


# A notebook's cell, answered, run where the student runs it: the student package first on the path.
STUDENT_CELL = """
import pathlib, re
import minidni
from minidni.course import ExerciseError, check
assert pathlib.Path(minidni.__file__).resolve().is_relative_to(pathlib.Path({package!r}).resolve()), minidni.__file__
{cell}
"""


def run_in_the_release(released, cell, cwd=None):
    """Run STUDENT_CELL with `cell` in `cwd` (DIR unless given) with PYTHONPATH=DIR/package: (exit status, output)."""
    out = released / "release"
    env = {**os.environ, "PYTHONPATH": str(out / "package")}
    env.pop("MINIDNI_COURSE_EXPECTED", None)                         # the data file beside the notebooks
    done = subprocess.run([sys.executable, "-c", STUDENT_CELL.format(cell=cell, package=str(out / "package"))], cwd=cwd or out, env=env,
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


def test_a_student_who_answers_everything_runs_the_nine_notebooks_in_order_on_the_student_package(
        released, tmp_path, monkeypatch):
    from nbclient import NotebookClient
    student = tmp_path / "student"
    shutil.copytree(released / "release", student, ignore=shutil.ignore_patterns("package"))
    monkeypatch.setenv("PYTHONPATH", str(released / "release" / "package"))      # the kernels import the package
    monkeypatch.setenv("MINIDNI_QUICK", "1")
    monkeypatch.delenv("MINIDNI_FULL", raising=False)
    monkeypatch.delenv("MINIDNI_COURSE_EXPECTED", raising=False)
    everything = {**{name: reference_body(name) for name in CHECKS}, **solutions.CONCEPT_ANSWERS}
    for path in sorted(student.glob("*.ipynb")):                 # 01 ... 09: each builds on the answers before
        nb = answered(path, everything)
        nb.cells.insert(0, nbformat.v4.new_code_cell("import minidni\nprint(minidni.__file__)"))
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(student)}}).execute()
        assert nb.cells[0].outputs[0].text.startswith(str(released / "release" / "package")), path.name
        printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", ()))
        assert "not attempted" not in printed and printed.count("correct: ") >= 1, path.name
    saved = sorted(p.stem for p in (student / "my_answers").glob("*.py"))
    assert saved == sorted(CHECKS)
