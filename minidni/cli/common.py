"""What every command shares: options built from a config's fields, the runtime options, output checks.

An option's default and help live once, on its config field (minidni.options.option);
`add_config_options` turns each field into an argparse option and `config_from_args`
turns the parsed options back into the config.
"""
import argparse
import contextlib
import dataclasses
import json
import os
import sys
import typing

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .. import backend
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


def check_writable(path, what):
    """Fail before training, not after it, if `path` cannot be written."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {what} {path}: directory {directory} does not exist")


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)


def progress_bar(total, desc, quiet, unit="step"):
    """A tqdm bar on stderr (nothing with quiet) and a function that moves it to a record's "step"."""
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=quiet)

    def move_to(step):
        bar.update(step - bar.n)
    return bar, move_to
