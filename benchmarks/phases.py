"""Where a training step's time goes: each layer's forward and backward, and each phase.

    python benchmarks/step_time.py --profile        # the MLP, DNI and conv steps
    python benchmarks/lstm_step.py --profile        # the LSTM window

    with LayerClock(model) as clock:        # times every leaf layer's forward and backward
        for _ in range(20):
            trainer.step(x, y)
    print(clock.report(steps=20))

LayerClock wraps the layers' methods on the instances (the classes are untouched) and
puts them back on exit; each call costs two clock reads and, on a GPU, two syncs.
`phase_seconds(trace)` sums a trainer's trace by kind: forward, backward, update,
sg_predict, sg_update. A layer's time includes its matrix products; the step's time
outside them is the step minus the GEMM chain of step_time.py.
"""
import time
from collections import defaultdict

from minidni import backend


def leaves(module, prefix=""):
    """(name, layer) of every leaf layer under `module`, named by its path: "0.1" is layer 1 of module 0,
    "core" the LSTM of a SequenceModel."""
    children = dict(enumerate(getattr(module, "layers", None) or [])) or getattr(module, "parts", None)
    if not children:                                     # a Sequential's layers, a Composite's named parts
        yield prefix or "0", module
        return
    for key, child in children.items():
        yield from leaves(child, f"{prefix}.{key}" if prefix else str(key))


class LayerClock:
    """Seconds spent in each leaf layer's forward and backward while the block runs.

    models: the network, then (optionally) more models, e.g. a DNI trainer's synthetic-gradient
    models, whose layers are labelled M1.<path>, M2.<path>, ...
    """

    def __init__(self, *models, sync=None):
        self.models, self.sync = models, sync or backend.synchronize
        self.seconds = defaultdict(float)                # (layer name, "forward" | "backward") -> s

    def __enter__(self):
        self.wrapped = []
        for k, model in enumerate(self.models):
            for name, layer in leaves(model):
                label = f"{f'M{k}.' if k else ''}{name} {type(layer).__name__}"     # M1, M2: the models after model 0
                for method in ("forward", "backward"):
                    setattr(layer, method, self._timed(label, method, getattr(layer, method)))
                    self.wrapped.append((layer, method))
        return self

    def __exit__(self, *exc):
        for layer, method in self.wrapped:
            del layer.__dict__[method]                   # the class's method shows through again

    def _timed(self, label, method, fn):
        def run(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self.sync()
            self.seconds[label, method] += time.perf_counter() - start
            return out
        return run

    def report(self, steps):
        """Lines: each layer's forward and backward in ms per step, then their total."""
        labels = list(dict.fromkeys(label for label, _ in self.seconds))
        lines = [f"    {'layer':24s} {'forward':>9s} {'backward':>9s}  (ms per step)"]
        for label in labels:
            f, b = (1e3 * self.seconds[label, m] / steps for m in ("forward", "backward"))
            lines.append(f"    {label:24s} {f:9.3f} {b:9.3f}")
        total = 1e3 * sum(self.seconds.values()) / steps
        lines.append(f"    {'all layers':24s} {total:19.3f}")
        return "\n".join(lines)


def phase_seconds(trace):
    """{kind: seconds} summed over a trainer's trace events."""
    out = defaultdict(float)
    for e in trace.events:
        out[e.kind] += e.end - e.start
    return dict(out)


def profile(trainer, step, steps, models=None):
    """Run `step` `steps` times with the trace and a LayerClock on; returns (text, numbers in ms/step)."""
    models = models or [trainer.model]
    for _ in range(3):                                    # warm up untimed
        step()
    trainer.trace.enabled = True
    trainer.trace.clear()
    backend.synchronize()
    start = time.perf_counter()
    with LayerClock(*models) as clock:
        for _ in range(steps):
            step()
    backend.synchronize()
    wall = 1e3 * (time.perf_counter() - start) / steps
    trainer.trace.enabled = False
    phases = {k: 1e3 * v / steps for k, v in phase_seconds(trainer.trace).items()}
    layers = {f"{label} {m}": 1e3 * v / steps for (label, m), v in clock.seconds.items()}
    text = "\n".join([f"    step (profiled, with the clocks' own cost): {wall:.3f} ms",
                      "    phases (ms per step): " + ", ".join(f"{k} {v:.3f}" for k, v in phases.items()),
                      clock.report(steps)])
    return text, {"step_ms": wall, "phases_ms": phases, "layers_ms": layers}
