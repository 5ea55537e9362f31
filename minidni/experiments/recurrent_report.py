"""Reports of the recurrent experiments (paper §3.1): markdown tables, wall-clock ratios, and
what each table says of a DNI run's M. They read the result dicts of minidni.experiments.recurrent
(its docstring gives their keys) and run nothing.

    from minidni.experiments import results_table
    print(results_table("charlm", results))             # a markdown table, with the shared settings
    time_ratios(results, "dni", 8)                       # {seed: DNI-8's time to BPTT-40's best / BPTT-40's}
    runs = load_runs("figures/rnn_runs.json.gz")         # saved results, each checked: what `figures --rnn-json` draws
"""
import gzip
import json
import zlib

import numpy as np

from ..errors import DataFileError
from .recurrent import METHODS, TASKS, best_bpc

# What the tables and figures read of a saved run, and its type (float: any real number).
# copy tasks draw `solved`, charlm its history; a None in an optional setting is its default.
RUN_FIELDS = {"task": str, "method": str, "T": int, "seed": int, "steps": int, "config": dict}
TASK_FIELDS = {"charlm": {"bpc": float, "test_bpc": float, "chars": int, "seconds": float, "corpus": str,
                          "corpus_sha256": str, "python": str, "history": list},
               "copy": {"solved": int}, "repeat-copy": {"solved": int}}
CONFIG_FIELDS = {"hidden": int, "cell": str, "batch_size": int, "lr": float, "sg_lr": float}
COPY_CONFIG_FIELDS = {"bits": int}
OPTIONAL_CONFIG_FIELDS = {"clip": float, "sg_scale": float, "aux_weight": float, "m_average": float,
                          "target_clip": float, "max_repeats": int, "sg_input": str}
HISTORY_FIELDS = {"chars": int, "seconds": float, "bpc": float}
KIND_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "an object", list: "a list"}


def time_to_reach(result, target):
    """Training seconds until validation BPC first is <= target (None if never)."""
    return next((h["seconds"] for h in result["history"] if h["bpc"] <= target), None)


def time_ratios(results, method, T, reference=("bptt", 40), setting=None):
    """Per seed: the training time `method`-T takes to reach the reference run's best validation
    BPC, over the time the reference takes to reach it itself (None where it never does).
    The paper's claim for DNI-8 against BPTT-40: about 0.5. `setting`: which of `method`-T's
    variants (an `m_setting`, e.g. with M's target clipped) when the results hold several."""
    runs = [r for r in results if (r["method"], r["T"]) == (method, T)]
    settings = {m_setting(r) for r in runs}
    if setting is None and len(settings) > 1:
        raise ValueError(f"the results hold {method}-{T} runs with {len(settings)} different settings "
                         f"({'; '.join(sorted(settings))}): pass setting= to choose one")
    runs = {r["seed"]: r for r in runs if setting is None or m_setting(r) == setting}
    refs = {r["seed"]: r for r in results if (r["method"], r["T"]) == reference}
    out = {}
    for seed in sorted(set(refs) & set(runs)):
        target = best_bpc(refs[seed])
        reached = time_to_reach(runs[seed], target)
        out[seed] = None if reached is None else reached / time_to_reach(refs[seed], target)
    return out


def spread(values, digits=0):
    """"v" for one value; "mean (min–max)" for several."""
    def fmt(v):
        return str(v) if isinstance(v, int) else f"{v:.{digits}f}"
    if len(values) == 1:
        return fmt(values[0])
    return f"{float(np.mean(values)):.{digits}f} ({fmt(min(values))}–{fmt(max(values))})"


def _m_reads(result):
    """What a DNI run's M reads: "(h, tanh c)", the default, or the raw state "(h, c)"."""
    return "(h, tanh c)" if result["config"].get("sg_input", "state") == "bounded" else "(h, c)"


def _m_extras(result):
    """The phrases m_setting puts after M's input: the aux weight, an averaged M, a clipped target, a discount."""
    c, extras = result["config"], []
    if result["method"] == "dni-aux":
        extras.append(f"aux weight {c.get('aux_weight', 1.0):g}")
    if c.get("m_average"):
        extras.append(f"g_hat from M's average (decay {c['m_average']:g})")
    if c.get("target_clip"):
        extras.append(f"M's target clipped at norm {c['target_clip']:g}")
    if c.get("sg_scale", 1.0) != 1:
        extras.append(f"**discounted: sg_scale {c['sg_scale']:g}**")
    return extras


