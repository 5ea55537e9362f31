"""Character-level language-modelling corpora, as arrays of symbol ids.

    corpus = load_corpus("embedded")     # or "ptb", or the path of any UTF-8 text file
    corpus.train, corpus.valid, corpus.test     # int64 arrays of symbol ids
    corpus.symbols                              # id -> character

"embedded": English prose that every CPython installation carries and that needs no
network: the `pydoc_data.topics` module, the text `help("assert")` and friends print
(the Python Language Reference's topics, about 465,000 characters on Python 3.11), less
the topics whose text is part of another's; split contiguously 90 / 5 / 5 %, then every
held-out line inside a 100-character stretch that also occurs in training is dropped.
It is part of CPython, so it may be redistributed under the PSF licence. The text
differs slightly between Python versions; `corpus.sha256` identifies it, and the
results record it.

"ptb": the Penn Treebank character files of Mikolov's simple-examples.tgz
(data/ptb.char.{train,valid,test}.txt), read straight from the archive placed in the
cache directory's ptb/ folder, the archive checked by its published MD5. No checksum of
the three files themselves is published, so loose copies of them are read only when
MINIDNI_TRUST_PTB=1 says to trust them unverified.
Their canonical format: one sentence per line, characters separated by single spaces,
"_" between words. Each character becomes a symbol, "_" included, and every line ends
with an end-of-line symbol "\\n", giving the usual 50-symbol alphabet.

"stdlib": the Python standard library's own source, the `.py` files of the running
interpreter outside its test suites (about 12 MB on Python 3.11): real text where long
context matters (indentation, matching brackets, names defined far above). It is split
by top-level module or package, not by position: the SHA-256 of the name puts each in
training, validation (5 %) or test (5 %), so near-copies inside a package (the codecs of
`encodings`, say) stay on one side. A file whose content repeats one already taken is
dropped, and so is every line of validation and test inside a 100-character stretch
that also occurs in training: no 100 characters of a held-out part were seen in
training. `corpus.sha256` covers every file's path and content hash and the Python
version: another interpreter gives another corpus.

A path: any UTF-8 text; the split is contiguous (the first 90 % trains).
"""
import hashlib
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydoc_data.topics import topics

from ..errors import DataFileError
from .archive import read_members
from .cache import data_dir

PTB_FILES = {"train": "ptb.char.train.txt", "valid": "ptb.char.valid.txt", "test": "ptb.char.test.txt"}
PTB_ARCHIVE = "simple-examples.tgz"
PTB_URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
PTB_FOLDER = "simple-examples/data"         # where the archive holds the ptb.char files
# The archive's MD5 as PaddlePaddle's dataset loaders publish it (paddle.dataset.imikolov and
# paddle.text.datasets.imikolov, for this URL). No hash of the extracted files is published.
PTB_MD5 = "30177ea32e27c525793142b6bf2c8e2d"
TRUST_PTB = "MINIDNI_TRUST_PTB"             # =1: read loose ptb.char files, unverified

MIN_CHARS = 100      # below this a "corpus" cannot fill a validation split
STDLIB_SKIP = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
STDLIB_SPLIT = {"valid": 5, "test": 5}     # per cent of top-level names, by their hash
COPY_WINDOW = 100                          # held-out text shares no stretch this long with training


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
    """The default corpus's text: every topic of pydoc_data.topics, in sorted order, one after
    another, less those whose whole text is part of another's (`if` and `else` repeat
    `compound`)."""
    kept = [k for k in sorted(topics) if not any(j != k and topics[k] in topics[j] for j in topics)]
    return "\n".join(topics[k] for k in kept)


def load_embedded():
    """The embedded corpus: embedded_text() split contiguously (90 / 5 / 5 %), held-out lines
    copied from training dropped (pydoc's `while` and `with` repeat parts of `compound`)."""
    text = embedded_text()
    return clean_corpus("embedded", contiguous_parts(text), hashlib.sha256(text.encode("utf-8")).hexdigest())


def read_text_file(path):
    """The contents of a UTF-8 text file; DataFileError if it is missing, unreadable or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"text file {path} does not exist" if not path.exists() else f"{path} is not a file")
    return decode_utf8(path.read_bytes(), path)


def decode_utf8(data, where):
    """`data` (bytes) as text; DataFileError naming `where` and the first bad byte if it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataFileError(f"{where} is not valid UTF-8: byte {e.start} (line {line}) {e.reason}; "
                            "convert it, e.g. iconv -f latin1 -t utf-8") from None


