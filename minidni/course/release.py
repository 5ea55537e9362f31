"""The student release and the grading of a class, with nbgrader.

Both work in an nbgrader course directory (`course`): one assignment per tutorial, named
after it (01_layers_by_hand), and its own sqlite gradebook, course/gradebook.db.

build_course writes course/source/<nb>/<nb>.ipynb from each tutorial: every cell tagged
"exercise" that defines a function becomes an autograded answer cell whose stub's `raise
NotImplementedError` is replaced by the reference body of minidni.course.solutions between
`### BEGIN SOLUTION` and `### END SOLUTION`, and right after it comes a locked test cell
worth POINTS whose hidden test calls minidni.course.grading.grade. A cell tagged "exercise"
that asks a concept question (`q_name = None`, minidni.course.questions) stays as the student
edits it, followed by such a test cell; it holds no answer, and its check needs none. nbgrader's generate_assignment strips both
into course/release/; `release` copies those notebooks to the student's folder with
EXPECTED_FILE, the data of the checker's student mode (each case's inputs, expected
outputs and the typical mistakes, their hints sealed; no solution), the committed full runs its
notebooks quote (minidni.course.files) in DIR/figures, and DIR/package, the minidni that
students install (`python -m pip install DIR/package`; minidni.course.student_package): the
library with course/solutions.py reduced to stubs that raise NotImplementedError, the concept
questions' answers, the exercises' input generators and the hints' formulas left out, and the library code
an exercise asks for (Linear.backward for linear_backward, ...) replaced by a call to the
student's own answer, which check() saves to DIR/my_answers (minidni.course.yours). A notebook
that needs a piece whose exercise is not done yet stops there, with one line naming it.
Withheld: every reference solution, the library code the exercises ask for, the source
notebooks' solution cells and hidden tests.

grade_class copies SUBMISSIONS/<student>/<nb>.ipynb into course/submitted/, runs nbgrader's
autograde (which restores the hidden tests and executes each notebook) and returns one row
per student, notebook and exercise, with the failed test's message (its hint included).
"""
import ast
import inspect
import os
import re
import shutil
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

from ..errors import UserError
from . import datafile, solutions, student_package
from .checker import CHECKS, EXPECTED_ENV, EXPECTED_FILE, reference_cases
from .files import REPOSITORY, REPOSITORY_FIGURES, named_files
from .questions import QUESTIONS

TUTORIALS = REPOSITORY / "tutorials"
POINTS = 1                         # per exercise
STUB = re.compile(r"^[ \t]*raise NotImplementedError\b.*$", re.M)
CELL_SECONDS = 600                 # autograde's limit per cell: a full-setting training cell takes minutes


def tutorials(selected=None):
    """The tutorials with an exercise, or those whose name starts with one of `selected` ("01", "09")."""
    paths = sorted(p for p in TUTORIALS.glob("*.ipynb") if '"exercise"' in p.read_text())
    chosen = [p for p in paths if not selected or p.name.startswith(tuple(selected))]
    if not chosen:
        raise UserError(f"no tutorial with an exercise in {TUTORIALS}" + (f" matches {' '.join(selected)}"
                                                                          if selected else ""))
    return chosen


def reference_body(name):
    """The lines of solutions.<name> below its docstring, indented as in the def: what a student writes."""
    source = inspect.getsource(getattr(solutions, name))
    body = ast.parse(source).body[0].body[1:]
    return "\n".join(source.splitlines()[body[0].lineno - 1:body[-1].end_lineno])


def exercise_name(cell):
    """The function an exercise cell defines, or the concept question it answers (q_...)."""
    found = re.search(r"^def (\w+)\(|^(q_\w+) = ", cell.source, re.M)
    return found.group(1) or found.group(2)


def _nbgrader(grade_id, solution=False, grade=False):
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3, "solution": solution}
    return {"nbgrader": {**meta, "points": POINTS} if grade else meta}


