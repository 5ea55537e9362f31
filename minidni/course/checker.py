"""The checker: check(name, fn), show_solution(name), and the comparisons behind them.

`check(name, fn)` runs `fn` on the inputs of exercise `name` (minidni.course.exercises:
small random float64 arrays, integer labels where it takes labels, made-up steps of a
trace for update_wait) and compares what it returns with what the reference solution
(minidni.course.solutions) returns on the same inputs. It returns the function the rest
of the notebook should use: yours when it agrees ("correct: ..."), the reference while
yours raises NotImplementedError (not attempted yet, so the notebook still runs top to
bottom). When yours disagrees it raises ExerciseError naming the output that is wrong,
its shape or how far it is off, and the likely mistake where a hint of
minidni.course.hints explains it.

A concept question (minidni.course.questions) goes the same way, `fn` being the answer:
check("q_m_target", "a").

Student mode: where the file named by $MINIDNI_COURSE_EXPECTED, or minidni_course_expected.json
in the working directory (a student release puts it beside the notebooks), exists, each
case's inputs, expected outputs and its typical mistakes come from it (`python -m minidni course
release` computes them from the reference solutions), so the same hints are given; the solutions
themselves are not read. A mistake is kept sealed (minidni.course.mistakes): its hint, which may state
the right formula, opens only to an output that makes that mistake. There an unattempted exercise
raises NotDoneYet, which IPython shows as the one line "not done yet: <name>" and which
stops a Run All at that cell; show_solution says that the release holds no solutions.
"""
import copy
import functools
import hashlib
import inspect
import math
import os

import numpy as np

from . import datafile, mistakes, solutions, yours
from .exercises import ARRAY_EXERCISES, VALUE_EXERCISES
from .hints import ARRAY_HINTS, VALUE_HINTS
from .questions import QUESTIONS, judge
from ..backend import get_dtype, set_dtype, to_numpy

TOLERANCE = 1e-10        # relative error that float64 rounding explains; more is a mistake
EXPECTED_ENV, EXPECTED_FILE = yours.EXPECTED_ENV, yours.EXPECTED_FILE


class ExerciseError(AssertionError):
    """A student's function disagrees with the reference; the message says where and how."""


class NotDoneYet(Exception):
    """An exercise's stub still raises NotImplementedError (student mode): IPython shows one line."""

    def _render_traceback_(self):
        return [f"not done yet: {self.args[0]}"]


def check(name, fn):
    """Check `fn` against exercise `name`; return yours if right, the reference if not attempted.

    Prints one line saying which. A wrong answer raises ExerciseError with what is wrong;
    in student mode an unattempted one raises NotDoneYet.
    """
    try:
        passed = run_check(name, fn)
    except NotImplementedError:
        if expected_path():
            raise NotDoneYet(name) from None
        print(f"not attempted: using the reference solution for {name}; show_solution({name!r}) prints it")
        return getattr(solutions, name, None)         # a concept question has no function to hand back
    print(f"correct: {name}: {passed}")
    yours.save(name, fn)          # in the student package: the library's withheld piece runs it from now on
    return fn


def run_check(name, fn, seed=None):
    """Run exercise `name`'s check on `fn` in float64: what it found right, or raise ExerciseError
    (or the NotImplementedError of a stub). seed: check on the reference's outputs for the inputs of that
    seed, computed now (grading's hidden tests), instead of the data file's or seed 0's."""
    if name in QUESTIONS:
        run = functools.partial(judge, name, error=ExerciseError)
    else:
        run = functools.partial(CHECKS[_known(name)], seed=seed)
    old = get_dtype()
    set_dtype("float64")               # rounding then cannot hide a mistake
    try:
        return run(fn)
    finally:
        set_dtype(old)


def show_solution(name):
    """Print the source of exercise `name`'s reference solution (in student mode, that there is none)."""
    if expected_path():
        print(f"{_known(name)}: the student release holds no solutions")
        return
    print(solutions.CONCEPT_ANSWERS[name] if name in QUESTIONS else inspect.getsource(getattr(solutions, _known(name))))


def expected_path():
    """The data file of student mode ($MINIDNI_COURSE_EXPECTED, else EXPECTED_FILE here), or None."""
    path = yours.data_file()
    return str(path) if path.exists() else None


@functools.lru_cache(maxsize=4)
def _load_expected(path):
    return datafile.load(path)


