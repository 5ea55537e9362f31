"""Grading: the hidden test nbgrader runs after each exercise, and the files a grading writes.

grade(name, fn) is the body of each hidden test of the source notebooks
(minidni.course.release): it passes when `fn` is right and otherwise raises an
AssertionError whose message is what the student reads in the feedback: "not done yet:
<name>" for an untouched stub, the checker's ExerciseError (what is wrong, and the hint
for a typical mistake) for a wrong answer. write_grades writes grades.csv, one row per
student, notebook and exercise, and feedback/<student>.md beside it.
"""
import csv
from collections import defaultdict
from pathlib import Path

from .checker import run_check

COLUMNS = ("student", "notebook", "exercise", "score", "max_score")


GRADING_SEED = 1      # the hidden tests' inputs: not the data file's (seed 0), so a lookup of its outputs fails


def grade(name, fn):
    """Pass if `fn` answers exercise `name` on inputs the student has not seen (GRADING_SEED); else raise
    AssertionError (ExerciseError is one) saying why."""
    try:
        passed = run_check(name, fn, seed=GRADING_SEED)
    except NotImplementedError:
        raise AssertionError(f"not done yet: {name}") from None
    print(f"correct: {name}: {passed}")


def write_grades(rows, csv_path):
    """Write `rows` (student, notebook, exercise, score, max_score, message) to csv_path, without the
    message, and one markdown file per student to feedback/ beside it. Returns the feedback paths."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(row[:5] for row in rows)
    by_student = defaultdict(list)
    for row in rows:
        by_student[row[0]].append(row)
    folder = csv_path.parent / "feedback"
    folder.mkdir(exist_ok=True)
    paths = []
    for student, own in by_student.items():
        lines = [f"# Feedback for {student}", ""]
        for _, notebook, exercise, score, max_score, message in own:
            lines.append(f"- {notebook} · {exercise}: {score:g} / {max_score:g}" + (f"\n  {message}" if message else ""))
        total, most = sum(r[3] for r in own), sum(r[4] for r in own)
        lines += ["", f"Total: {total:g} / {most:g}", ""]
        paths.append(folder / f"{student}.md")
        paths[-1].write_text("\n".join(lines))
    return paths