def corpus_from_symbols(name, parts, digest):
    """Build a CharCorpus from three lists (or strings) of symbols: train, valid, test."""
    symbols = tuple(sorted(set().union(*map(set, parts))))
    index = {s: i for i, s in enumerate(symbols)}
    ids = [np.fromiter((index[s] for s in part), dtype=np.int64, count=len(part)) for part in parts]
    return CharCorpus(name, symbols, ids[0], ids[1], ids[2], digest)


def contiguous_parts(text, valid_fraction=0.05, test_fraction=0.05):
    """[train, valid, test]: the first part of `text` trains, then validation, then test."""
    n_valid, n_test = int(len(text) * valid_fraction), int(len(text) * test_fraction)
    n_train = len(text) - n_valid - n_test
    return [text[:n_train], text[n_train:n_train + n_valid], text[n_train + n_valid:]]


def corpus_from_text(name, text, valid_fraction=0.05, test_fraction=0.05):
    """Split `text` contiguously: the first part trains, then validation, then test."""
    if len(text) < MIN_CHARS:
        raise DataFileError(f"{name}: a corpus needs at least {MIN_CHARS} characters, got {len(text)}")
    parts = contiguous_parts(text, valid_fraction, test_fraction)
    return corpus_from_symbols(name, parts, hashlib.sha256(text.encode("utf-8")).hexdigest())


def ptb_symbols(text, where):
    """Symbols of one ptb.char.*.txt file's text: each space-separated character, and "\\n" per line.

    Raises DataFileError naming `where` for a line that is not single characters separated by
    spaces, or for an empty file.
    """
    symbols = []
    for number, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        bad = next((t for t in tokens if len(t) != 1), None)
        if bad is not None:
            raise DataFileError(f"{where}, line {number}: {bad[:20]!r} is not one character: not the ptb.char format "
                                "(characters separated by spaces, '_' between words)")
        symbols.extend(tokens)
        symbols.append("\n")
    if not symbols:
        raise DataFileError(f"{where} is empty")
    return symbols


def trust_loose_ptb():
    """True when MINIDNI_TRUST_PTB is set to anything but "", "0" or "false"."""
    return os.environ.get(TRUST_PTB, "").strip().lower() not in ("", "0", "false")


def ptb_files(directory):
    """{split: (where, bytes)} of the three ptb.char files: from simple-examples.tgz in `directory`,
    the archive checked by its MD5; with MINIDNI_TRUST_PTB=1 and no archive, the loose files there.
    DataFileError saying what to put where if neither is there, or if the archive's MD5 differs."""
    archive = directory / PTB_ARCHIVE
    if archive.exists():
        digest = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
        if digest != PTB_MD5:
            raise DataFileError(f"{archive} has MD5 {digest}, expected {PTB_MD5}: the file is corrupt or not "
                                f"Mikolov's archive; delete it and download {PTB_URL} again")
        members = read_members(archive, PTB_FOLDER, list(PTB_FILES.values()), f"{PTB_URL}'s archive")
        return {split: (f"{archive}:{PTB_FOLDER}/{name}", members[name]) for split, name in PTB_FILES.items()}
    loose = {split: directory / name for split, name in PTB_FILES.items()}
    if not trust_loose_ptb():
        found = [path.name for path in loose.values() if path.exists()]
        unverified = (f"; the {', '.join(found)} there cannot be checked (no checksum of them is published): "
                      f"set {TRUST_PTB}=1 to read them unverified" if found else "")
        raise DataFileError(f"{PTB_ARCHIVE} is not at {archive}: download {PTB_URL} and put it there (its MD5 is "
                            f"checked and the ptb.char files are read from it){unverified}")
    for path in loose.values():
        if not path.is_file():
            raise DataFileError(f"{path.name} is not at {path}: download {PTB_URL}, unpack it, and copy "
                                f"{PTB_FOLDER}/{path.name} to {directory}/ (or put the archive itself there)")
    return {split: (path, path.read_bytes()) for split, path in loose.items()}


def load_ptb_chars(directory=None):
    """The Penn Treebank character corpus from `directory` (default: the cache's ptb/ folder), read
    by ptb_files. Its sha256 is that of the three files' SHA-256s, in train, valid, test order."""
    directory = Path(directory) if directory is not None else data_dir() / "ptb"
    files = ptb_files(directory)
    parts = [ptb_symbols(decode_utf8(data, where), where) for where, data in files.values()]
    digest = hashlib.sha256("".join(hashlib.sha256(data).hexdigest() for _, data in files.values()).encode())
    return corpus_from_symbols("ptb", parts, digest.hexdigest())


