"""Courseware for the tutorials: you write a function, `check` compares it with the reference.

In a notebook:

    from minidni.course import check, show_solution

    def linear_backward(x, W, dy):
        raise NotImplementedError                         # your code here
    linear_backward = check("linear_backward", linear_backward)
    show_solution("linear_backward")                      # prints the reference solution
    check("q_m_target", q_m_target)                       # a concept question: q_m_target = "a", ...

| module    | holds                                                                  |
|-----------|------------------------------------------------------------------------|
| exercises | each exercise's outputs and the inputs it is checked on                |
| hints     | the wrong answers common mistakes give, and what to tell the reader    |
| questions | the concept questions, with their answers' hashes only                 |
| solutions | the reference answers (show_solution prints them), kept apart         |
| checker   | check(), show_solution(), ExerciseError, the comparisons, CHECKS       |
| files     | committed(name): the committed full runs a notebook quotes, wherever it runs |
| mistakes  | the typical mistakes, sealed: a hint opens only to an answer that makes its mistake |
| yours     | the student's saved answers, which the student package runs in place of the library's |

In the repository the checker computes each expected output by running the reference
solution on the same inputs (minidni.course.solutions). In a student release it reads them
from the release's data file instead, and the package students install (`course release`
writes it to DIR/package, minidni.course.student_package) holds no solution: where the library
itself would answer an exercise, it runs the student's own answer (minidni.course.yours).
"""
from .checker import CHECKS, ExerciseError, check, show_solution
from .files import committed
from .questions import QUESTIONS
