"""What every command shares: options built from a config's fields, the runtime options, output checks.

An option's default and help live once, on its config field (minidni.options.option);
`add_config_options` turns each field into an argparse option and `config_from_args`
turns the parsed options back into the config.
"""
import argparse
import contextlib
import dataclasses
import errno
import json
import os
import sys
import tempfile
import typing

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .. import backend
from ..checkpoint import atomic_write
from ..experiments.runlog import RunLog
from ..errors import UserError
from ..options import flag_of


class Parser(argparse.ArgumentParser):
    """Usage errors: one line and exit status 2, as every other user error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default, as "(default: X)"; the description keeps its layout."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or not action.option_strings):
            return text
        default = " ".join(map(str, action.default)) if isinstance(action.default, list) else action.default
        return f"{text} (default: {str(default).replace('%', '%%')})"


def add_command(subparsers, name, help, doc):
    """A subcommand whose description is the first paragraph and examples of `doc`."""
    return subparsers.add_parser(name, help=help, description=doc, formatter_class=HelpFormatter)


def _value_type(field):
    if field.metadata.get("type"):
        return field.metadata["type"]
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    if isinstance(default, list):
        return type(default[0]) if default else str
    if default is not None:
        return type(default)
    inner = [a for a in typing.get_args(field.type) if a is not type(None)]
    return inner[0] if inner and inner[0] in (int, float, str) else str


def add_config_options(parser, config_class, exclude=(), many=()):
    """One option per field of `config_class` (but `exclude` and fields with cli=False).

    `many`: fields that take one or more values here though the config holds one
    (the command runs once per value). Inherited fields (SGOptions') come after the
    command's own, so --help starts with what the command is about.
    """
    bases = [c for c in config_class.__mro__ if dataclasses.is_dataclass(c)]
    depth = {f.name: i for i, c in enumerate(bases) for f in dataclasses.fields(c)}   # of the deepest base
    for field in sorted(dataclasses.fields(config_class), key=lambda f: depth[f.name]):
        meta = field.metadata
        if field.name in exclude or not meta.get("cli", True):
            continue
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        help = meta["help"] + (f" (default: {meta['default_text']})" if meta.get("default_text") else "")
        help = help.replace("%", "%%")                     # argparse expands %(...)s in help texts
        kwargs = dict(dest=field.name, help=help)
        if isinstance(default, bool):
            parser.add_argument(flag_of(field), action="store_true", **kwargs)
            continue
        kwargs.update(type=_value_type(field), default=default)
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
        if meta.get("many") or field.name in many:
            kwargs["nargs"] = "+"
            if field.name in many:
                kwargs["default"] = [default]
        parser.add_argument(flag_of(field), **kwargs)


def config_from_args(config_class, args, **values):
    """The config the parsed options describe; `values` replace options."""
    names = {f.name for f in dataclasses.fields(config_class)}
    given = {k: v for k, v in vars(args).items() if k in names}
    return config_class(**{**given, **values})


def add_output_options(parser, out, compare=None):
    """--out DIR, where a grid writes its files; with `compare` (that option's help) also --compare,
    which runs the grid, and --json PATH, where a single run writes its result."""
    if compare:
        parser.add_argument("--compare", action="store_true", help=compare)
    parser.add_argument("--out", default=out, help=("with --compare: " if compare else "") + "output directory")
    if compare:
        parser.add_argument("--json", metavar="PATH", help="one run: write the result and its history as JSON")


def add_runtime_options(parser, quiet=True):
    """How a command computes, not what: the array backend, dtype and BLAS threads."""
    g = parser.add_argument_group("runtime")
    g.add_argument("--backend", choices=["numpy", "cupy"], default=os.environ.get("MINIDNI_BACKEND", "numpy"),
                   help="array backend; the environment variable MINIDNI_BACKEND sets it")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="floating-point type")
    g.add_argument("--threads", type=int, default=None,
                   help="BLAS threads (default: the library's choice; the recurrent runs are faster on 1)")
    if quiet:
        g.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")


@contextlib.contextmanager
def runtime(args):
    """Apply --backend, --dtype and --threads for the duration of a command."""
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    backend.set_backend(args.backend)
    backend.set_dtype(args.dtype)
    if args.threads is None:
        yield
        return
    with threadpool_limits(args.threads):
        yield


def check_outputs(files=(), dirs=()):
    """Refuse, before any training, an output that could not be written; then create the missing `dirs`.

    files: (flag, path or None) pairs, the output files; dirs: (flag, path or None) pairs, the
    output directories, created (with their parents) only once every output has passed.
    A file needs a writable directory and must not be a directory or a special file
    (/dev/full); every path must be non-empty, with names the file system takes, and no
    two outputs may be the same file. A refusal is a UserError naming the flag, the path
    and why, raised before anything is created.
    """
    files = [(flag, path) for flag, path in files if path is not None]
    dirs = [(flag, path) for flag, path in dirs if path is not None]
    seen = {}
    for (flag, path), check in [(f, _check_file) for f in files] + [(d, _check_dir) for d in dirs]:
        if path == "":
            raise UserError(f"{flag}: the path is empty")
        check(flag, path)
        real = os.path.realpath(path)
        if real in seen:
            raise UserError(f"{flag} {path}: the same file as {seen[real]}")
        seen[real] = f"{flag} {path}"
    for flag, path in dirs:
        os.makedirs(path, exist_ok=True)


def _check_file(flag, path):
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a directory; give a file name")
    if os.path.exists(path) and not os.path.isfile(path):
        raise UserError(f"{flag} {path}: not a regular file")
    if not os.path.isdir(directory):
        raise UserError(f"{flag} {path}: directory {directory} does not exist")
    _probe(flag, path, directory, None if os.path.exists(path) else path)


def _check_dir(flag, path):
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path}: not a directory")
    parent, missing = os.path.abspath(path), []
    while not os.path.exists(parent):                   # the nearest existing ancestor, where makedirs starts
        parent, name = os.path.split(parent)
        missing.append(name)
    if not os.path.isdir(parent):
        raise UserError(f"{flag} {path}: {parent} is not a directory")
    too_long = [name for name in missing if len(os.fsencode(name)) > os.pathconf(parent, "PC_NAME_MAX")]
    if too_long:
        raise UserError(f"{flag} {path}: a name is too long for the file system ({len(too_long[0])} characters)")
    _probe(flag, path, parent)


def _probe(flag, path, directory, new_file=None):
    """Create and remove a file in `directory` (`new_file` itself, if given: its name is checked too).

    os.access alone says yes to root and on some read-only mounts; only a write tells.
    """
    try:
        if not os.access(directory, os.W_OK):
            raise PermissionError(errno.EACCES, "no permission to write")
        if new_file is not None:
            os.close(os.open(new_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            os.unlink(new_file)
        else:
            fd, probe = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise UserError(f"{flag} {path}: cannot write in {directory} ({e.strerror or e})") from None


def write_json(path, value):
    """Write `value` as JSON to `path` atomically (write_text)."""
    write_text(path, json.dumps(value, indent=2))


def write_text(path, text):
    """Write `text` to `path` atomically: a temporary file in the same directory, synced, then renamed
    over `path`, so a failed write never leaves half a file over a good one.

    If the write fails all the same, `text` goes to a fallback file (fallback_file) and
    UserError says where: the result is never lost.
    """
    try:
        atomic_write(path, lambda f: f.write(text), "w")
    except OSError as e:
        kept = fallback_file(lambda name: _write_plain(name, text), os.path.splitext(path)[1])
        raise UserError(f"cannot write {path} ({e.strerror or e}); the result was kept in {kept}") from None


def _write_plain(path, text):
    with open(path, "w") as f:
        f.write(text)


def fallback_file(write, suffix=".json"):
    """A new file minidni-result-*`suffix` in the system's temporary directory, filled by write(path): where
    a result goes when its own path cannot take it. Returns its path."""
    fd, path = tempfile.mkstemp(prefix="minidni-result-", suffix=suffix)
    os.close(fd)
    write(path)
    return path


def write_all(*writes):
    """Call every one of `writes` (each writes one output), even after one has failed: a failed write
    has kept its result in a fallback file, and the UserErrors that say where are joined in one."""
    failed = []
    for write in writes:
        try:
            write()
        except UserError as e:
            failed.append(str(e))
    if failed:
        raise UserError("; ".join(failed))


def keep_interrupted(json_path, value, reached, saved=None):
    """After Ctrl-C in a single run: write the run so far (`value`) to `json_path`, else to a fallback file,
    and say in one line on stderr what was kept where. reached: how far the run got ("epoch 3, step 84");
    saved: the checkpoint already written, if any. Returns 130, the exit status of an interrupted command.
    """
    if json_path:
        write_json(json_path, value)
        kept = json_path
    else:
        kept = fallback_file(lambda name: _write_plain(name, json.dumps(value, indent=2)))
    weights = f" and the weights in {saved}" if saved else ""
    print(f"minidni: interrupted at {reached}: kept the history so far in {kept}{weights}", file=sys.stderr,
          flush=True)
    return 130


def progress_bar(total, desc, quiet, unit="step"):
    """A tqdm bar on stderr (nothing with quiet) and a function that moves it to a record's "step"."""
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=quiet)

    def move_to(step):
        bar.update(step - bar.n)
    return bar, move_to


def open_run_log(out):
    """OUT/runs.jsonl, where a grid keeps each run as it finishes; says so if it holds runs already."""
    log = RunLog(os.path.join(out, "runs.jsonl"))
    if len(log):
        print(f"{log.path} holds {len(log)} finished run(s): those of this grid are taken from there, not trained "
              "again (delete the file to train them again)", flush=True)
    return log


def interrupted(paths):
    """Ctrl-C during a grid: one line on stderr saying what the run logs `paths` kept, and how to go on. Returns 130."""
    kept = " and ".join(f"{len(RunLog(p))} finished run(s) kept in {p}" for p in paths) or "no finished run kept"
    print(f"minidni: interrupted: {kept}; run the same command again to train only the rest", file=sys.stderr,
          flush=True)
    return 130


def run_grid(args, run):
    """A grid's runs: run(log) under the runtime options, each finished run kept in OUT/runs.jsonl as it
    finishes (open_run_log). Returns (results, None), or (None, 130) after Ctrl-C, having said what was kept."""
    os.makedirs(args.out, exist_ok=True)
    log = open_run_log(args.out)
    try:
        with runtime(args):
            return run(log), None
    except KeyboardInterrupt:
        return None, interrupted([log.path])


def write_grid_outputs(stem, results, table):
    """A grid's results at stem.json and its markdown table at stem.md, both atomically; prints the
    table. Returns the two paths."""
    write_json(stem + ".json", results)
    write_text(stem + ".md", table)
    print(table)
    return [stem + ".json", stem + ".md"]