def source_notebook(path):
    """Tutorial `path` as nbgrader's source: each exercise with its solution, then its hidden test."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        if "exercise" not in cell.metadata.get("tags", ()):
            continue
        name = exercise_name(cell)
        if name not in QUESTIONS:
            solved = f"    ### BEGIN SOLUTION\n{reference_body(name)}\n    ### END SOLUTION"
            cell.source = STUB.sub(lambda _: solved, cell.source, count=1)
            cell.metadata.update(_nbgrader(f"{name}_answer", solution=True))
        test = ("### BEGIN HIDDEN TESTS\nfrom minidni.course.grading import grade\n"
                f"grade({name!r}, {name})\n### END HIDDEN TESTS")
        cells.append(nbformat.v4.new_code_cell(test, metadata=_nbgrader(name, grade=True)))
    nb.cells = cells
    return nb


def _api(course):
    config = Config()
    config.CourseDirectory.root = str(Path(course).resolve())
    config.Execute.timeout = CELL_SECONDS
    return NbGraderAPI(config=config)


def _succeeded(result, what):
    if not result["success"]:
        raise RuntimeError(f"nbgrader {what} failed: {result['error']}\n{result['log']}")


def build_course(course, notebooks):
    """Write the data file, the source notebooks and nbgrader's student versions under `course`."""
    course = Path(course)
    course.mkdir(parents=True, exist_ok=True)
    data = {name: reference_cases(name) for name in CHECKS}
    datafile.dump(data, course / EXPECTED_FILE)
    api = _api(course)
    for path in notebooks:
        target = course / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(source_notebook(path), target)
        _succeeded(api.generate_assignment(path.stem), f"generate_assignment {path.stem}")


def release(out, course, notebooks):
    """build_course, then copy the student notebooks, EXPECTED_FILE and the committed runs they quote
    (out/figures/) to `out`, and write the student package to out/package. Returns their paths (the
    package's folder as one)."""
    build_course(course, notebooks)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    copied = [Path(shutil.copy(Path(course) / "release" / p.stem / p.name, out / p.name)) for p in notebooks]
    quoted = named_files("\n".join(c.source for p in notebooks for c in nbformat.read(p, as_version=4).cells
                                   if c.cell_type == "code"))
    if quoted:
        (out / "figures").mkdir(exist_ok=True)
    copied += [Path(shutil.copy(REPOSITORY_FIGURES / name, out / "figures" / name)) for name in quoted]
    return copied + [Path(shutil.copy(Path(course) / EXPECTED_FILE, out / EXPECTED_FILE)),
                     student_package.build(out / "package")]


def grade_class(submissions, course):
    """Autograde SUBMISSIONS/<student>/<nb>.ipynb against `course` (built first where it is not).

    Returns [(student, notebook, exercise, score, max_score, message)]; message is "" where the
    hidden test passed, else the error it raised (the checker's, with its hint).
    """
    course, submitted = Path(course), sorted(Path(submissions).glob("*/*.ipynb"))
    missing = {p.name for p in submitted if not (course / "source" / p.stem / p.name).exists()}
    unknown = missing - {p.name for p in tutorials()}
    if unknown:
        raise UserError(f"not a tutorial with an exercise: {', '.join(sorted(unknown))}")
    if missing:
        build_course(course, [TUTORIALS / name for name in sorted(missing)])
    api, rows = _api(course), []
    previous = os.environ.get(EXPECTED_ENV)
    os.environ[EXPECTED_ENV] = str((course / EXPECTED_FILE).resolve())    # the kernels see student mode
    try:
        for path in submitted:
            student = path.parent.name
            target = course / "submitted" / student / path.stem / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            _succeeded(api.autograde(path.stem, student), f"autograde {student} {path.stem}")
            rows += _scores(course, student, path)
    finally:
        if previous is None:
            del os.environ[EXPECTED_ENV]
        else:
            os.environ[EXPECTED_ENV] = previous
    return rows


def _scores(course, student, path):
    """The rows of grade_class for one autograded notebook, in the order of its test cells."""
    graded = nbformat.read(course / "autograded" / student / path.stem / path.name, as_version=4)
    rows = []
    with Gradebook(f"sqlite:///{(course / 'gradebook.db').resolve()}") as gradebook:
        for cell in graded.cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade"):
                continue
            grade = gradebook.find_grade(meta["grade_id"], path.stem, path.stem, student)
            errors = [o for o in cell.get("outputs", ()) if o.output_type == "error"]
            message = f"{errors[0].ename}: {errors[0].evalue}" if errors else ""
            rows.append((student, path.stem, meta["grade_id"], grade.score, grade.max_score, message))
    return rows
