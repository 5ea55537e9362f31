"""Streams of digit images for the two-timescale system (minidni.train.multinet).

Each of N streams shows one image a step, drawn at random from a pool of labelled
images. Two targets, on two clocks:

    every step t          the class of the digit shown at t               (network A's task)
    every K steps (tick)  how many odd digits were shown in the last      (network B's task)
                          span x K steps, 0 ... span K (early ticks: in the steps so far)

The second needs history: no single image, and no single window of K steps, answers it.
"""
import numpy as np

from ..backend import get_dtype, to_device


class DigitStreams:
    """Batches of (x, y_step, y_tick) from a pool of images x_pool: (P, D), labels y_pool: (P,).

    batch(n, rng) -> x: (J K, n, D) on the backend, y_step: (J K, n), y_tick: (J, n) int64.
    Every batch starts new streams (the networks start from a zero state).
    """

    def __init__(self, x_pool, y_pool, K=4, ticks=6, span=3):
        if min(K, ticks, span) < 1:
            raise ValueError(f"K, ticks and span must be at least 1, got {K}, {ticks} and {span}")
        self.x_pool, self.y_pool, self.K, self.ticks = np.asarray(x_pool), np.asarray(y_pool), K, ticks
        self.steps, self.window = K * ticks, span * K
        self.n_counts = self.window + 1                 # B's classes: 0 ... span K odd digits

    def batch(self, n, rng):
        """n new streams of J K steps, images drawn with `rng`: x: (J K, n, D) on the backend in the default
        dtype, y_step: (J K, n) the digits shown, y_tick: (J, n) int64, the odd digits of the last span K steps."""
        idx = rng.integers(0, len(self.y_pool), (self.steps, n))
        y_step = self.y_pool[idx]
        odd = (y_step % 2).cumsum(axis=0)                               # odd digits up to and including t
        ends = np.arange(self.K - 1, self.steps, self.K)                # the steps at which B ticks
        before = np.where(ends[:, None] >= self.window, odd[np.maximum(ends - self.window, 0)], 0)
        y_tick = odd[ends] - before                                     # odd digits in (t - span K, t]
        return to_device(self.x_pool[idx], get_dtype()), to_device(y_step), to_device(y_tick.astype(np.int64))
