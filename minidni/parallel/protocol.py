"""Messages between neighbouring stages, and a clock that every rank reads alike.

Rank k talks only to rank k-1 (upstream) and rank k+1 (downstream), on two MPI tags.
MPI delivers messages with the same source, tag and communicator in the order they were
sent, so each stream below is a FIFO:

    DOWN  k-1 -> k    ("data", step, h, y)       h_k = f_k(h_{k-1}) for a training step, and the labels
                      ("eval", epoch, step, h)   the test set's activation (eval mode)
                      ("stop",)                  no more work: pass it on, drain, finish
    UP    k -> k-1    ("grad", step, d)          for h_k: the true gradient delta_k (locked), or
                                                 M_{k+1}'s bootstrapped target for g_hat_k (DNI)

Each message is a small fixed header (an int64 array: its kind, its integers, and the
dtype and shape of each array) followed by its arrays, sent as raw buffers (`Isend`,
`Recv`): nothing on the data path is pickled, so a peer can send numbers and never code,
and no array is copied into a pickle. Sends are nonblocking. Receives poll: a rank that
has nothing to do sleeps for a tenth of a millisecond between probes instead of spinning
inside MPI, which leaves its core to the ranks that have work when the machine is
oversubscribed. Arrays travel as host (NumPy) arrays and are moved to the backend on
arrival. With a receive timeout, a neighbour silent for that long ends the job with a
message naming it; so does a neighbour whose process has gone (MPI then fails the transfer).
"""
import math
import time
from contextlib import contextmanager

import numpy as np

from ..backend import to_device, to_numpy
from ..trace import Event
from .mpi import mpi_error

DOWN, UP, CLOCK, PING = 1, 2, 3, 4
POLL_SECONDS = 1e-4


KINDS = ("data", "eval", "stop", "grad")
DTYPES = tuple(np.dtype(d) for d in ("float32", "float64", "int64", "int32"))
MAX_INTS, MAX_ARRAYS, MAX_NDIM = 2, 2, 4
HEADER = 3 + MAX_INTS + MAX_ARRAYS * (2 + MAX_NDIM)      # kind, #ints, #arrays, ints, (dtype, ndim, shape) per array


class RankSilent(RuntimeError):
    """A neighbour sent nothing for longer than the receive timeout, or its process has gone."""


@contextmanager
def talking_to(peer):
    """Turn an MPI error in a transfer with rank `peer` into a RankSilent naming it: MPI fails a
    transfer when the process at the other end has gone (killed, crashed, exited)."""
    try:
        yield
    except Exception as e:
        if mpi_error(e) is None:
            raise
        raise RankSilent(f"rank {peer} has gone: its process ended mid-run (killed, crashed or exited), "
                         f"and MPI failed the transfer with it ({mpi_error(e)})") from None


def encode(msg):
    """(header, host arrays) of a message ("kind", int, ..., array, ...)."""
    ints = [int(v) for v in msg[1:] if isinstance(v, (int, np.integer))]
    arrays = [np.ascontiguousarray(to_numpy(v)) for v in msg[1:] if not isinstance(v, (int, np.integer))]
    header = np.zeros(HEADER, np.int64)
    header[:3] = KINDS.index(msg[0]), len(ints), len(arrays)
    header[3:3 + len(ints)] = ints
    for i, a in enumerate(arrays):
        at = 3 + MAX_INTS + i * (2 + MAX_NDIM)
        header[at:at + 2 + a.ndim] = [DTYPES.index(a.dtype), a.ndim, *a.shape]
    return header, arrays


def decode(header):
    """(kind, ints, [(dtype, shape), ...]) from a header."""
    kind, n_ints, n_arrays = (int(v) for v in header[:3])
    specs = []
    for i in range(n_arrays):
        at = 3 + MAX_INTS + i * (2 + MAX_NDIM)
        dtype, ndim = DTYPES[int(header[at])], int(header[at + 1])
        specs.append((dtype, tuple(int(v) for v in header[at + 2:at + 2 + ndim])))
    return KINDS[kind], [int(v) for v in header[3:3 + n_ints]], specs


def send_message(comm, msg, dest, tag):
    """Start sending `msg` to `dest`; returns [(request, buffer)]: keep each buffer until its request completes."""
    header, arrays = encode(msg)
    return [(comm.Isend(buf, dest=dest, tag=tag), buf) for buf in (header, *arrays)]


