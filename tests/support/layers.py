"""What a channel layer holds: this process's groups and queues (both layers keep them in the process),
and, under Redis, which processes Redis knows to have members in a group."""

from __future__ import annotations

from typing import Any

from channels.layers import get_channel_layer
from redis import asyncio as aioredis


async def group_members(group: str, layer: Any = None) -> set[str]:
    """This process's channels in a group now."""
    layer = layer or get_channel_layer()
    return set(layer.groups.get(group, {}))


def channel_dropped(channel: str, layer: Any = None) -> bool:
    """Whether the layer forgot the channel's queue (it holds nothing more for it)."""
    layer = layer or get_channel_layer()
    return channel not in layer.channels


async def processes_in_group(layer: Any, group: str) -> dict[str, float]:
    """The Redis layer's record of the processes with members in a group, each with when its membership expires."""
    client = aioredis.Redis.from_url(layer.url)
    try:
        return {process.decode(): score for process, score in await client.zrange(layer.group_key(group), 0, -1, withscores=True)}
    finally:
        await client.aclose()
