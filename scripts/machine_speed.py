"""How fast this machine runs plain Python, printed beside `make test`'s suite times.

The suites' time targets (docs/testing.md) are for a 2-core machine, but 2-core machines differ: the same
commit's `pytest tests` took 63-66 s on one and 124 s on the next. One fixed CPU-bound workload, timed
beside the suites, lets two runs' times be compared. It is a snapshot: on a shared virtual machine it varied
from 0.38 s to 0.69 s within minutes, and the suites' times with it.
"""

from __future__ import annotations

import os
import time


def python_loop_seconds(iterations: int = 10**7) -> float:
    """The best of three runs of a pure-Python addition loop (10**7 additions)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for number in range(iterations):
            total += number
        best = min(best, time.perf_counter() - started)
    return best


if __name__ == "__main__":
    print(f"  machine    {os.cpu_count()} cores, 10^7 Python additions in {python_loop_seconds():.2f} s")
