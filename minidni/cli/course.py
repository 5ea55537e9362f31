"""`python -m minidni course`: release the tutorials to a class and grade what comes back (nbgrader).

    python -m minidni course release student_release/
    python -m minidni course grade submissions/ --out grades.csv
    python -m minidni course site site/

`release` writes the student notebooks (no solutions, no hidden tests), the checker's
data file, the committed runs they quote (DIR/figures) and the package students install
(DIR/package, its solutions withheld) to DIR; the instructor's nbgrader course (sources
with solutions and hidden tests, gradebook) stays in --course. `grade` reads SUBMISSIONS/<student>/<notebook>.ipynb,
autogrades it in --course and writes the CSV (student,notebook,exercise,score,max_score)
and feedback/<student>.md beside it. Needs nbgrader: pip install minidni[course].
"""
from ..course import yours
from ..course.grading import write_grades
from ..errors import UserError
from .common import Parser, add_command


def register(subparsers):
    """Add `course release`, `course grade` and `course site` to the subcommands."""
    p = add_command(subparsers, "course", "release the tutorials to students; grade submissions with nbgrader",
                    __doc__)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True
    r = add_command(actions, "release", "write the student notebooks, their data file and the student package to DIR", __doc__)
    r.add_argument("dir", metavar="DIR")
    g = add_command(actions, "grade", "autograde SUBMISSIONS/<student>/<notebook>.ipynb", __doc__)
    g.add_argument("submissions", metavar="SUBMISSIONS")
    g.add_argument("--out", default="grades.csv", help="the CSV; feedback/ is written beside it")
    r.add_argument("--notebooks", nargs="+", metavar="NN", help="only these tutorials, e.g. 01 09 (default: all)")
    for action in (r, g):
        action.add_argument("--course", default="minidni_course",
                            help="the instructor's nbgrader course directory (keep it from students)")
    s = add_command(actions, "site", "build the course site (static HTML, works offline) into DIR", __doc__)
    s.add_argument("dir", metavar="DIR")
    r.set_defaults(func=release_main)
    g.set_defaults(func=grade_main)
    s.set_defaults(func=site_main)


def instructor_only(command):
    """Raise UserError in the student package, which has no instructor's tools (nor their answers)."""
    if yours.STUDENT_RELEASE:
        raise UserError(f"`course {command}` is the instructor's: it runs from the repository's minidni, not from "
                        "the student release")


def release_main(args):
    """Release the tutorials to args.dir; print what was written. Returns 0."""
    # lazy: nbgrader (an optional extra) takes seconds to import; the other commands need none
    instructor_only("release")
    from ..course.release import release, tutorials
    for path in release(args.dir, args.course, tutorials(args.notebooks)):
        print(path)
    return 0


def grade_main(args):
    """Autograde args.submissions; write args.out and the feedback files; print their paths. Returns 0."""
    # lazy: nbgrader (an optional extra) takes seconds to import; the other commands need none
    instructor_only("grade")
    from ..course.release import grade_class
    for path in write_grades(grade_class(args.submissions, args.course), args.out):
        print(path)
    print(args.out)
    return 0


def site_main(args):
    """Build the course site into args.dir; print its home page. Returns 0."""
    # lazy: Sphinx and nbgrader (optional extras) take seconds to import; the other commands need none
    instructor_only("site")
    from ..course.site import build
    print(build(args.dir))
    return 0
