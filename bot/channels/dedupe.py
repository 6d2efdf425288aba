"""Remembering which requests a channel already handled, and what it answered.

Gateways retry (WeChat after 5 s, phone gateways on a timeout): a retried request must
be processed once and answered the same way. In Redis when REDIS_URL is set, so that
several Rasa instances behind a load balancer agree; in memory otherwise.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol


class Deduper(Protocol):
    """Remembers which pushes were seen and what was answered to them."""

    async def claim(self, key: str) -> bool:
        """True the first time a key is seen (within the TTL), False for a retry."""
        ...

    async def remember_reply(self, key: str, reply: str) -> None:
        """Keep the answer given, for a retry whose first reply got lost."""
        ...

    async def reply_for(self, key: str) -> str | None:
        """The answer given to this push, if any."""
        ...


class MemoryDeduper:
    """Bounded in-process dedupe (one Rasa instance)."""

    def __init__(self, ttl_seconds: float = 120, max_keys: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._replies: dict[str, str] = {}

    def _expire(self, now: float) -> None:
        while self._seen and (
            len(self._seen) > self._max or next(iter(self._seen.values())) < now - self._ttl
        ):
            key, _ = self._seen.popitem(last=False)
            self._replies.pop(key, None)

    async def claim(self, key: str) -> bool:
        now = time.monotonic()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    async def remember_reply(self, key: str, reply: str) -> None:
        if key in self._seen:
            self._replies[key] = reply

    async def reply_for(self, key: str) -> str | None:
        return self._replies.get(key)


class RedisDeduper:
    """Dedupe shared by every Rasa instance: SET NX with a TTL."""

    def __init__(self, url: str, *, ttl_seconds: int = 120, prefix: str = "desk:channel") -> None:
        import redis.asyncio as redis_asyncio

        self._redis = redis_asyncio.Redis.from_url(url)
        self._ttl = ttl_seconds
        self._prefix = prefix

    async def claim(self, key: str) -> bool:
        return bool(await self._redis.set(f"{self._prefix}:seen:{key}", "1", nx=True, ex=self._ttl))

    async def remember_reply(self, key: str, reply: str) -> None:
        await self._redis.set(f"{self._prefix}:reply:{key}", reply, ex=self._ttl)

    async def reply_for(self, key: str) -> str | None:
        value = await self._redis.get(f"{self._prefix}:reply:{key}")
        return value.decode() if isinstance(value, bytes) else value