def stdlib_files(root=None):
    """[(relative path, text)] of the standard library's .py files outside the test suites, sorted,
    each content once (the first path in sorted order keeps it)."""
    root = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise DataFileError(f"the standard library is not at {root}: cannot build the stdlib corpus")
    paths = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in STDLIB_SKIP]     # test suites, installed packages
        paths += [Path(directory) / n for n in names if n.endswith(".py")]
    files, seen = [], set()
    for path in sorted(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue                                  # unreadable or not UTF-8: not part of the corpus
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest not in seen:
            seen.add(digest)
            files.append((path.relative_to(root).as_posix(), text))
    if not files:
        raise DataFileError(f"no .py files under {root}: cannot build the stdlib corpus")
    return files


def stdlib_part(relative_path):
    """"train", "valid" or "test", fixed by the SHA-256 of the top-level module or package name."""
    top = relative_path.split("/")[0].removesuffix(".py")
    bucket = int(hashlib.sha256(top.encode("utf-8")).hexdigest(), 16) % 100
    return ("valid" if bucket < STDLIB_SPLIT["valid"] else
            "test" if bucket < STDLIB_SPLIT["valid"] + STDLIB_SPLIT["test"] else "train")


def window_hashes(ids, n=COPY_WINDOW):
    """uint64 hash of every n-symbol window of an id array (a polynomial hash, wrapping mod 2^64)."""
    shifted = ids.astype(np.uint64) + np.uint64(1)          # no symbol hashes as 0
    m = len(ids) - n + 1
    h = np.zeros(max(m, 0), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n if m > 0 else 0):
            h *= np.uint64(1_000_003)
            h += shifted[k:k + m]
    return h


def copied_windows(ids, seen_sorted, n=COPY_WINDOW):
    """Boolean per window of `ids`: does its hash occur in `seen_sorted` (sorted window hashes)?"""
    h = window_hashes(ids, n)
    i = np.minimum(np.searchsorted(seen_sorted, h), len(seen_sorted) - 1)
    return seen_sorted[i] == h if len(seen_sorted) else np.zeros(len(h), bool)


def drop_copied_lines(text, seen_sorted, encode, n=COPY_WINDOW):
    """`text` without every line that touches an n-character window found in `seen_sorted`;
    repeated until none is left (dropping lines makes new windows)."""
    while True:
        ids = encode(text)
        hits = np.flatnonzero(copied_windows(ids, seen_sorted, n))
        if not len(hits):
            return text
        covered = np.zeros(len(ids) + 1, dtype=np.int64)
        np.add.at(covered, hits, 1)
        np.add.at(covered, hits + n, -1)
        newline = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == ord("\n")
        line_of = np.cumsum(newline) - newline                # a line's "\n" belongs to it
        bad = set(np.unique(line_of[np.cumsum(covered)[:-1] > 0]).tolist())
        text = "\n".join(line for i, line in enumerate(text.split("\n")) if i not in bad)


def load_stdlib(root=None):
    """The stdlib corpus: split by top-level name, each part's files joined by a blank line,
    held-out lines copied from training dropped."""
    files = stdlib_files(root)
    parts = {"train": [], "valid": [], "test": []}
    record = hashlib.sha256(f"python {sys.version.split()[0]}\n".encode())
    for rel, text in files:
        parts[stdlib_part(rel)].append(text)
        record.update(f"{rel}\t{hashlib.sha256(text.encode('utf-8')).hexdigest()}\n".encode())
    texts = ["\n\n".join(parts[k]) for k in ("train", "valid", "test")]
    return clean_corpus("stdlib", texts, record.hexdigest(), f"the standard library under {root or 'this Python'}")


def clean_corpus(name, texts, digest, source=None):
    """CharCorpus of texts = [train, valid, test], every held-out line inside a COPY_WINDOW-character
    stretch that also occurs in training dropped: no 100 characters of validation or test were seen."""
    symbols = sorted(set().union(*map(set, texts)))
    table = np.zeros(max(map(ord, symbols)) + 1, dtype=np.int64)
    table[[ord(c) for c in symbols]] = np.arange(len(symbols))

    def encode(text):
        return table[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]
    seen = np.sort(window_hashes(encode(texts[0])))
    texts = [texts[0]] + [drop_copied_lines(t, seen, encode) for t in texts[1:]]
    if min(map(len, texts[1:])) < MIN_CHARS:
        raise DataFileError(f"{source or name} gives too little text to fill the validation and test parts")
    return corpus_from_symbols(name, texts, digest)


def load_corpus(name):
    """"embedded", "stdlib", "ptb", or the path of a UTF-8 text file."""
    if name == "embedded":
        return load_embedded()
    if name == "stdlib":
        return load_stdlib()
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
