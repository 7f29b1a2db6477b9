"""Channel layers: in-process queues and groups (`memory.py`), and Redis between processes (`redis.py`).

Both keep every socket's queue in the process that holds the socket, with the same capacity, the
same eviction of reply text for frames that cannot be resent, and the same counting of drops.
"""

from chat.layers.memory import InMemoryChannelLayer
from chat.layers.redis import RedisChannelLayer

__all__ = ["InMemoryChannelLayer", "RedisChannelLayer"]
