"""Character-level language-modelling corpora, as arrays of symbol ids.

    corpus = load_corpus("embedded")     # or "ptb", or the path of any UTF-8 text file
    corpus.train, corpus.valid, corpus.test     # int64 arrays of symbol ids
    corpus.symbols                              # id -> character

"embedded": English prose that every CPython installation carries and that needs no
network: the `pydoc_data.topics` module, the text `help("assert")` and friends print
(the Python Language Reference's topics, about 465,000 characters on Python 3.11).
It is part of CPython, so it may be redistributed under the PSF licence. The text
differs slightly between Python versions; `corpus.sha256` identifies it, and the
results record it.

"ptb": the Penn Treebank character files of Mikolov's simple-examples.tgz
(data/ptb.char.{train,valid,test}.txt), placed in the cache directory's ptb/ folder.
Their canonical format: one sentence per line, characters separated by single spaces,
"_" between words. Each character becomes a symbol, "_" included, and every line ends
with an end-of-line symbol "\\n", giving the usual 50-symbol alphabet.

A path: any UTF-8 text; the split is contiguous (the first 90 % trains).
"""
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from .cache import data_dir, sha256_of

PTB_FILES = {"train": "ptb.char.train.txt", "valid": "ptb.char.valid.txt", "test": "ptb.char.test.txt"}
PTB_ARCHIVE = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
# SHA-256 of the files in simple-examples.tgz. Not yet pinned: our build machines have no
# network to take them from the archive. While a value is None the file's format is
# still checked line by line; once pinned, a file with another checksum is rejected.
PTB_SHA256 = {"ptb.char.train.txt": None, "ptb.char.valid.txt": None, "ptb.char.test.txt": None}

MIN_CHARS = 100      # below this a "corpus" cannot fill a validation split


@dataclass(frozen=True)
class CharCorpus:
    """train / valid / test: int64 arrays of ids into `symbols` (a tuple of strings)."""
    name: str
    symbols: tuple
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    sha256: str

    @property
    def n_symbols(self):
        return len(self.symbols)

    def decode(self, ids):
        return "".join(self.symbols[i] for i in ids)

    def __repr__(self):
        return (f"CharCorpus({self.name!r}, {self.n_symbols} symbols, train {len(self.train)}, "
                f"valid {len(self.valid)}, test {len(self.test)})")


def embedded_text():
    """The default corpus: every topic of pydoc_data.topics, in sorted order, one after another."""
    from pydoc_data.topics import topics
    return "\n".join(topics[k] for k in sorted(topics))


def read_text_file(path):
    """The contents of a UTF-8 text file; DataFileError if it is missing, unreadable or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"text file {path} does not exist" if not path.exists() else f"{path} is not a file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataFileError(f"{path} is not valid UTF-8: byte {e.start} (line {line}) {e.reason}; "
                            "convert it, e.g. iconv -f latin1 -t utf-8") from None


def corpus_from_symbols(name, parts, digest):
    """Build a CharCorpus from three lists (or strings) of symbols: train, valid, test."""
    symbols = tuple(sorted(set().union(*map(set, parts))))
    index = {s: i for i, s in enumerate(symbols)}
    ids = [np.fromiter((index[s] for s in part), dtype=np.int64, count=len(part)) for part in parts]
    return CharCorpus(name, symbols, ids[0], ids[1], ids[2], digest)


def corpus_from_text(name, text, valid_fraction=0.05, test_fraction=0.05):
    """Split `text` contiguously: the first part trains, then validation, then test."""
    if len(text) < MIN_CHARS:
        raise DataFileError(f"{name}: a corpus needs at least {MIN_CHARS} characters, got {len(text)}")
    n_valid, n_test = int(len(text) * valid_fraction), int(len(text) * test_fraction)
    n_train = len(text) - n_valid - n_test
    parts = (text[:n_train], text[n_train:n_train + n_valid], text[n_train + n_valid:])
    return corpus_from_symbols(name, parts, hashlib.sha256(text.encode("utf-8")).hexdigest())


def read_ptb_chars(path):
    """Symbols of one ptb.char.*.txt file: each space-separated character, and "\\n" per line.

    Raises DataFileError for a missing file, a checksum that differs from a pinned one,
    invalid UTF-8, or a line that is not single characters separated by spaces.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path.name} is not at {path}: download {PTB_ARCHIVE}, unpack it, and copy "
                            f"simple-examples/data/{path.name} to {path.parent}/")
    expected = PTB_SHA256.get(path.name)
    if expected is not None and sha256_of(path) != expected:
        raise DataFileError(f"{path} has SHA-256 {sha256_of(path)}, expected {expected}: the file is corrupt or "
                            f"not the canonical one; copy it again from {PTB_ARCHIVE}")
    symbols = []
    for number, line in enumerate(read_text_file(path).splitlines(), 1):
        tokens = line.split()
        bad = next((t for t in tokens if len(t) != 1), None)
        if bad is not None:
            raise DataFileError(f"{path}, line {number}: {bad[:20]!r} is not one character: not the ptb.char format "
                                "(characters separated by spaces, '_' between words)")
        symbols.extend(tokens)
        symbols.append("\n")
    if not symbols:
        raise DataFileError(f"{path} is empty")
    return symbols


def load_ptb_chars(directory=None):
    """The Penn Treebank character corpus from `directory` (default: the cache's ptb/ folder)."""
    directory = Path(directory) if directory is not None else data_dir() / "ptb"
    parts = [read_ptb_chars(directory / PTB_FILES[split]) for split in ("train", "valid", "test")]
    digest = hashlib.sha256("".join(sha256_of(directory / PTB_FILES[s]) for s in PTB_FILES).encode()).hexdigest()
    return corpus_from_symbols("ptb", parts, digest)


def load_corpus(name):
    """"embedded", "ptb", or the path of a UTF-8 text file."""
    if name == "embedded":
        return corpus_from_text("embedded", embedded_text())
    if name == "ptb":
        return load_ptb_chars()
    return corpus_from_text(os.path.basename(str(name)), read_text_file(name))


def batchify(ids, batch_size):
    """Cut a 1-D id array into `batch_size` parallel streams: (len // batch_size, batch_size).

    Column j is the j-th contiguous stretch of the text; a model reads down the columns,
    carrying its state from one window to the next.
    """
    n = len(ids) // batch_size
    if n < 2:
        raise DataFileError(f"{len(ids)} symbols are too few for {batch_size} streams of at least 2")
    return ids[:n * batch_size].reshape(batch_size, n).T.copy()