def reference_cases(name, seed=0):
    """[(args, want, wrongs)] of exercise `name`, from the reference solutions, on the inputs of `seed`.

    args: the inputs of a case; want: the reference's outputs (a tuple for ARRAY_EXERCISES);
    wrongs: each typical mistake on args, sealed (minidni.course.mistakes: its hint opens only to an
    output that makes it), as {output: [(digest, sealed hint)]} for ARRAY_EXERCISES and
    [(digest, sealed hint)] otherwise.
    """
    rng = np.random.default_rng(seed)
    reference = getattr(solutions, name)
    if name in VALUE_EXERCISES:
        return [(args, _kept(name, reference(**args)), _sealed(name, VALUE_HINTS[name], args))
                for args in VALUE_EXERCISES[name](rng)]
    outputs, cases = ARRAY_EXERCISES[name]
    found = []
    for inputs in cases:
        args = {k: s(rng) if callable(s) else rng.standard_normal(s) for k, s in inputs.items()}
        wrongs = {key: _sealed(f"{name}.{key}", ARRAY_HINTS[name].get(key, ()), args) for key in outputs}
        found.append((args, _as_tuple(reference(*args.values()), outputs, name), wrongs))
    return found


def _cases(name, seed=None):
    """reference_cases(name, seed) where a seed is given; else from the data file in student mode (a copy:
    yours may change its inputs), or reference_cases(name)."""
    if seed is not None:
        return reference_cases(name, seed)
    path = expected_path()
    if not path and yours.STUDENT_RELEASE:
        raise UserError(f"the student release checks {name} against its data file, {EXPECTED_FILE}: run the "
                        f"notebook in the release's folder, beside that file, or set ${EXPECTED_ENV} to its path")
    return copy.deepcopy(_load_expected(os.path.abspath(path))[name]) if path else reference_cases(name)


def _known(name):
    if name not in CHECKS:
        raise ValueError(f"unknown exercise {name!r}: choose {', '.join(CHECKS)}")
    return name


def _call(name, fn, args):
    """fn(*args.values()); an error it raises is reported with the inputs' shapes (NotImplementedError passes)."""
    try:
        return fn(*args.values())
    except (NotImplementedError, ExerciseError):
        raise
    except Exception as e:
        raise ExerciseError(f"{name} raised {type(e).__name__}: {e} (on {_shapes(args)})") from e


def _shapes(args):
    """The arguments in brief: an array's shape, a number's value, a list's length."""
    return ", ".join(f"{k} {tuple(v.shape)}" if hasattr(v, "shape") else
                     f"{k} of length {len(v)}" if isinstance(v, (list, tuple)) else f"{k}={v!r}"
                     for k, v in args.items())


def _array_checker(name):
    """The check of an exercise of ARRAY_EXERCISES: each output's type, shape, dtype, then values."""
    outputs = ARRAY_EXERCISES[name][0]

    def run(fn, seed=None):
        """Check `fn` against the reference on every case (of `seed`, see run_check): a one-line summary,
        or raise ExerciseError."""
        cases = _cases(name, seed)
        for args, want, wrongs in cases:
            fresh = {k: v.copy() if hasattr(v, "copy") else v for k, v in args.items()}   # yours may change them
            got = _as_tuple(_call(name, fn, fresh), outputs, name)
            for key, a, b in zip(outputs, got, want):
                problem = _array_difference(f"{name}.{key}", a, b, wrongs[key])
                if problem:
                    raise ExerciseError(f"{name} on {_shapes(args)}: {problem}")
        agree = "agrees" if len(outputs) == 1 else "agree"
        return f"{', '.join(outputs)} {agree} with the reference on {len(cases)} random float64 case(s)"
    return run


def _as_tuple(value, outputs, name):
    if len(outputs) == 1:
        return (value,)
    if not isinstance(value, (tuple, list)) or len(value) != len(outputs):
        raise ExerciseError(f"{name} returned {type(value).__name__} {_brief(value)}; "
                            f"expected the {len(outputs)} arrays ({', '.join(outputs)})")
    return tuple(value)


def _brief(value):
    return f"of length {len(value)}" if isinstance(value, (tuple, list)) else repr(value)[:40]


def _what(value):
    """`value` in brief with its type where the brief leaves it out: "list of length 3", "None", "0.5"."""
    return f"{type(value).__name__} {_brief(value)}" if isinstance(value, (tuple, list)) else _brief(value)