def recv_message(comm, source, tag):
    """Receive one message from `source` (its header, then its arrays, in the order they were sent)."""
    header = np.empty(HEADER, np.int64)
    comm.Recv(header, source=source, tag=tag)
    kind, ints, specs = decode(header)
    arrays = []
    for dtype, shape in specs:
        arrays.append(np.empty(shape, dtype))
        comm.Recv(arrays[-1], source=source, tag=tag)
    return (kind, *ints, *(to_device(a) for a in arrays))


class Link:
    """Rank k's two neighbours: send_down/recv_down to and from k-1, k+1; send_up/poll_up/recv_up back.

    Time spent blocked in a receive is recorded in `trace` as a "wait" event of `module`.
    """

    def __init__(self, comm, trace, module, timeout=None):
        self.comm, self.trace, self.module, self.timeout = comm, trace, module, timeout
        self.prev = comm.rank - 1 if comm.rank > 0 else None
        self.next = comm.rank + 1 if comm.rank < comm.size - 1 else None
        self.sending = []                       # (request, buffer) of sends not yet known to be complete
        self.wait_seconds = 0.0

    def send_down(self, msg):
        self._send(msg, self.next, DOWN)

    def send_up(self, msg):
        self._send(msg, self.prev, UP)

    def _send(self, msg, dest, tag):
        with talking_to(dest):
            self.sending += send_message(self.comm, msg, dest, tag)
            self.sending = [(r, b) for r, b in self.sending if not r.Test()]     # forget the finished ones

    def poll_up(self):
        """The next UP message if one has arrived, else None (never blocks)."""
        with talking_to(self.next):
            if self.comm.Iprobe(source=self.next, tag=UP):
                return recv_message(self.comm, self.next, UP)
        return None

    def recv_up(self, step):
        """Block until the next UP message arrives (the gradient lock, or a throttled rank)."""
        return self._recv(self.next, UP, step)

    def recv_down(self, step, idle=None):
        """Block until the next DOWN message arrives; meanwhile call idle() (True if it did work)."""
        return self._recv(self.prev, DOWN, step, idle)

    def _recv(self, source, tag, step, idle=None):
        waiting_since, started = None, time.perf_counter()
        with talking_to(source):
            while not self.comm.Iprobe(source=source, tag=tag):
                if self.timeout is not None and time.perf_counter() - started > self.timeout:
                    raise RankSilent(f"no message from rank {source} for {self.timeout:g} s (--recv-timeout): "
                                     f"rank {source} has stopped or hung")
                if idle is not None and idle():
                    waiting_since = self._record_wait(waiting_since, step)
                elif waiting_since is None:
                    waiting_since = self.trace.clock()
                else:
                    time.sleep(POLL_SECONDS)
            self._record_wait(waiting_since, step)
            return recv_message(self.comm, source, tag)

    def _record_wait(self, since, step):
        if since is not None:
            end = self.trace.clock()
            self.wait_seconds += end - since
            if self.trace.enabled:
                self.trace.events.append(Event(self.module, "wait", step, since, end))
        return None

    def close(self):
        """Wait until every message this rank sent has been received."""
        for r, _ in self.sending:
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


def _wait(sends):
    for request, _ in sends:
        request.Wait()


def message_seconds(comm, shape, dtype, rounds=10):
    """One-way time of a DOWN-sized message between ranks 0 and 1 (median half round trip).

    The message is an array of `shape` sent the way the stages send theirs (a header,
    then the buffer). Every rank returns the same number; 0.0 for a single rank.
    """
    seconds = 0.0
    if comm.size > 1 and comm.rank < 2:
        a, times = np.zeros(shape, dtype), []
        for _ in range(rounds + 1):
            start = time.perf_counter()
            if comm.rank == 0:
                _wait(send_message(comm, ("data", 0, a), 1, PING))
                recv_message(comm, 1, PING)
            else:
                recv_message(comm, 0, PING)
                _wait(send_message(comm, ("data", 0, a), 0, PING))
            times.append((time.perf_counter() - start) / 2)
        seconds = float(np.median(times[1:]))                # the first round pays for connection set-up
    return comm.bcast(seconds, root=0)