def m_setting(result):
    """What a table must say of a DNI run's M: its input and any discount ("—" for BPTT)."""
    if result["method"] == "bptt":
        return "—"
    return ", ".join([f"M on {_m_reads(result)}"] + _m_extras(result))


def m_variant(result):
    """What sets a run's M apart from plain DNI's (M on (h, tanh c), nothing else): the aux weight,
    an averaged M, a clipped target, a discount, or M on the raw state; "" for plain DNI and BPTT."""
    if result["method"] == "bptt":
        return ""
    reads = _m_reads(result)
    return ", ".join(([] if reads == "(h, tanh c)" else [f"M on {reads}"]) + _m_extras(result))


def settings_line(task, results):
    """One line of the settings every run of a table shares."""
    c, seeds = results[0]["config"], sorted({r["seed"] for r in results})
    seeds = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} (mean (min–max))"
    clips = {r["config"].get("clip") or 0 for r in results}
    clip = (", gradient clipping differs between runs" if len(clips) > 1 else
            f", gradient clipped at norm {clips.pop():g}" if clips != {0} else ", no gradient clipping")
    if task == "charlm":
        return (f"{c['hidden']}-unit {c['cell'].upper()}, batch {c['batch_size']}, Adam lr {c['lr']:g} (M: {c['sg_lr']:g})"
                f"{clip}, "
                f"corpus {results[0]['corpus']} (SHA-256 {results[0]['corpus_sha256'][:12]}…, Python "
                f"{results[0]['python']}), {seeds}")
    return (f"{c['bits']}-bit patterns" + (f", R up to {c['max_repeats']}" if c.get("max_repeats") else "")
            + f", {c['hidden']}-unit {c['cell'].upper()}, {results[0]['steps']:,} batches of {c['batch_size']}, "
            f"Adam lr {c['lr']:g} (M: {c['sg_lr']:g}){clip}, {seeds}")


def results_table(task, results):
    """Markdown: largest N solved (Copy tasks) or BPC (charlm) per method and T, mean and range over
    seeds, with the settings the runs share and what each DNI run's M reads (and any discount).
    Runs of one method and T whose M differs (a discount, a clipped target) are rows of their own."""
    groups = {}
    for r in results:
        groups.setdefault((r["method"], r["T"], m_setting(r)), []).append(r)
    lines = [settings_line(task, results), ""]
    if task == "charlm":
        lines += ["| method | T | M | best valid BPC | final valid BPC | test BPC | characters | training s |",
                  "|---|---|---|---|---|---|---|---|"]
        for (m, T, setting), rs in groups.items():
            lines.append(f"| {m} | {T} | {setting} | {spread([best_bpc(r) for r in rs], 3)} | "
                         f"{spread([r['bpc'] for r in rs], 3)} | {spread([r['test_bpc'] for r in rs], 3)} | "
                         f"{rs[0]['chars']:,} | {spread([r['seconds'] for r in rs])} |")
        if any(key[:2] == ("bptt", 40) for key in groups):
            for m, T, setting in [key for key in groups if key[:2] in (("dni", 8), ("dni-aux", 8), ("bptt", 8))]:
                ratios = time_ratios(results, m, T, setting=setting)
                if ratios:
                    shown = ", ".join(f"seed {seed} " + ("never" if v is None else f"{v:.2f}")
                                      for seed, v in ratios.items())
                    variant = m_variant(groups[(m, T, setting)][0])
                    named = f" ({variant})" if variant else ""
                    name = {"dni-aux": "DNI + Aux"}.get(m, m.upper())
                    lines.append(f"\n{name}-{T}{named}: training time to reach BPTT-40's best validation BPC, "
                                 f"over BPTT-40's own time to it: {shown}.")
        return "\n".join(lines) + "\n"
    Ts = sorted({T for _, T, _ in groups})
    lines += ["| method | M | " + " | ".join(f"T={T}" for T in Ts) + " |", "|---|---|" + "---|" * len(Ts)]
    n_seeds = len({r["seed"] for r in results})

    def cell(rs):                    # a (method, T) cell: mean (range), and how many seeds if not all
        if not rs:
            return "not run"
        return spread([r["solved"] for r in rs], 1) + (f" [{len(rs)} of {n_seeds} seeds]" if len(rs) < n_seeds else "")
    for m, setting in dict.fromkeys((m, s) for m, _, s in groups):
        lines.append(f"| {m} | {setting} | " + " | ".join(cell(groups.get((m, T, setting), [])) for T in Ts) + " |")
    return "\n".join(lines) + "\n"


