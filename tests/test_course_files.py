"""committed(): a notebook finds the committed full runs it quotes in the repository, a release or a grader's folder."""
import nbformat
import pytest

from minidni.course import committed
from minidni.course.files import REPOSITORY, REPOSITORY_FIGURES, named_files

TUTORIALS = REPOSITORY / "tutorials"          # as minidni.course.release has it (which needs nbgrader)


def test_a_release_folders_own_copy_comes_first_then_the_repositorys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert committed("results.md").resolve() == (REPOSITORY_FIGURES / "results.md").resolve()
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "results.md").write_text("the release's copy")
    assert committed("results.md").read_text() == "the release's copy"


def test_a_missing_file_is_named_with_where_it_comes_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"figures/nothing\.md.*course release DIR"):
        committed("nothing.md")


def test_every_file_a_tutorial_quotes_is_committed_and_named_through_committed():
    quoted = []
    for path in sorted(TUTORIALS.glob("0*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert "../figures/" not in code, f"{path.name}: read committed runs with committed(name), not ../figures/"
        quoted += named_files(code)
    assert "results.md" in quoted and "rnn_runs.json.gz" in quoted
    assert all((REPOSITORY_FIGURES / name).is_file() for name in quoted)


def test_a_release_carries_the_committed_runs_its_notebooks_quote(tmp_path):
    pytest.importorskip("nbgrader")                       # the course extra
    from minidni.course.release import release            # noqa: E402 (imports nbgrader)
    release(tmp_path / "class", tmp_path / "course", [TUTORIALS / "05_async_and_complete_unlock.ipynb"])
    copy = tmp_path / "class" / "figures" / "results.md"
    assert copy.read_bytes() == (REPOSITORY_FIGURES / "results.md").read_bytes()
