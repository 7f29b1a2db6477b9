import asyncio

import pytest

from chat import tools, turns


@pytest.fixture(autouse=True)
async def no_turn_or_session_outlives_its_test():
    """Each test ends with no reply being written and no MCP session open, so none leaks into the next."""
    yield
    leftover = [turn.task for turn in turns.running_turns() if turn.task is not None]
    for task in leftover:
        task.cancel()
    if leftover:
        await asyncio.wait(leftover, timeout=5)
    await tools.close_hub()
