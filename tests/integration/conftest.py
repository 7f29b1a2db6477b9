import asyncio

import pytest

from chat import turns


@pytest.fixture(autouse=True)
async def no_turn_outlives_its_test():
    """Each test ends with no reply still being written, so none writes into the next test's database."""
    yield
    leftover = [turn.task for turn in turns.running_turns() if turn.task is not None]
    for task in leftover:
        task.cancel()
    if leftover:
        await asyncio.wait(leftover, timeout=5)


