"""Where a notebook finds the committed full runs it quotes: the repository's figures/ folder.

    from minidni.course import committed
    Markdown(committed("results.md").read_text())

A notebook runs in tutorials/ (the repository), in a student release (`course release DIR`
copies the files its notebooks name to DIR/figures), or in nbgrader's grading folders (the
grader's minidni is the repository's, so the folder beside the package is found).
"""
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]               # the checkout this package sits in
REPOSITORY_FIGURES = REPOSITORY / "figures"
NAMED = re.compile(r"""committed\(["']([^"']+)["']\)""")       # committed("results.md") in a notebook's code


def committed(name):
    """The path of figures/<name>: beside the notebook, one folder up, or beside the package."""
    for folder in (Path("figures"), Path("..") / "figures", REPOSITORY_FIGURES):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"figures/{name}, the committed full runs this notebook quotes, is not here: it comes "
                            "with the repository's figures/ folder, and `python -m minidni course release DIR` "
                            "copies it to DIR/figures")


def named_files(code):
    """The figures/ files a notebook's code asks committed() for, in order of first mention."""
    return list(dict.fromkeys(NAMED.findall(code)))
