"""What a parallel run reports: per-stage times, throughput, the result dict and its trace.

Every rank times its work with a Trace; rank 0 gathers them. The numbers:

    work[kind]      mean seconds per step a stage spent in each kind of work (WORK)
    wait_per_step   mean seconds per step it sat blocked on a neighbour's message
    throughput      samples per second through the last stage, after the warm-up steps
"""
WORK = ("forward", "sg_predict", "backward", "update", "sg_update")   # what a stage computes per step


def stage_times(events, module, after):
    """Mean seconds per step that `module` spent in each kind of work, and waiting, in steps > `after`.

    events: Trace events (module, kind, step, start, end). A step counts once its forward ran.
    """
    kinds = WORK + ("wait",)
    totals, steps = dict.fromkeys(kinds, 0.0), set()
    for e in events:
        if e.module == module and e.step > after and e.kind in kinds:
            totals[e.kind] += e.end - e.start
            if e.kind == "forward":
                steps.add(e.step)
    n = max(len(steps), 1)
    per_kind = {k: v / n for k, v in totals.items() if k != "wait"}
    return {"work": per_kind, "work_per_step": sum(per_kind.values()), "wait_per_step": totals["wait"] / n}


def pace(step_ends, warmup, start):
    """(samples per second, seconds per step) through the last stage, between the ends of its
    `warmup`-th and last steps; a run too short for a warm-up is measured from `start`.

    step_ends: [(step, time the step's work ended, samples)], in order.
    """
    if not step_ends:
        return 0.0, 0.0
    if len(step_ends) <= warmup:
        warmup = 0
    since = step_ends[warmup - 1][1] if warmup else start
    seconds = max(step_ends[-1][1] - since, 1e-12)
    return sum(n for _, _, n in step_ends[warmup:]) / seconds, seconds / (len(step_ends) - warmup)


def history_record(epoch, step, seconds, train_loss, test_accuracy):
    """One entry of a result's history: the test error after `step` steps, and the mean training loss since
    the previous entry (None if no step ran since)."""
    return {"epoch": epoch, "step": step, "seconds": seconds, "train_loss": train_loss,
            "test_accuracy": test_accuracy, "test_error": 100 * (1 - test_accuracy)}


def print_record(record):
    """The per-epoch line of a run that is not --quiet."""
    loss = "-" if record["train_loss"] is None else f"{record['train_loss']:.4f}"
    print(f"epoch {record['epoch']:3d}  step {record['step']:5d}  train loss {loss}  "
          f"test error {record['test_error']:.2f}%  ({record['seconds']:.1f}s)", flush=True)


def result_of(config, split, summaries, start, events, **run):
    """The result dict of a run, as rank 0 returns it (plain JSON).

    summaries: per stage, its stage_times (and rank, staleness, ...); the last stage's also
    holds its `step_ends` and `history`, which move to the top level. events: per rank,
    its trace events (module, kind, step, start, end), times on the clock `start` is on.
    run: what differs between the MPI and the one-process run (message_seconds, trained_as, ...).
    """
    last = summaries[-1]
    ends, history = last.pop("step_ends"), last.pop("history")
    rate, step_seconds = pace(ends, config.warmup, start)
    trace = [{"rank": r, "module": e[0], "kind": e[1], "step": e[2], "start": e[3] - start, "end": e[4] - start}
             for r, rank_events in enumerate(events) for e in rank_events]
    return {"method": config.method, "sync": config.sync, "ranks": len(events), "stages": len(split),
            "split": split, "layers": config.layers, "hidden": config.hidden, "batch_size": config.batch_size,
            "seed": config.seed, "max_lag": config.lag, "steps": ends[-1][0] if ends else 0,
            "samples": sum(n for _, _, n in ends), "seconds": ends[-1][1] - start if ends else 0.0,
            "throughput": rate, "step_seconds": step_seconds,
            "test_accuracy": history[-1]["test_accuracy"] if history else None,
            "test_error": history[-1]["test_error"] if history else None,
            "history": history, "per_stage": summaries, **run, "trace": trace}
