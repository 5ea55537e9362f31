"""Your answers, run by the library: how the student release withholds the code the exercises ask for.

In the student package (`course release DIR` writes it to DIR/package, minidni.course.student_package)
the library lines that answer an exercise are gone. In their place the library calls your own answer,
as CS231n's assignments have you fill in layers.py before the networks that use it train:

    dx, self.grads["W"], self.grads["b"] = yours("linear_backward", like=dy)(self.x, W, dy)

`check(name, fn)` saves an answer that passes to DIR/my_answers/<name>.py (`save`), and `yours(name)`
runs it from there in every later notebook. Until you have answered it, the piece stops the notebook
with one line that names the exercise and its notebook (AnswerMissing). A kernel reads the saved
answers once, as it imports a module (the layers call yours() at every backward, so no file is
read or listed there); it reads them again after its own check() saves one, or when it asks for one
it does not hold yet. An answer changed in another notebook reaches a running kernel after a restart.

In the repository (the instructor's minidni, and nbgrader's grading) nothing here runs: the library
is whole, STUDENT_RELEASE is False, and `save` writes nothing. The student package's copy of this
module has STUDENT_RELEASE = True and WHERE filled in: exercise -> (the library piece that runs it,
the notebook that asks it).
"""
import functools
import inspect
import math
import os
import textwrap
from pathlib import Path

import numpy

from ..backend import array_module

STUDENT_RELEASE = False        # True in the student package only: check() then saves each right answer
WHERE = {}                     # exercise -> (library piece, notebook); the student package fills it in
ANSWERS = "my_answers"         # beside the notebooks and the release's data file
EXPECTED_ENV = "MINIDNI_COURSE_EXPECTED"       # the data file of student mode (minidni.course.checker) ...
EXPECTED_FILE = "minidni_course_expected.json"  # ... or this one in the working directory


class AnswerMissing(Exception):
    """A withheld piece of the library ran before its exercise was answered: IPython shows one line."""

    def _render_traceback_(self):
        return [self.args[0]]


def data_file():
    """The data file of student mode: $MINIDNI_COURSE_EXPECTED, else EXPECTED_FILE in the working directory."""
    return Path(os.environ.get(EXPECTED_ENV) or EXPECTED_FILE)


def folder():
    """DIR/my_answers, beside the data file."""
    return data_file().resolve().parent / ANSWERS


def save(name, fn):
    """Keep the source of `fn`, a right answer to exercise `name`, for the library (student package only).

    Returns the path written, or None in the repository or where the source cannot be read.
    """
    if not STUDENT_RELEASE or not callable(fn):
        return None
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        print(f"{name}'s source could not be read (define it with def in a cell): the library cannot run it")
        return None
    path = folder() / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source)
    _answers.cache_clear()                 # the next yours() reads it
    return path


def yours(name, like=None):
    """Your answer to exercise `name`, as the library calls it: `np` in it is the array module of the
    arguments (numpy, or cupy on the GPU), and every float array it returns takes `like`'s dtype.

    Raises AnswerMissing where it has not been answered (saved by check) yet.
    """
    namespace = _answers(os.environ.get(EXPECTED_ENV), os.getcwd())
    if name not in namespace:              # answered since, in another notebook's kernel?
        _answers.cache_clear()
        namespace = _answers(os.environ.get(EXPECTED_ENV), os.getcwd())
    if name not in namespace:
        piece, notebook = WHERE.get(name, ("this piece of minidni", "its notebook"))
        raise AnswerMissing(f"not answered yet: {name}. In the student release {piece} runs your {name}, "
                            f"the exercise of {notebook}: do it there (check() saves it to {folder() / name}.py)")
    fn = namespace[name]

    def run(*args):
        namespace["np"] = array_module(*[a for a in args if hasattr(a, "shape")])   # read at call time
        try:
            out = fn(*args)
        except NameError as e:
            raise NameError(f"your {name}, saved in {folder() / name}.py, uses {e.name!r}, which its notebook defined: "
                            f"the library runs the function alone (with np and math), so define or import "
                            f"{e.name!r} inside it and run its check again") from e
        if like is None:
            return out
        return tuple(_cast(o, like) for o in out) if isinstance(out, tuple) else _cast(out, like)
    return run


@functools.lru_cache(maxsize=1)
def _answers(env, cwd):
    """One namespace with every answer saved in folder(), so that one may call another. env and cwd, what
    folder() is found from, are the cache's key; save() clears it."""
    namespace = {"np": numpy, "math": math}
    for path in sorted(folder().glob("*.py")):
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def _cast(value, like):
    """`value` in `like`'s dtype where it is a float array (as the library's own line would give it)."""
    floating = hasattr(value, "dtype") and value.dtype.kind == "f"
    return value.astype(like.dtype, copy=False) if floating else value
