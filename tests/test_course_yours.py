"""minidni.course.yours: the student's saved answers, as the student package's library runs them."""
import numpy as np
import pytest

from minidni.course import yours


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A release folder with its data file (its content is not read here), as the student's working directory."""
    (tmp_path / yours.EXPECTED_FILE).write_text("{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(yours.EXPECTED_ENV, raising=False)
    monkeypatch.setattr(yours, "STUDENT_RELEASE", True)
    monkeypatch.setattr(yours, "WHERE", {"cosine": ("gradient_agreement", "03_one_synthetic_gradient")})
    return tmp_path


def cosine(a, b):
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())


def test_a_saved_answer_runs_from_its_file_and_its_float_arrays_take_the_libraries_dtype(release):
    assert yours.save("cosine", cosine) == release / "my_answers" / "cosine.py"
    a, b = np.arange(1.0, 5.0), np.array([1.0, 0.0, 1.0, 0.0])
    assert yours.yours("cosine")(a, b) == pytest.approx(cosine(a, b), rel=1e-15)

    def relu_backward(x, dy):
        return dy * (x > 0)
    yours.save("relu_backward", relu_backward)
    got = yours.yours("relu_backward", like=np.zeros(1, np.float32))(np.array([-1.0, 2.0]), np.array([3.0, 4.0]))
    assert got.dtype == np.float32 and got.tolist() == [0.0, 4.0]


def test_a_piece_whose_exercise_is_not_answered_names_the_exercise_and_its_notebook(release):
    with pytest.raises(yours.AnswerMissing) as raised:
        yours.yours("cosine")
    assert raised.value._render_traceback_() == [raised.value.args[0]]        # one line in IPython
    assert "not answered yet: cosine" in raised.value.args[0] and "03_one_synthetic_gradient" in raised.value.args[0]


def test_an_answer_that_leans_on_its_notebook_says_what_it_misses(release):
    (release / "my_answers").mkdir()
    (release / "my_answers" / "cosine.py").write_text("def cosine(a, b):\n    return dot(a, b)\n")
    with pytest.raises(NameError, match="uses 'dot', which its notebook defined"):
        yours.yours("cosine")(np.ones(2), np.ones(2))


def test_the_repository_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / yours.EXPECTED_FILE).write_text("{}")
    assert not yours.STUDENT_RELEASE
    assert yours.save("cosine", cosine) is None and not (tmp_path / "my_answers").exists()


def test_an_answer_saved_by_another_notebooks_kernel_is_found_when_first_asked_for(release):
    yours.save("cosine", cosine)
    yours.yours("cosine")                                    # this kernel has read the saved answers
    (release / "my_answers" / "relu_backward.py").write_text("def relu_backward(x, dy):\n    return dy * (x > 0)\n")
    assert yours.yours("relu_backward")(np.array([-1.0, 2.0]), np.array([3.0, 4.0])).tolist() == [0.0, 4.0]
