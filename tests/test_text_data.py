"""Character corpora (embedded, PTB format, user files) and the Copy / Repeat-Copy tasks."""
import hashlib
import io
import tarfile

import numpy as np
import pytest

from minidni import backend
from minidni.data import text
from minidni.data.tasks import CopyTask, Curriculum
from minidni.errors import DataFileError

PTB_LINES = {
    "train": " a e r _ b a n k n o t e _ b e r l i t z\n p i e r r e _ < u n k > _ N _ y e a r s\n",
    "valid": " c o n s u m e r s _ m a y\n",
    "test": " n o _ i t _ w a s n ' t\n",
}


@pytest.fixture
def ptb_dir(tmp_path, monkeypatch):
    """A cache directory holding tiny ptb.char files in the canonical format, trusted unverified."""
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path))
    monkeypatch.setenv("MINIDNI_NO_DOWNLOAD", "1")
    monkeypatch.setenv(text.TRUST_PTB, "1")
    directory = tmp_path / "ptb"
    directory.mkdir()
    for split, content in PTB_LINES.items():
        (directory / text.PTB_FILES[split]).write_text(content)
    return directory


def test_embedded_corpus_needs_no_network_and_is_deterministic():
    a, b = text.load_corpus("embedded"), text.load_corpus("embedded")
    assert len(a.train) > 300_000 and len(a.valid) > 10_000 and len(a.test) > 10_000
    assert a.sha256 == b.sha256 and np.array_equal(a.train, b.train)
    full = text.embedded_text()
    assert a.decode(a.train[:200]) + "" == full[:200]
    assert a.decode(a.test[-50:]) == full[-50:]                   # contiguous split: test is the text's end
    assert "\n" in a.symbols and " " in a.symbols


def test_embedded_corpus_drops_topics_contained_in_others_and_held_out_text_copied_from_training():
    """pydoc's `if` and `else` are parts of `compound`, and `while` / `with` repeat stretches of it:
    no 100-character window of validation or test occurs in training."""
    from pydoc_data.topics import topics
    full = text.embedded_text()
    assert topics["compound"] in full and topics["if"] not in full.replace(topics["compound"], "")
    corpus = text.load_corpus("embedded")
    seen = np.sort(text.window_hashes(corpus.train))
    for part in (corpus.valid, corpus.test):
        assert len(part) > 10_000 and not text.copied_windows(part, seen).any()
    assert text.copied_windows(corpus.train[:5000], seen).all()      # the check does find what is there


def test_ptb_files_in_the_canonical_format_become_one_symbol_per_character_and_line(ptb_dir):
    corpus = text.load_corpus("ptb")
    assert corpus.decode(corpus.valid) == "consumers_may\n"
    assert corpus.decode(corpus.train).splitlines()[1] == "pierre_<unk>_N_years"
    assert set("_\n<>'N") <= set(corpus.symbols)
    assert corpus.n_symbols == len(set("".join(PTB_LINES.values()).replace(" ", "")))


def test_a_missing_ptb_file_says_where_to_put_it(ptb_dir):
    (ptb_dir / "ptb.char.test.txt").unlink()
    with pytest.raises(DataFileError, match=r"ptb.char.test.txt is not at .*simple-examples.tgz"):
        text.load_corpus("ptb")


def test_a_ptb_file_not_in_the_character_format_is_rejected_with_its_line(ptb_dir):
    (ptb_dir / "ptb.char.valid.txt").write_text(" a b\n consumers may\n")
    with pytest.raises(DataFileError, match=r"line 2: 'consumers' is not one character"):
        text.load_corpus("ptb")


