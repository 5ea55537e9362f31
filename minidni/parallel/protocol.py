"""Messages between neighbouring stages, and a clock that every rank reads alike.

Rank k talks only to rank k-1 (upstream) and rank k+1 (downstream), on two MPI tags.
MPI delivers messages with the same source, tag and communicator in the order they were
sent, so each stream below is a FIFO:

    DOWN  k-1 -> k    ("data", step, h, y)       h_{k-1} for a training step, and the labels
                      ("eval", epoch, step, h)   the test set's activation (eval mode)
                      ("stop",)                  no more work: pass it on, drain, finish
    UP    k -> k-1    ("grad", step, d)          dL/dh_{k-1}: the true gradient (locked), or
                                                 the bootstrapped target of M_{k-1} (DNI)

Sends are nonblocking (`isend`). Receives poll: a rank that has nothing to do sleeps for a
tenth of a millisecond between probes instead of spinning inside MPI, which leaves its
core to the ranks that have work when the machine is oversubscribed. Arrays travel as
host (NumPy) arrays and are moved to the backend on arrival.
"""
import math
import time

import numpy as np

from ..backend import to_device, to_numpy
from ..trace import Event

DOWN, UP, CLOCK, PING = 1, 2, 3, 4
POLL_SECONDS = 1e-4


def _host(msg):
    return tuple(to_numpy(a) if hasattr(a, "shape") else a for a in msg)


def _device(msg):
    return tuple(to_device(a) if isinstance(a, np.ndarray) else a for a in msg)


class Link:
    """Rank k's two neighbours: send_down/recv_down to and from k-1, k+1; send_up/poll_up/recv_up back.

    Time spent blocked in a receive is recorded in `trace` as a "wait" event of `module`.
    """

    def __init__(self, comm, trace, module):
        self.comm, self.trace, self.module = comm, trace, module
        self.prev = comm.rank - 1 if comm.rank > 0 else None
        self.next = comm.rank + 1 if comm.rank < comm.size - 1 else None
        self.sending = []                       # requests of sends not yet known to be complete
        self.wait_seconds = 0.0

    def send_down(self, msg):
        self._send(msg, self.next, DOWN)

    def send_up(self, msg):
        self._send(msg, self.prev, UP)

    def _send(self, msg, dest, tag):
        self.sending.append(self.comm.isend(_host(msg), dest=dest, tag=tag))
        self.sending = [r for r in self.sending if not r.Test()]     # forget the finished ones

    def poll_up(self):
        """The next UP message if one has arrived, else None (never blocks)."""
        if self.comm.iprobe(source=self.next, tag=UP):
            return _device(self.comm.recv(source=self.next, tag=UP))
        return None

    def recv_up(self, step):
        """Block until the next UP message arrives (the gradient lock, or a throttled rank)."""
        return self._recv(self.next, UP, step)

    def recv_down(self, step, idle=None):
        """Block until the next DOWN message arrives; meanwhile call idle() (True if it did work)."""
        return self._recv(self.prev, DOWN, step, idle)

    def _recv(self, source, tag, step, idle=None):
        waiting_since = None
        while not self.comm.iprobe(source=source, tag=tag):
            if idle is not None and idle():
                waiting_since = self._record_wait(waiting_since, step)
            elif waiting_since is None:
                waiting_since = self.trace.clock()
            else:
                time.sleep(POLL_SECONDS)
        self._record_wait(waiting_since, step)
        return _device(self.comm.recv(source=source, tag=tag))

    def _record_wait(self, since, step):
        if since is not None:
            end = self.trace.clock()
            self.wait_seconds += end - since
            if self.trace.enabled:
                self.trace.events.append(Event(self.module, "wait", step, since, end))
        return None

    def close(self):
        """Wait until every message this rank sent has been received."""
        for r in self.sending:
            r.Wait()
        self.sending = []


class SharedClock:
    """time.perf_counter() moved onto rank 0's time line, so traces from all ranks line up.

    Cristian's algorithm: rank r asks rank 0 for its time `rounds` times; the answer
    arrived half a round trip after it was read, so offset = t_0 - (t_sent + t_received) / 2,
    taken from the fastest round trip. `error` bounds the offset's error (half that
    round trip). On one machine the offset is ~0 (every process reads the same monotonic
    clock); across machines it removes the difference between their clocks.
    """

    def __init__(self, comm, rounds=20):
        self.offset, self.error = 0.0, 0.0
        for r in range(1, comm.size):
            if comm.rank == 0:
                for _ in range(rounds):
                    comm.recv(source=r, tag=CLOCK)
                    comm.send(time.perf_counter(), dest=r, tag=CLOCK)
            elif comm.rank == r:
                best = math.inf
                for _ in range(rounds):
                    sent = time.perf_counter()
                    comm.send(None, dest=0, tag=CLOCK)
                    remote = comm.recv(source=0, tag=CLOCK)
                    received = time.perf_counter()
                    if received - sent < best:
                        best, self.offset = received - sent, remote - (sent + received) / 2
                self.error = best / 2

    def __call__(self):
        return time.perf_counter() + self.offset


def message_seconds(comm, shape, dtype, rounds=10):
    """One-way time of a DOWN-sized message between ranks 0 and 1 (median half round trip).

    The message is an array of `shape` sent the way the stages send theirs (pickled
    isend/recv). Every rank returns the same number; 0.0 for a single rank.
    """
    seconds = 0.0
    if comm.size > 1 and comm.rank < 2:
        a, times = np.zeros(shape, dtype), []
        for _ in range(rounds + 1):
            start = time.perf_counter()
            if comm.rank == 0:
                comm.isend(("data", 0, a), dest=1, tag=PING).Wait()
                comm.recv(source=1, tag=PING)
            else:
                comm.recv(source=0, tag=PING)
                comm.isend(("data", 0, a), dest=0, tag=PING).Wait()
            times.append((time.perf_counter() - start) / 2)
        seconds = float(np.median(times[1:]))                # the first round pays for connection set-up
    return comm.bcast(seconds, root=0)
