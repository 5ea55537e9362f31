"""Experiment options as dataclass fields that carry their own help, and the rules they share.

    @dataclass
    class TrainConfig:
        lr: float = option(1e-3, "learning rate of the network")

An `option` is an ordinary dataclass field; its metadata (help text, choices, how many
values, a flag name) is what the command line reads to offer it, so each option's
default and help are written once. The checks below raise UserError naming the option
as the command line spells it (`--batch-size`) and the value it got; `check_types`, the
first check of every config, holds each field to its annotation.
"""
import dataclasses
import math
import os
import typing

import numpy as np

from .errors import UserError

# What check_types asks of each annotated type, as its messages say it.
_KINDS = {int: "an integer", float: "a number", str: "a string", bool: "True or False", dict: "a dict",
          list: "a list"}


def option(default, help, *, choices=None, many=False, type=None, flag=None, default_text=None, cli=True):
    """A dataclass field with what a command line needs to offer it.

    choices: the allowed values; many: a list of one or more values; type: of a value,
    where the default does not show it (a list that defaults to None); flag: the option's
    spelling if not --name-with-dashes (e.g. "-T"); default_text: how --help shows a
    default that depends on other options (default None); cli=False keeps it off the
    command line (an option for Python callers and tests only).
    """
    meta = {"help": help, "choices": choices, "many": many, "type": type, "flag": flag,
            "default_text": default_text, "cli": cli}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: default.copy(), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_of(field):
    """How the command line spells a field: its `flag` or --name-with-dashes."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _flag(config, name):
    return flag_of(next(f for f in dataclasses.fields(config) if f.name == name))


def check_choices(config):
    """Every field with choices holds one of them (each of its values, for a list)."""
    for f in dataclasses.fields(config):
        choices, value = f.metadata.get("choices"), getattr(config, f.name)
        if not choices or value is None:
            continue
        for v in value if f.metadata.get("many") else [value]:
            if v not in choices:
                raise UserError(f"{flag_of(f)} {v!r} is not one of {', '.join(map(str, choices))}")


def check_types(config):
    """Every field holds what its annotation says; else UserError naming the option and the value.

    int: an int, not a bool and not a float (2.0 neither: an integer option takes an integer);
    float: a number, an int too but not a bool (nan and inf are left to each float option's
    range check, check_positive or its own, whose message gives the range); str, bool, dict:
    one; list (or many=True): a list or tuple whose values are the option's `type`, else its
    choices' or its default's values' type. None only where the annotation is Optional.
    A NumPy scalar counts as the Python value it holds and is stored as that value (and a
    path as its str), so a result's "config" stays JSON. Choices are check_choices' business.
    """
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        kind, optional = _unwrap(hints[f.name])
        value = getattr(config, f.name)
        if value is None:
            if not optional:
                raise UserError(f"{flag_of(f)} takes {_KINDS.get(kind, 'a value')}, got None")
        elif kind is list or f.metadata.get("many"):
            if not isinstance(value, (list, tuple)):
                raise UserError(f"{flag_of(f)} takes {_KINDS[list]}, got {value!r}")
            element = _element_type(f)
            if element in _KINDS:
                setattr(config, f.name, type(value)(_checked(f, element, v) for v in value))
        elif kind in _KINDS:
            setattr(config, f.name, _checked(f, kind, value))


def _unwrap(annotation):
    """(the type, whether None is allowed) of an annotation: Optional[int] -> (int, True)."""
    if typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (inner[0] if len(inner) == 1 else None), type(None) in typing.get_args(annotation)
    return annotation, False


def _element_type(field):
    """The type of each value of a list option (None: not declared, values unchecked)."""
    if field.metadata.get("type"):
        return field.metadata["type"]
    if field.metadata.get("choices"):
        return type(field.metadata["choices"][0])
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    return type(default[0]) if default else None


def _checked(field, kind, value):
    """`value` as a field of type `kind` holds it, or UserError naming the option and the value."""
    value = value.item() if isinstance(value, np.generic) else value
    if kind is str and isinstance(value, os.PathLike):
        value = os.fspath(value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {int: isinstance(value, int) and number, float: number}.get(kind)
    if not (ok if ok is not None else isinstance(value, kind)):
        raise UserError(f"{flag_of(field)} takes {_KINDS[kind]}, got {value!r}")
    return value


def check_at_least(config, low, *names):
    """Each named option, or each of its values, is at least `low` (None means "not given")."""
    for name in names:
        value = getattr(config, name)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and v < low:
                raise UserError(f"{_flag(config, name)} must be at least {low}, got {v}")


def check_positive(config, *names, zero_ok=False):
    """Each named option is a finite number above zero (or at least zero, with zero_ok)."""
    for name in names:
        v = getattr(config, name)
        if v is not None and not (math.isfinite(v) and (v >= 0 if zero_ok else v > 0)):
            raise UserError(f"{_flag(config, name)} must be a finite number {'of at least' if zero_ok else 'above'} 0, "
                            f"got {v}")


def check_many(config, *names):
    """Each named list option has at least one value."""
    for name in names:
        if not getattr(config, name):
            raise UserError(f"{_flag(config, name)} needs at least one value")


def replace(config, **changes):
    """A copy of `config` with `changes` (dataclasses.replace, naming an unknown option clearly)."""
    known = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"{type(config).__name__} has no option {', '.join(unknown)}")
    return dataclasses.replace(config, **changes)