def write_ptb_archive(path, lines=PTB_LINES):
    """simple-examples.tgz as Mikolov's archive lays it out, holding `lines` as the ptb.char files."""
    with tarfile.open(path, "w:gz") as tar:
        for split, content in lines.items():
            data = content.encode()
            info = tarfile.TarInfo(f"./{text.PTB_FOLDER}/{text.PTB_FILES[split]}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_the_ptb_archive_is_read_in_place_when_its_md5_is_the_published_one(ptb_dir, monkeypatch):
    loose = text.load_corpus("ptb")
    archive = ptb_dir / text.PTB_ARCHIVE
    write_ptb_archive(archive)
    monkeypatch.setattr(text, "PTB_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    for name in text.PTB_FILES.values():
        (ptb_dir / name).unlink()
    monkeypatch.delenv(text.TRUST_PTB)
    read = text.load_corpus("ptb")
    assert read.sha256 == loose.sha256 and read.symbols == loose.symbols
    assert all(np.array_equal(getattr(read, p), getattr(loose, p)) for p in ("train", "valid", "test"))


def test_a_user_utf8_file_loads_with_its_own_alphabet(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("Über den Wolken — muss die Freiheit wohl grenzenlos sein. " * 4, encoding="utf-8")
    corpus = text.load_corpus(str(path))
    assert corpus.name == "poem.txt" and "—" in corpus.symbols and "Ü" in corpus.symbols
    assert corpus.decode(np.concatenate([corpus.train, corpus.valid, corpus.test])) == path.read_text("utf-8")


def test_a_missing_user_file_a_directory_and_invalid_utf8_are_clear_errors(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        text.load_corpus(str(tmp_path / "nope.txt"))
    with pytest.raises(DataFileError, match="not a file"):
        text.load_corpus(str(tmp_path))
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(("line one\n" * 20 + "caf").encode() + b"\xe9\n")
    with pytest.raises(DataFileError, match=r"not valid UTF-8: byte 183 \(line 21\)"):
        text.load_corpus(str(bad))


def test_a_text_too_short_for_a_validation_split_is_rejected(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("hello")
    with pytest.raises(DataFileError, match="at least 100 characters"):
        text.load_corpus(str(path))


def _names_in(part, count):
    """`count` module names that stdlib_part puts in `part`."""
    return [n for n in (f"mod{i}" for i in range(10_000)) if text.stdlib_part(f"{n}.py") == part][:count]


def _fake_stdlib(root):
    """Packages and modules in each part, a test suite, a duplicate file and a line copied from training."""
    (train_pkg,), (valid_mod,), (test_mod,) = (_names_in(p, 1) for p in ("train", "valid", "test"))
    shared = "SHARED = '" + "x" * 120 + "'\n"                 # a line longer than the copy window
    files = {f"{train_pkg}/__init__.py": "import os\n" + shared + "TRAIN = 1\n" * 20,
             f"{train_pkg}/sub.py": "def f():\n    return 2\n" * 10,
             f"{valid_mod}.py": "VALID = 3\n" * 20 + shared + "LAST_VALID = 4\n" * 20,
             f"{test_mod}.py": "TEST = 5\n" * 30,
             f"{test_mod}_copy.py": "TEST = 5\n" * 30,           # the same content: dropped
             "test/test_all.py": "SUITE = 6\n" * 30,            # a test suite: skipped
             f"{train_pkg}/tests/test_sub.py": "SUITE = 7\n" * 30}
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    return train_pkg, valid_mod, test_mod


def test_stdlib_corpus_splits_by_top_level_name_skips_test_suites_and_duplicates(tmp_path):
    train_pkg, valid_mod, test_mod = _fake_stdlib(tmp_path)
    rels = [rel for rel, _ in text.stdlib_files(tmp_path)]
    assert rels == sorted([f"{train_pkg}/__init__.py", f"{train_pkg}/sub.py", f"{valid_mod}.py", f"{test_mod}.py"])
    corpus = text.load_stdlib(tmp_path)
    train, valid, test = (corpus.decode(getattr(corpus, p)) for p in ("train", "valid", "test"))
    assert "TRAIN = 1" in train and "return 2" in train and "VALID" not in train and "SUITE" not in train
    assert "VALID = 3" in valid and "LAST_VALID = 4" in valid and test == "TEST = 5\n" * 30
    assert "SHARED" not in valid and "x" * 100 not in valid      # the line copied from training is gone
    (tmp_path / f"{train_pkg}/sub.py").write_text("def f():\n    return 3\n" * 10)
    assert text.load_stdlib(tmp_path).sha256 != corpus.sha256         # the record covers every file's content


def test_stdlib_held_out_parts_share_no_100_characters_with_training():
    """The running interpreter's standard library: no window of validation or test occurs in training."""
    corpus = text.load_corpus("stdlib")
    assert len(corpus.train) > 5_000_000 and len(corpus.valid) > 50_000 and len(corpus.test) > 50_000
    seen = np.sort(text.window_hashes(corpus.train))
    for part in (corpus.valid, corpus.test):
        assert not text.copied_windows(part, seen).any()
    assert text.copied_windows(corpus.train[:5000], seen).all()      # the check does find what is there


def test_drop_copied_lines_removes_every_line_a_copied_stretch_touches():
    symbols = {c: i for i, c in enumerate("abcdefghij\n ")}

    def encode(t):
        return np.array([symbols[c] for c in t], dtype=np.int64)
    train = "abcdefghij" * 3 + "\n"
    seen = np.sort(text.window_hashes(encode(train), n=8))
    held_out = "jjjj\nabcdefghij\nj j j\n"
    assert text.drop_copied_lines(held_out, seen, encode, n=8) == "jjjj\nj j j\n"
    assert text.drop_copied_lines("jjjj jjjj\n", seen, encode, n=8) == "jjjj jjjj\n"


def test_batchify_cuts_the_text_into_contiguous_parallel_streams():
    streams = text.batchify(np.arange(23), 4)
    assert streams.shape == (5, 4)
    assert list(streams[:, 1]) == [5, 6, 7, 8, 9]
    with pytest.raises(DataFileError, match="too few"):
        text.batchify(np.arange(5), 4)


def test_copy_targets_are_the_inputs_n_steps_later_and_only_they_are_scored():
    task, rng = CopyTask(bits=3), np.random.default_rng(0)
    tokens, targets, mask = (backend.to_numpy(a) for a in task.batch(5, 7, rng))
    assert tokens.shape == targets.shape == mask.shape == (10, 7)
    assert np.array_equal(targets[5:], tokens[:5]) and mask[5:].all() and not mask[:5].any()
    assert (tokens[5] == task.GO).all() and (tokens[6:] == task.BLANK).all() and tokens[:5].max() < 8


def test_repeat_copy_writes_the_patterns_r_times_and_scores_r_n_steps():
    task, rng = CopyTask(bits=2, max_repeats=3), np.random.default_rng(1)
    tokens, targets, mask = (backend.to_numpy(a) for a in task.batch(4, 16, rng))
    assert tokens.shape == (4 + 12, 16)
    repeats = tokens[4] - task.BLANK
    assert set(repeats) <= {1, 2, 3} and len(set(repeats)) > 1
    for j, r in enumerate(repeats):
        assert mask[:, j].sum() == 4 * r
        assert np.array_equal(targets[4:4 + 4 * r, j], np.tile(tokens[:4, j], r))


@pytest.mark.parametrize("max_repeats", [0, 3])
def test_binary_encoding_gives_each_pattern_as_its_digits_and_the_same_draws_as_symbols(max_repeats):
    symbol, binary = CopyTask(3, max_repeats), CopyTask(3, max_repeats, encoding="binary")
    s_tok, s_tgt, s_mask = (backend.to_numpy(a) for a in symbol.batch(4, 5, np.random.default_rng(2)))
    b_tok, b_tgt, b_mask = (backend.to_numpy(a) for a in binary.batch(4, 5, np.random.default_rng(2)))
    assert b_tok.shape == s_tok.shape + (4,) and b_tgt.shape == s_tgt.shape + (3,)
    assert np.array_equal(b_mask, s_mask)
    assert np.array_equal(b_tgt @ [4, 2, 1], s_tgt)                           # most significant digit first
    assert np.array_equal(b_tok[:4, :, :3] % 2 @ [4, 2, 1], s_tok[:4]) and (b_tok[:4, :, 3] == 6).all()
    assert np.array_equal(b_tok[:4, :, :3] // 2, np.broadcast_to([0, 1, 2], (4, 5, 3)))   # digit k: symbols 2k, 2k + 1
    control = b_tok[4:]                                                       # GO / R, then blanks, in every slot
    assert (control == control[..., :1]).all() and control.min() >= binary.GO and control.max() < binary.n_in
    assert binary.n_out == 6 and (binary.GO, binary.BLANK) == (7, 8)
    with pytest.raises(ValueError, match="encoding"):
        CopyTask(3, encoding="ascii")


def test_curriculum_grows_n_when_the_recent_error_falls_below_the_threshold():
    c = Curriculum(threshold=0.15, patience=3)
    assert c.n == 1 and c.solved == 0
    assert not any(c.update(b) for b in (1.0, 0.1, 0.1))          # mean 0.4: not yet
    assert c.update(0.1) and c.n == 2 and c.solved == 1           # the last 3: mean 0.1
    assert not c.update(0.0)                                      # the count starts again at a new length
