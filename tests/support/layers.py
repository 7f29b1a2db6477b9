"""What a channel layer holds, read the same way from the in-memory layer and from Redis."""

from __future__ import annotations

from typing import Any

from channels.layers import get_channel_layer


async def group_members(group: str, layer: Any = None) -> set[str]:
    """The channels in a group now: the in-memory layer's dict, or channels_redis's sorted set in Redis."""
    layer = layer or get_channel_layer()
    if hasattr(layer, "groups"):
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    members = await connection.zrange(layer._group_key(group), 0, -1)
    return {member.decode() if isinstance(member, bytes) else member for member in members}


def channel_dropped(channel: str, layer: Any = None) -> bool:
    """Whether the layer forgot the channel's queue: the in-memory layer drops it; Redis lets it expire (True)."""
    layer = layer or get_channel_layer()
    return channel not in getattr(layer, "channels", {})
