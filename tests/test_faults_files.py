"""Files the program reads (issue 29): a missing, truncated, damaged or wrong-shaped file is refused
in one line naming it and what is wrong (DataFileError, exit status 2): `figures --rnn-json`, an
extracted CIFAR-10 folder (checked like the archive, by size and SHA-256), the Penn Treebank files
(read from simple-examples.tgz, checked by its published MD5; loose copies only when trusted)."""
import gzip
import hashlib
import io
import json
import re
import tarfile

import numpy as np
import pytest

from minidni.cli import main
from minidni.data import cifar10, text
from minidni.experiments.recurrent_report import load_runs

COPY_RUN = {"task": "copy", "method": "dni", "T": 3, "seed": 0, "solved": 4, "steps": 40, "seconds": 1.5,
            "config": {"bits": 8, "hidden": 16, "cell": "lstm", "batch_size": 32, "lr": 3e-3, "sg_lr": 1e-3},
            "history": [{"step": 20, "seconds": 0.7, "n": 2, "solved": 1, "bits": 3.1}]}
CHARLM_RUN = {"task": "charlm", "method": "bptt", "T": 8, "seed": 0, "steps": 60, "seconds": 2.0,
              "corpus": "embedded", "corpus_sha256": "ab" * 32, "python": "3.11.7", "n_symbols": 90,
              "bpc": 4.2, "test_bpc": 4.3, "chars": 20_000,
              "config": {"hidden": 16, "cell": "lstm", "batch_size": 32, "lr": 3e-3, "sg_lr": 1e-4, "clip": None},
              "history": [{"step": s, "chars": 512 * s, "seconds": s / 10, "bpc": 6.5 - s / 20} for s in (0, 20, 40)]}


def run_cli(capsys, *argv):
    """(exit status, stderr lines) of `python -m minidni ARGV`, run in this process."""
    status = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err.splitlines()


def refused(capsys, *argv):
    """The one line a refused command prints (exit status 2)."""
    status, lines = run_cli(capsys, *argv)
    assert status == 2 and len(lines) == 1 and lines[0].startswith("minidni: error: "), lines
    return lines[0]


# -- figures --rnn-json ------------------------------------------------------------------------

def _gzip(value):
    return gzip.compress(json.dumps(value).encode())


def _without(run, key):
    return {k: v for k, v in run.items() if k != key}


BAD_RESULTS = {
    "missing": (None, r"missing\.json does not exist"),
    "not JSON": (b"epoch 1  step 17  train loss 0.9\n", r"not valid JSON, truncated or damaged \(Expecting value"),
    "truncated JSON": (json.dumps([COPY_RUN, CHARLM_RUN]).encode()[:300], r"not valid JSON, truncated or damaged"),
    "truncated gzip": (_gzip([COPY_RUN, CHARLM_RUN])[:150], r"cannot be read: Compressed file ended .*truncated"),
    "not a run": (b"[1, 2]", r"run 0: 1 is not a run \(a JSON object\)"),
    "a number": (b"42", r"42 is neither a run \(a JSON object\) nor a list of runs"),
    "no runs": (b"[]", r"an empty list, no runs to draw"),
    "no task": (_gzip([COPY_RUN, _without(CHARLM_RUN, "task")]), r"run 1: 'task' is missing"),
    "no config": (json.dumps(_without(COPY_RUN, "config")).encode(), r"run 0: 'config' is missing"),
    "no history": (_gzip([_without(CHARLM_RUN, "history")]), r"run 0: 'history' is missing"),
    "T a string": (_gzip([{**COPY_RUN, "T": "3"}]), r"run 0: 'T' is '3', expected an integer"),
    "bool seed": (_gzip([{**COPY_RUN, "seed": True}]), r"run 0: 'seed' is True, expected an integer"),
    "unknown method": (_gzip([{**COPY_RUN, "method": "magic"}]), r"run 0: method 'magic' is none of bptt, dni"),
    "bad setting": (_gzip([{**CHARLM_RUN, "config": {**CHARLM_RUN["config"], "lr": "fast"}}]),
                    r"run 0, config: 'lr' is 'fast', expected a number"),
    "bad record": (_gzip([{**CHARLM_RUN, "history": [{"step": 0, "chars": 0, "seconds": 0.0, "bpc": "6.5"}]}]),
                   r"run 0, history record 0: 'bpc' is '6.5', expected a number"),
}


@pytest.mark.parametrize("case", BAD_RESULTS)
def test_figures_refuses_a_bad_rnn_json_file_in_one_line_naming_it_and_the_fault(case, tmp_path, capsys):
    content, fault = BAD_RESULTS[case]
    path = tmp_path / ("missing.json" if content is None else "runs.json.gz")
    if content is not None:
        path.write_bytes(content)
    line = refused(capsys, "figures", "--only", "rnn", "--rnn-json", str(path), "--out", str(tmp_path / "out"))
    assert str(path) in line
    assert re.search(fault, line), line
    assert not (tmp_path / "out" / "rnn.md").exists()           # nothing drawn from a bad file


def test_the_committed_runs_and_single_run_files_load_as_saved(tmp_path):
    with gzip.open("figures/rnn_runs.json.gz", "rt") as f:
        assert load_runs("figures/rnn_runs.json.gz") == json.load(f)
    (tmp_path / "one.json").write_text(json.dumps(CHARLM_RUN))       # `rnn charlm --json`: one run
    assert load_runs(tmp_path / "one.json") == [CHARLM_RUN]


# -- CIFAR-10: an extracted folder is checked like the archive -----------------------------------