def _has_kind(value, kind):
    """isinstance, except that a bool is no number and an int is a float (JSON writes 2.0 as 2.0, 2 as 2)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


def check_fields(record, fields, where, optional=False):
    """DataFileError at `where` if `record` (a dict) lacks one of `fields` ({key: type}) or holds a value of
    another type; optional: an absent key or a None passes."""
    for key, kind in fields.items():
        value = record.get(key)
        if key not in record and not optional:
            raise DataFileError(f"{where}: '{key}' is missing")
        if not (optional and value is None) and not _has_kind(value, kind):
            raise DataFileError(f"{where}: '{key}' is {value!r:.40}, expected {KIND_NAMES[kind]}")


def check_run(run, where):
    """DataFileError at `where` unless `run` holds what the tables and figures read of a result
    (minidni.experiments.recurrent's keys, each of its type; a known task and method)."""
    if not isinstance(run, dict):
        raise DataFileError(f"{where}: {run!r:.40} is not a run (a JSON object)")
    check_fields(run, RUN_FIELDS, where)
    for key, known in (("task", TASKS), ("method", METHODS)):
        if run[key] not in known:
            raise DataFileError(f"{where}: {key} {run[key]!r} is none of {', '.join(known)}")
    check_fields(run, TASK_FIELDS[run["task"]], where)
    check_fields(run["config"], CONFIG_FIELDS | ({} if run["task"] == "charlm" else COPY_CONFIG_FIELDS),
                 f"{where}, config")
    check_fields(run["config"], OPTIONAL_CONFIG_FIELDS, f"{where}, config", optional=True)
    if run["task"] == "charlm":
        if not run["history"]:
            raise DataFileError(f"{where}: 'history' is empty")
        for i, record in enumerate(run["history"]):
            if not isinstance(record, dict):
                raise DataFileError(f"{where}, history record {i}: {record!r:.40}, expected an object")
            check_fields(record, HISTORY_FIELDS, f"{where}, history record {i}")


def read_json(path):
    """The JSON value in `path`, gzip-compressed or not (told by its first bytes, not its name);
    DataFileError naming the file if it is missing, unreadable, truncated or not JSON."""
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt", encoding="utf-8") if compressed else open(path, encoding="utf-8")) as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise DataFileError(f"{path} is a directory, not a results file") from None
    except (OSError, EOFError, zlib.error) as e:       # EOFError, zlib.error: a truncated or damaged gzip stream
        raise DataFileError(f"{path} cannot be read: {e} (truncated or damaged?)") from None
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path}: not a results file: byte {e.start} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise DataFileError(f"{path}: not valid JSON, truncated or damaged ({e.msg}, line {e.lineno} "
                            f"column {e.colno})") from None


def load_runs(path):
    """The runs saved in `path`, each checked (check_run): a list of results (`rnn TASK --compare
    --json`, figures/rnn_runs.json.gz) or one (`rnn TASK --json`), gzip-compressed or not.

    Raises DataFileError naming the file and what is wrong: missing, unreadable, truncated, not
    JSON, not a run or a list of runs, or a run (by its index) lacking a key the figures read
    or holding a value of another type.
    """
    saved = read_json(path)
    runs = [saved] if isinstance(saved, dict) else saved
    if not isinstance(runs, list):
        raise DataFileError(f"{path}: {saved!r:.40} is neither a run (a JSON object) nor a list of runs")
    if not runs:
        raise DataFileError(f"{path}: an empty list, no runs to draw")
    for i, run in enumerate(runs):
        check_run(run, f"{path}: run {i}")
    return runs
