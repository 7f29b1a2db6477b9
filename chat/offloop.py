"""CPU-bound work off the event loop: a small process pool, killed and replaced when a call overruns.

A worker thread cannot be stopped; a process can. The functions run here must be importable
without Django (see chat/calc.py) and take and return small picklable values.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
WORKERS = 2

_pool: ProcessPoolExecutor | None = None


class Overrun(Exception):
    """The work did not finish within its time limit (its worker was killed) or its worker died."""


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn, not fork: daphne's process has threads (the ORM executor, anyio workers).
        _pool = ProcessPoolExecutor(
            max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent
        )
    return _pool


def _die_with_parent() -> None:
    """In a worker: end when the site's process ends, even by SIGKILL (Linux's PR_SET_PDEATHSIG).

    A worker holds both ends of its call queue's pipe, so it never sees the parent go: orphaned, it
    waited for work forever with its memory (52 of them after a day of test runs that kill servers).
    """
    try:
        import ctypes
        import os
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the line above
            os._exit(0)
    except (OSError, AttributeError):  # not Linux: the shutdown hook still stops the workers
        pass


def _kill(pool: ProcessPoolExecutor) -> None:
    global _pool
    if _pool is pool:
        _pool = None
    # ProcessPoolExecutor has no public way to stop a running call; killing its workers is the only one.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


async def run(fn: Callable[..., T], *args: Any, limit_seconds: float) -> T:
    """Run fn(*args) in a worker process; raise Overrun after limit_seconds (the worker is killed)."""
    pool = _get_pool()
    try:
        future = pool.submit(fn, *args)
    except (BrokenProcessPool, RuntimeError):  # a pool killed by another call a moment ago
        _kill(pool)
        pool = _get_pool()
        future = pool.submit(fn, *args)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), limit_seconds)
    except TimeoutError:
        _kill(pool)
        raise Overrun(f"took longer than {limit_seconds:g} s") from None
    except BrokenProcessPool:
        _kill(pool)
        raise Overrun("its worker process died") from None


def shutdown() -> None:
    """Stop the workers (tests, process exit)."""
    if _pool is not None:
        _kill(_pool)