def _batch(rng, n):
    return np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], axis=1).astype(np.uint8)


@pytest.fixture
def cifar_folder(tmp_path, monkeypatch):
    """An extracted cifar-10-batches-bin folder in an offline cache: {name: bytes} of 2-record batches
    (BATCH_RECORDS set to 2), the archive beside it, its SHA-256 the one the loader expects."""
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path))
    monkeypatch.setenv("MINIDNI_NO_DOWNLOAD", "1")
    monkeypatch.setattr(cifar10, "BATCH_RECORDS", 2)
    folder = tmp_path / "cifar10" / cifar10.FOLDER
    folder.mkdir(parents=True)
    rng, files = np.random.default_rng(0), {}
    with tarfile.open(folder.parent / cifar10.ARCHIVE, "w:gz") as tar:
        for name in cifar10.TRAIN_FILES + cifar10.TEST_FILES:
            files[name] = _batch(rng, 2).tobytes()
            (folder / name).write_bytes(files[name])
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    archive = folder.parent / cifar10.ARCHIVE
    monkeypatch.setattr(cifar10, "SHA256", {cifar10.ARCHIVE: hashlib.sha256(archive.read_bytes()).hexdigest()})
    return folder


def test_an_extracted_cifar_folder_without_manifest_or_archive_is_refused_naming_the_folder(cifar_folder, capsys):
    (cifar_folder.parent / cifar10.ARCHIVE).unlink()
    line = refused(capsys, "train", "--dataset", "cifar10", "--epochs", "1")
    assert f"{cifar_folder} has no SHA256SUMS to check its files against: put the verified " \
           f"cifar-10-binary.tar.gz at {cifar_folder.parent / cifar10.ARCHIVE}" in line


def test_a_changed_file_in_an_extracted_cifar_folder_is_refused_by_its_sha256(cifar_folder):
    from minidni.errors import DataFileError
    cifar10.load_cifar10()                                  # the manifest is written from the archive
    (cifar_folder.parent / cifar10.ARCHIVE).unlink()        # ... and does without it from now on
    path = cifar_folder / "data_batch_4.bin"
    data = bytearray(path.read_bytes())
    data[100] ^= 1                                          # one pixel of one image, the size unchanged
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=rf"^{path} has SHA-256 [0-9a-f]{{64}}, but cifar-10-binary.tar.gz holds "
                                            r"it with [0-9a-f]{64} \(.*SHA256SUMS\): the file was changed"):
        cifar10.load_cifar10()


def test_a_damaged_manifest_is_refused_with_its_line(cifar_folder):
    from minidni.errors import DataFileError
    (cifar_folder / cifar10.MANIFEST).write_text("0" * 64 + "  data_batch_1.bin\nnot a hash  data_batch_2.bin\n")
    with pytest.raises(DataFileError, match=r"SHA256SUMS, line 2: not a SHA-256 and a file name"):
        cifar10.load_cifar10()


def test_extracted_batches_of_the_wrong_size_are_refused_before_any_check(tmp_path, monkeypatch, capsys):
    """The issue's case: 30 random records per file in an extracted folder trained as "cifar10"."""
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path))
    folder = tmp_path / "cifar10" / cifar10.FOLDER
    folder.mkdir(parents=True)
    for name in cifar10.TRAIN_FILES + cifar10.TEST_FILES:
        (folder / name).write_bytes(_batch(np.random.default_rng(0), 30).tobytes())
    line = refused(capsys, "train", "--dataset", "cifar10", "--epochs", "1")
    assert (f"{folder / 'data_batch_1.bin'} is 92,190 bytes, expected 30,730,000 (10,000 records of 3,073 bytes): "
            "truncated or not from cifar-10-binary.tar.gz") in line


# -- Penn Treebank: read from the archive, checked by its published MD5 ------------------------

def _ptb_archive(path):
    with tarfile.open(path, "w:gz") as tar:
        for name in text.PTB_FILES.values():
            data = b" a _ b\n"
            info = tarfile.TarInfo(f"./{text.PTB_FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def ptb_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDNI_DATA", str(tmp_path))
    monkeypatch.delenv(text.TRUST_PTB, raising=False)
    (tmp_path / "ptb").mkdir()
    return tmp_path / "ptb"


def test_a_ptb_archive_with_another_md5_than_the_published_one_is_refused(ptb_cache, capsys):
    _ptb_archive(ptb_cache / text.PTB_ARCHIVE)
    line = refused(capsys, "rnn", "charlm", "--corpus", "ptb", "--quick", "--quiet")
    assert f"{ptb_cache / text.PTB_ARCHIVE} has MD5 " in line and "expected 30177ea32e27c525793142b6bf2c8e2d" in line


def test_loose_ptb_files_no_checksum_can_vouch_for_are_refused_unless_trusted(ptb_cache, monkeypatch):
    from minidni.errors import DataFileError
    for name in text.PTB_FILES.values():
        (ptb_cache / name).write_text(" a _ b\n" * 60)
    with pytest.raises(DataFileError, match=r"simple-examples.tgz is not at .*; the ptb.char.train.txt, "
                                            r"ptb.char.valid.txt, ptb.char.test.txt there cannot be checked .*"
                                            r"set MINIDNI_TRUST_PTB=1 to read them unverified"):
        text.load_corpus("ptb")
    monkeypatch.setenv(text.TRUST_PTB, "1")
    assert text.load_corpus("ptb").decode(text.load_corpus("ptb").valid[:4]) == "a_b\n"
