"""Traced training steps: what the locking diagrams (paper Figure 1, §2) are drawn from.

    trainer = traced_trainer(TrainConfig(method="dni"), data)
    trace = record_steps(trainer, data)          # minidni.trace.Trace of 2 steps after 10 untraced
    lock_summary(trace)                          # per step: how long module 1 waits to update
"""
import numpy as np

from ..data import batches
from ..options import replace
from .feedforward import TrainConfig, build_trainer

TRACE_LAYERS, TRACE_WARMUP, TRACE_STEPS = 4, 10, 2     # the traced network and the steps drawn


def traced_trainer(config_or_method, data, **changes):
    """The trainer of a TrainConfig (or of a method name, with the options in `changes`) on `data`.

    traced_trainer("dni", data, complete_unlock=True) is the 4-layer digits MLP of §3.2
    with synthetic inputs; its `trace` records every event.
    """
    config = config_or_method
    if isinstance(config, str):
        config = TrainConfig(method=config, layers=TRACE_LAYERS)
    config = replace(config, **changes).check()
    return build_trainer(config, data)


def record_steps(trainer, data, steps=TRACE_STEPS, warmup=TRACE_WARMUP, batch_size=64, seed=0):
    """Train `warmup` steps untraced (first calls allocate), then `steps` traced ones; return the Trace.

    The events keep the trainer's step numbers: warmup + 1 ... warmup + steps.
    """
    rng = np.random.default_rng(seed)
    todo = warmup + steps
    while todo:
        for x, y in batches(data.x_train, data.y_train, batch_size, rng, drop_last=True):
            if todo == steps:
                trainer.trace.clear()
            trainer.step(x, y)
            todo -= 1
            if not todo:
                break
    return trainer.trace


def events_of(trace_or_events, steps=None):
    """The events of a Trace (or any iterable of Events), only those of `steps` if given."""
    events = list(getattr(trace_or_events, "events", trace_or_events))
    if steps is not None:
        steps = set(steps)
        events = [e for e in events if e.step in steps]
    return events


def waiting_intervals(trace_or_events, steps=None):
    """{(module, step): (end of its forward, start of its update)}, in the trace's seconds.

    Between the two the module has produced h but may not change its weights yet: under
    backprop it waits for every later module (update locking); under DNI only for its
    own synthetic gradient and backward pass. A module that did not update in a step
    (DNI with update probability p < 1) has no interval for it.
    """
    forward_end, out = {}, {}
    for e in events_of(trace_or_events, steps):
        if e.kind == "forward":
            forward_end[e.module, e.step] = e.end
        elif e.kind == "update" and (e.module, e.step) in forward_end:
            out[e.module, e.step] = (forward_end[e.module, e.step], e.start)
    return out


def lock_summary(trace):
    """Per step, in ms: the step's length, how long module 1 waits between its forward and
    its update, and whether module 1 had updated before the last module began its forward."""
    out = []
    for step in dict.fromkeys(e.step for e in trace.events):
        events = trace.select(step=step)
        last = max(e.module for e in events)
        wait = waiting_intervals(events).get((0, step))
        first_update = next((e for e in events if e.kind == "update" and e.module == 0), None)
        last_forward = next(e for e in events if e.kind == "forward" and e.module == last)
        out.append({"step": step, "ms": 1e3 * (events[-1].end - events[0].start),
                    "module_1_wait_ms": 1e3 * (wait[1] - wait[0]) if wait else None,
                    "module_1_updated_before_last_forward": bool(first_update and first_update.end <= last_forward.start)})
    return out
