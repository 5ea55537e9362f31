"""A grid's finished runs on disk as they finish, so that Ctrl-C or a crash loses at most the runs in progress.

    log = RunLog("runs/compare/runs.jsonl")
    results = run_compare(CompareConfig(seed=[0, 1, 2]), log=log)    # trains only what the log lacks

The log is a JSON-lines file, one finished run a line: {"key": run_key(config), "result": ...}.
A rerun with the same log takes the result of every run whose key is there instead of
training it again: its numbers are the stored ones, bit for bit. Runs of other grids in the
same log are kept and ignored, so a grid that grows (one more seed) trains only what is new.
"""
import dataclasses
import json
import os
import warnings

from ..backend import get_backend, get_dtype
from ..errors import DataFileError, UserError


def run_key(config, **role):
    """The key of one run: its config as a dict, the backend and dtype it computes in (float64
    is another run), and `role`, its place in a grid where that matters (Table 1's search stage)."""
    return {"config": dataclasses.asdict(config), "backend": get_backend(), "dtype": str(get_dtype()), **role}


def _canonical(key):
    return json.dumps(key, sort_keys=True)


class RunLog:
    """The finished runs in the JSON-lines file `path` (created at the first run), by key.

    A last line without its newline is a write that a crash cut short: it is dropped, with a
    warning. Any other line that is not a run record is a DataFileError naming the line.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.results = {}
        try:
            with open(self.path, "rb") as f:
                text = f.read()
            *lines, torn = text.split(b"\n")
            if torn:
                warnings.warn(f"{self.path}: the last line is incomplete (a crash while writing it): ignored",
                              stacklevel=2)
                os.truncate(self.path, len(text) - len(torn))        # so that the next run starts a line
        except FileNotFoundError:
            return
        except OSError as e:
            raise DataFileError(f"cannot read the run log {self.path}: {e.strerror}") from None
        for number, line in enumerate(lines, 1):
            if line.strip():
                key, result = _record(line, self.path, number)
                self.results[_canonical(key)] = result

    def __len__(self):
        return len(self.results)

    def __contains__(self, key):
        return _canonical(key) in self.results

    def get(self, key):
        """The stored result of the run with this key (KeyError if the log has none)."""
        return self.results[_canonical(key)]

    def add(self, key, result):
        """Append one finished run and flush it to the disk before returning."""
        line = (json.dumps({"key": key, "result": result}) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, line)        # one system call: Ctrl-C cannot split the line
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise UserError(f"cannot append to the run log {self.path}: {e.strerror}") from None
        if written < len(line):                     # a full disk: the next read drops the torn line
            raise UserError(f"cannot append to the run log {self.path}: the disk is full")
        self.results[_canonical(key)] = result


def _record(line, path, number):
    try:
        record = json.loads(line)
    except ValueError as e:                         # not JSON, or not UTF-8
        raise DataFileError(f"{path}, line {number}: not a run record ({e})") from None
    if not isinstance(record, dict) or set(record) != {"key", "result"}:
        raise DataFileError(f"{path}, line {number}: not a run record (a run is {{\"key\": ..., \"result\": ...}})")
    return record["key"], record["result"]


def run_all(keys, train, log=None, progress=None):
    """Every run's result, in order: the log's where it holds the run's key, the others trained.

    keys: one per run (run_key). train(todo, done) trains the runs at the indices `todo`, in that
    order, calls done(result) as each finishes and returns their results; done adds the run to
    the log, calls progress(result) and returns the result. Without a log every run is trained.
    """
    results = {i: log.get(key) for i, key in enumerate(keys) if log is not None and key in log}
    todo = [i for i in range(len(keys)) if i not in results]
    finishing = iter(todo)

    def done(result):
        """Run todo[k] finished, k counting the calls: log it, report it."""
        i = next(finishing)
        if log is not None:
            log.add(keys[i], result)
        if progress is not None:
            progress(result)
        return result
    results.update(zip(todo, train(todo, done)))
    return [results[i] for i in range(len(keys))]
