"""Fault injection, for the tests only: make one rank fail at one step, in one of three ways.

The `parallel` command takes it from hidden options (--fail-at-step, --fail-rank,
--fail-mode), so the tests can crash, kill or hang a rank of a real job; it is kept out
of Config, which holds what a user chooses.
"""
import os
import time
from dataclasses import dataclass
from typing import Optional

MODES = ("raise", "exit", "hang")


@dataclass
class FaultInjection:
    """Rank `rank` (default: the last) fails at step `at_step`: raises, exits at once as a
    killed rank would, or hangs (`mode`)."""
    at_step: int
    rank: Optional[int] = None
    mode: str = "raise"

    def check(self, step, rank, ranks):
        """Fail here if this is the chosen rank (of `ranks`) at the chosen step."""
        if step != self.at_step or rank != (self.rank if self.rank is not None else ranks - 1):
            return
        if self.mode == "exit":
            os._exit(9)
        if self.mode == "hang":
            while True:
                time.sleep(1)
        raise RuntimeError(f"injected failure at step {step} (--fail-at-step)")
