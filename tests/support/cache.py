"""Forget what this test process put in the cache, and nothing else.

Django's `cache.clear()` on Redis is FLUSHDB: it wiped the whole Redis database, so under pytest-xdist
one worker's clear erased the other worker's channel-layer groups mid-turn (a reply that never reached
its socket in the scale-out pass). Here only keys under this process's KEY_PREFIX go.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def clear_own_cache() -> None:
    if not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        cache.clear()  # the database or local-memory cache: this process's own
        return
    client = cache._cache.get_client(None, write=True)  # type: ignore[attr-defined]
    prefix = cache.make_key("")  # "<KEY_PREFIX>:<version>:"
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
