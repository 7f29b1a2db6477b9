"""A calculator that takes as long as the test says, to try the built-in calculator's time limit
(`CHAT_CALCULATOR_TIMEOUT_SECONDS`): no real expression is slow, since chat/calc.py refuses the big ones
before computing, so the limit is a safety net that only a stand-in can reach.

Importable without Django, like chat/calc.py: it runs in the tool's worker process (chat/offloop.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from chat import calc


def _calculate_after(seconds: float, expression: str) -> str:
    time.sleep(seconds)  # allowed-sleep: the calculation's own running time, in the worker process
    return calc.format_number(calc.evaluate(expression))  # not calc.calculate, which the test replaces with this


def calculation_taking(seconds: float) -> Callable[[str], str]:
    """A stand-in for `chat.calc.calculate` that answers after `seconds` of work in the worker process
    (a partial of a module function, so it pickles to the worker; patch it over `chat.calc.calculate`)."""
    return functools.partial(_calculate_after, seconds)