def _array_difference(label, got, want, wrongs):
    """What is wrong with output `label` ("exercise.output"), or None when it equals `want` up to TOLERANCE;
    with the hint of the first of `wrongs` (sealed mistakes) that `got` makes."""
    key = label.split(".")[1]
    if isinstance(got, float):
        got = np.float64(got)              # a number computed with math or float()
    if not hasattr(got, "shape"):
        return f"{key} is {_brief(got)}, expected an array of shape {want.shape}"
    if got.shape != want.shape:
        return f"{key} has shape {tuple(got.shape)}, expected {want.shape}"
    integers = np.issubdtype(got.dtype, np.integer) and np.issubdtype(want.dtype, np.integer)
    if got.dtype != want.dtype and not integers:      # counts may come as int32 or int64 alike
        return f"{key} has dtype {got.dtype}, expected {want.dtype}" + (
            " (integers: e.g. .astype(np.int64))" if np.issubdtype(want.dtype, np.integer) else "")
    finite = np.isfinite(to_numpy(got))
    if finite.all():
        error = _relative(got, want)
        if error <= TOLERANCE:
            return None
        problem = f"{key} differs from the reference by {error:.2g} (relative)"
    else:
        problem = f"{key} has {int((~finite).sum())} entries that are nan or inf, the reference none"
    hint = mistakes.hint(label, got, wrongs)
    return f"{problem}; {hint}" if hint else problem


def _relative(a, b):
    """max |a - b| / the largest |entry| of a and b (0 when both are 0): how far apart, relative to their size.

    In the max norm, not as relative_error (the 2-norm): in the student package gradcheck.rel_error runs
    the student's relative_error (minidni.course.yours), and no answer may judge the answers."""
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return float(np.abs(a - b).max(initial=0.0) / scale) if scale > 0 else 0.0


def _entry_digests(name, entries):
    """SHA-256 of each entry of a list answer, salted with the exercise and the entry's place: the data file
    keeps a schedule's entries so, not readable (each can be compared, as the message says where it differs)."""
    return [hashlib.sha256(f"minidni-entry:{name}:{k}:{entry!r}".encode()).hexdigest()
            for k, entry in enumerate(entries)]


def _value_checker(name):
    """The check of an exercise of VALUE_EXERCISES: a list must be equal, a number close."""

    def run(fn, seed=None):
        """Check `fn` against the reference on every case (of `seed`, see run_check): a one-line summary,
        or raise ExerciseError."""
        cases = _cases(name, seed)
        for args, want, wrongs in cases:
            got = _call(name, fn, args)
            problem = _value_difference(name, got, want)
            if problem:
                hint = mistakes.hint(name, got, wrongs)
                raise ExerciseError(f"{name} on {_shapes(args)}: {problem}" + (f"; {hint}" if hint else ""))
        return f"agrees with the reference on {len(cases)} case(s)"
    return run


def _kept(name, want):
    """The reference's answer as a check keeps it: a list as the digests of its entries, a number as it is."""
    return _entry_digests(name, [mistakes.plain(tuple(entry)) for entry in want]) if isinstance(want, list) else want


def _sealed(label, hints, args):
    """The mistakes of `hints`, [(formula, hint)], made on `args` and sealed (minidni.course.mistakes)."""
    return mistakes.sealed(label, [(_hint_value(formula, args), hint) for formula, hint in hints])


def _hint_value(wrong, args):
    """wrong(**args), what a hint's mistake returns, or None where it cannot be made on args."""
    try:
        with np.errstate(all="ignore"):            # a hint's mistake may overflow, as yours did
            return wrong(**args)
    except Exception:                  # the mistake cannot be made on these arguments
        return None


def _value_difference(name, got, want):
    """What is wrong with `got`, or None when it equals `want` (a list, kept as digests of its entries:
    _entry_digests) or is within TOLERANCE (a number)."""
    if isinstance(want, list):
        try:
            pairs = None if isinstance(got, str) else [mistakes.plain(tuple(entry)) for entry in got]
        except TypeError:
            pairs = None
        if pairs is None:
            return f"returned {_what(got)}; expected a list of {len(want)} entries, each a tuple"
        mine = _entry_digests(name, pairs)
        if mine == want:
            return None
        k = next((k for k, (a, b) in enumerate(zip(mine, want)) if a != b), None)
        if k is None:
            return f"returned {len(pairs)} entries, the reference {len(want)}"
        return f"entry {k + 1}, {pairs[k]!r}, is wrong" + (f" (the {k} before it are right)" if k else "")
    try:
        number = float(got)
    except (TypeError, ValueError):
        return f"returned {_what(got)}; expected a number"
    if math.isnan(number):
        return "returned nan, expected a number"
    error = abs(number - want) / abs(want) if want else abs(number)
    if error <= TOLERANCE:
        return None
    return f"returned {number:.4g}, which differs from the reference by {error:.2g} (relative)"


# Every exercise: name -> run(fn), which raises ExerciseError or returns what it found right.
CHECKS = {**{name: _array_checker(name) for name in ARRAY_EXERCISES},
          **{name: _value_checker(name) for name in VALUE_EXERCISES}}
