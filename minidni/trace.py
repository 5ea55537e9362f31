"""Execution traces: what ran, for which module, in what order, and when.

Every trainer records its work as events (module, kind, step, start, end), so the
locking diagrams of the tutorials are drawn from what really ran, not from a cartoon.
Kinds: "forward", "backward", "update", "sg_predict", "sg_update" (and "input_predict",
"input_update" for complete unlock). Recording costs about a microsecond per event.

On the CuPy backend, GPU work is queued asynchronously: call
`trace = Trace(sync=backend.synchronize)` to make each event's end time real.
"""
import time
from collections import deque, namedtuple

Event = namedtuple("Event", "module kind step start end")


class _Span:
    __slots__ = ("trace", "module", "kind", "step", "start")

    def __init__(self, trace, module, kind, step):
        self.trace, self.module, self.kind, self.step = trace, module, kind, step

    def __enter__(self):
        self.start = self.trace.clock()

    def __exit__(self, *exc):
        t = self.trace
        if t.sync is not None:
            t.sync()
        t.events.append(Event(self.module, self.kind, self.step, self.start, t.clock()))


class _NoSpan:
    def __enter__(self):
        pass

    def __exit__(self, *exc):
        pass


_NO_SPAN = _NoSpan()


class Trace:
    """A list of Events. `with trace.event(module, kind, step): ...` records one.

    `enabled=False` records nothing; `clock` is any function returning seconds
    (the MPI trainer passes a clock shared across ranks). Only the newest `limit`
    events are kept, so a trace left on through a long run stays small.
    """

    def __init__(self, enabled=True, clock=time.perf_counter, sync=None, limit=100_000):
        self.enabled, self.clock, self.sync = enabled, clock, sync
        self.events = deque(maxlen=limit)

    def event(self, module, kind, step):
        return _Span(self, module, kind, step) if self.enabled else _NO_SPAN

    def clear(self):
        self.events.clear()

    def select(self, kind=None, module=None, step=None):
        """The events matching every given field, in the order they ran."""
        return [e for e in self.events
                if (kind is None or e.kind == kind) and (module is None or e.module == module)
                and (step is None or e.step == step)]

    def __len__(self):
        return len(self.events)

    def to_dicts(self, t0=None):
        """Events as JSON-ready dicts, times relative to the first event (or `t0`)."""
        t0 = self.events[0].start if t0 is None and self.events else (t0 or 0.0)
        return [dict(e._asdict(), start=e.start - t0, end=e.end - t0) for e in self.events]
