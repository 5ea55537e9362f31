"""A discrete-event simulator of a K-stage pipeline: locked backprop against decoupled (DNI).

It predicts what `python -m minidni parallel` would do on K machines from what one run
measured: each stage's compute time per step (forward, backward, update, and for DNI the
synthetic-gradient predict and fit) and the one-way time of a message.

Each rank is a Python generator that runs the same program as minidni.parallel.runner
and yields what it does next:

    ("compute", seconds)       busy for that long
    ("send", rank, channel)    a message that arrives `message` seconds later (nonblocking)
    ("recv", rank, channel)    block until the next message on that channel has arrived
    ("poll", rank, channel)    the next message if it has arrived, else None (never blocks)

The engine keeps a heap of (time, rank) wake-ups and FIFO mailboxes per channel, and
steps each rank's generator when it wakes. It assumes one core per rank and that a
message in flight costs neither rank any compute (true of MPI between machines; on one
machine the copy is part of `message`).

    stages = [StageTimes(forward=.05, backward=.09, update=.03, sg_predict=.006, sg_update=.02)] * 2
    simulate(stages, message=2e-4, method="dni")["step_seconds"]
"""
import heapq
import itertools
from collections import deque
from dataclasses import dataclass

DOWN, UP = "down", "up"


@dataclass
class StageTimes:
    """Seconds per training step that one stage spends in each kind of work."""
    forward: float
    backward: float
    update: float
    sg_predict: float = 0.0
    sg_update: float = 0.0

    @classmethod
    def from_work(cls, work):
        """From a result's per_stage[k]["work"] dict (minidni.parallel)."""
        return cls(**{k: work.get(k, 0.0) for k in ("forward", "backward", "update", "sg_predict", "sg_update")})

    def total(self, decoupled):
        sg = self.sg_predict + self.sg_update if decoupled else 0.0
        return self.forward + self.backward + self.update + sg


def _locked(k, K, s, steps, ends):
    """Model-parallel backprop on rank k: wait for the activation, then for the gradient."""
    for t in range(1, steps + 1):
        if k > 0:
            yield ("recv", k - 1, DOWN)
        yield ("compute", s.forward)
        if k < K - 1:
            yield ("send", k + 1, DOWN)
            yield ("recv", k + 1, UP)                   # the backward lock
        yield ("compute", s.backward)
        if k > 0:
            yield ("send", k - 1, UP)
        yield ("compute", s.update)
        ends.append((yield ("now",)))


def _decoupled(k, K, s, steps, ends, max_lag):
    """DNI on rank k: predict the gradient, update at once, fit M to targets as they come back."""
    owed = 0                                            # targets rank k+1 has yet to send back
    for t in range(1, steps + 1):
        if k > 0:
            yield ("recv", k - 1, DOWN)
        yield ("compute", s.forward)
        if k < K - 1:
            yield ("send", k + 1, DOWN)
            yield ("compute", s.sg_predict)
            owed += 1
        yield ("compute", s.backward)
        if k > 0:
            yield ("send", k - 1, UP)
        yield ("compute", s.update)
        if k < K - 1:
            while owed and (yield ("poll", k + 1, UP)):
                owed -= 1
                yield ("compute", s.sg_update)
            while owed > max_lag:                       # throttle: wait for a target
                yield ("recv", k + 1, UP)
                owed -= 1
                yield ("compute", s.sg_update)
        ends.append((yield ("now",)))


def simulate(stages, message, method, steps=None, max_lag=3, warmup=None):
    """Run K = len(stages) ranks for `steps` steps; return the steady state's seconds per step.

    stages: a StageTimes per stage. message: one-way seconds per message. method: "locked"
    or "dni" (decoupled; "cdni" is the same). The pace is measured on the last rank after
    `warmup` steps: a long pipeline needs many steps to settle (early on nobody fits M yet,
    so the first ranks run ahead until the lag bound holds them), hence the defaults
    steps = max(200, 16 K), warmup = steps / 2. Returns {"step_seconds",
    "throughput_steps" (steps per second), "ends": each rank's list of step end times}.
    """
    K = len(stages)
    steps = steps or max(200, 16 * K)
    warmup = steps // 2 if warmup is None else warmup
    ends = [[] for _ in range(K)]
    programs = [(_locked(k, K, s, steps, ends[k]) if method == "locked" else
                 _decoupled(k, K, s, steps, ends[k], max_lag)) for k, s in enumerate(stages)]
    mailbox = {}                                         # (receiver, sender, channel) -> deque of arrival times
    blocked = {}                                         # receiver -> the mailbox key it waits on
    heap, order = [(0.0, 0, k, None) for k in range(K)], itertools.count(K)
    heapq.heapify(heap)
    while heap:
        now, _, k, value = heapq.heappop(heap)       # events come off in time order
        while True:                                      # step rank k until it computes, blocks or ends
            try:
                cmd = programs[k].send(value)
            except StopIteration:
                break
            value = None
            if cmd[0] == "now":
                value = now
            elif cmd[0] == "compute":
                heapq.heappush(heap, (now + cmd[1], next(order), k, None))
                break
            elif cmd[0] == "send":
                key = (cmd[1], k, cmd[2])
                if blocked.get(cmd[1]) == key:           # the receiver waits for exactly this: wake it on arrival
                    del blocked[cmd[1]]
                    heapq.heappush(heap, (now + message, next(order), cmd[1], True))
                else:
                    mailbox.setdefault(key, deque()).append(now + message)
            else:                                        # recv / poll
                key = (k, cmd[1], cmd[2])
                box = mailbox.get(key)
                if box and box[0] <= now:
                    box.popleft()
                    value = True
                elif cmd[0] == "poll":
                    value = False
                elif box:                                # on its way: wake when it lands
                    heapq.heappush(heap, (box.popleft(), next(order), k, True))
                    break
                else:
                    blocked[k] = key
                    break
    last = ends[-1]
    warmup = min(warmup, len(last) - 2)
    step_seconds = (last[-1] - last[warmup]) / (len(last) - 1 - warmup)
    return {"step_seconds": step_seconds, "throughput_steps": 1.0 / step_seconds, "ends": ends}


def deeper(first, last):
    """Weak scaling: K ranks hold a K-stage network, every stage but the last like `first`."""
    return lambda K: [first] * (K - 1) + [last]


def divided(per_module, sg, modules):
    """Strong scaling: one network of `modules` equal modules cut into K stages of modules // K.

    per_module: StageTimes of one module (no SG); sg: StageTimes holding the SG model's
    sg_predict / sg_update, paid by every stage but the last whatever its size.
    """
    def stages(K):
        m = modules // K
        body = StageTimes(m * per_module.forward, m * per_module.backward, m * per_module.update)
        with_sg = StageTimes(body.forward, body.backward, body.update, sg.sg_predict, sg.sg_update)
        return [with_sg] * (K - 1) + [body]
    return stages


def scaling(stages_for, Ks, message, method, samples_per_step, **options):
    """Predicted samples per second for each K in Ks; stages_for(K) gives the K stages' times."""
    return [samples_per_step * simulate(stages_for(K), message, method, **options)["throughput_steps"] for K in Ks]
