import asyncio

import pytest
from channels.layers import channel_layers

from chat import tools, turns


@pytest.fixture(autouse=True)
async def no_turn_or_session_outlives_its_test():
    """Each test ends with no reply being written, no MCP session open and no channel layer left.

    A fresh channel layer per test keeps groups and buffered frames from leaking between tests.
    """
    yield
    leftover = [turn.task for turn in turns.running_turns() if turn.task is not None]
    for task in leftover:
        task.cancel()
    if leftover:
        await asyncio.wait(leftover, timeout=5)
    await tools.close_hub()
    for layer in list(channel_layers.backends.values()):
        if hasattr(layer, "close_pools"):
            await layer.close_pools()
    channel_layers.backends.clear()
