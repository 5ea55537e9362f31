"""Reports of the recurrent experiments (paper §3.1): markdown tables, wall-clock ratios, and
what each table says of a DNI run's M. They read the result dicts of minidni.experiments.recurrent
(its docstring gives their keys) and run nothing.

    from minidni.experiments import results_table
    print(results_table("charlm", results))             # a markdown table, with the shared settings
    time_ratios(results, "dni", 8)                       # {seed: DNI-8's time to BPTT-40's best / BPTT-40's}
"""
import numpy as np

from .recurrent import best_bpc


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
