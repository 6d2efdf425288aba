"""Short-lived state the channels share: which requests were handled, and what was said.

Gateways retry (WeChat after 5 s, phone gateways on a timeout): a retried request must
be processed once and answered the same way. A caller's pending "is that right?" must be
found by whichever Rasa instance gets the answer. So this state lives in Redis when
REDIS_URL is set (several Rasa instances behind a load balancer agree) and in a bounded
in-process map otherwise (one instance).

**At rest.** What a channel keeps may carry what customers typed or what the desk said to
them (answers kept for retries, notices waiting for a customer, a caller's unconfirmed
transcript). In Redis every value is sealed with the desk's data keys
(``DESK_DATA_KEYS``, the ring of :mod:`bot.tracker_store`, AES-GCM, ``keyid:...``), and
nothing lives longer than the conversations do (``DESK_CONVERSATION_RETENTION_DAYS``): a
lifetime asked for beyond it is cut to it. Claims (``"1"``) carry nothing and stay as
they are. Keys never hold a conversation id, only its :func:`conversation_tag`, which
is how erasure finds every key of a customer's conversations
(``ticketing.conversation_store`` computes the same tag). In memory (no Redis) nothing reaches a
disk and everything is gone with the process.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.tracker_store import ConversationSettings


def conversation_tag(conversation_id: str) -> str:
    """How the channels' keys name a conversation: ``c`` and 24 hex digits of its SHA-256.

    Fixed length, so one conversation's keys are never a prefix of another's, and no key
    shows the id itself (a REST client may choose any sender). ``ticketing.conversations.
    channel_key_tag`` is the same function on the API's side, for erasure.
    """
    return "c" + hashlib.sha256(conversation_id.encode()).hexdigest()[:24]


# A retry comes within seconds (WeChat: three tries 5 s apart); two minutes is ample.
DEFAULT_TTL_SECONDS = 120


class ChannelStore(Protocol):
    """Claims on requests, the replies given to them, and small values with a lifetime."""

    async def claim(self, key: str, *, ttl_seconds: float | None = None) -> bool:
        """True the first time a key is seen (within the TTL), False for a retry."""
        ...

    async def release(self, key: str) -> None:
        """Forget a claim, so that a retry of a request that failed is processed."""
        ...

    async def remember_reply(self, key: str, reply: str) -> None:
        """Keep the answer given, for a retry whose first answer got lost."""
        ...

    async def reply_for(self, key: str) -> str | None:
        """The answer given to this request, if any yet."""
        ...

    async def put(self, key: str, value: str, *, ttl_seconds: float) -> None:
        """Keep a value for a while."""
        ...

    async def take(self, key: str) -> str | None:
        """Return a value and forget it, atomically (one taker wins)."""
        ...

    async def get(self, key: str) -> str | None:
        """A value kept with ``put``, left in place."""
        ...


async def wait_for_reply(
    store: ChannelStore, key: str, *, timeout: float, interval: float = 0.1
) -> str | None:
    """The reply to a claimed request once it is there, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await store.reply_for(key)
        if reply is not None or time.monotonic() >= deadline:
            return reply
        await asyncio.sleep(interval)


class StillAnswering(Exception):
    """A repeat waited for the first answer to its request longer than it may."""


# How long a request is remembered as started (for ``answer_once``'s ``replay``).
STARTED_SECONDS = 3600


async def answer_once(
    store: ChannelStore,
    key: str,
    answer: Callable[[], Awaitable[str]],
    *,
    claim_seconds: float,
    interval: float = 0.2,
    replay: Callable[[], Awaitable[str | None]] | None = None,
) -> str:
    """The answer to a request that may be sent several times, to any instance, made once.

    The first sender claims the key for ``claim_seconds`` and answers; the answer is
    remembered for the store's TTL. A repeat gets the remembered answer, or waits for it
    while the first is being answered. If the instance answering died, its claim lapses
    after ``claim_seconds`` and the repeat answers instead: nothing is lost, and a
    message is answered once (an answer that failed is forgotten, so it may be retried).

    An instance may also die after the turn was done (the conversation saved) but before
    its answer was remembered. ``replay`` is then asked first: the answer the finished
    turn gave (from the conversation), or None when the turn never finished.
    """
    deadline = time.monotonic() + claim_seconds + 5 * interval
    while True:
        earlier = await store.reply_for(key)
        if earlier is not None:
            return earlier
        if await store.claim(key, ttl_seconds=claim_seconds):
            try:
                reply = None
                if replay is not None and await store.get(f"started:{key}") is not None:
                    reply = await replay()
                if reply is None:
                    await store.put(f"started:{key}", "1", ttl_seconds=STARTED_SECONDS)
                    reply = await answer()
            except BaseException:
                await store.release(key)
                raise
            await store.remember_reply(key, reply)
            return reply
        if time.monotonic() >= deadline:
            raise StillAnswering(key)
        await asyncio.sleep(interval)


class MemoryStore:
    """Bounded in-process store with per-key lifetimes (one Rasa instance)."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_keys: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_keys
        # key -> (expires at, value); insertion order is age order for eviction.
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def _live(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            del self._items[key]
            return None
        return item[1]

    def _set(self, key: str, value: str, ttl: float) -> None:
        self._items.pop(key, None)
        self._items[key] = (time.monotonic() + ttl, value)
        now = time.monotonic()
        while self._items:
            oldest_key, (expires, _) = next(iter(self._items.items()))
            if len(self._items) <= self._max and expires > now:
                break
            del self._items[oldest_key]

    async def claim(self, key: str, *, ttl_seconds: float | None = None) -> bool:
        if self._live(f"seen:{key}") is not None:
            return False
        self._set(f"seen:{key}", "1", self._ttl if ttl_seconds is None else ttl_seconds)
        return True

    async def release(self, key: str) -> None:
        self._items.pop(f"seen:{key}", None)

    async def remember_reply(self, key: str, reply: str) -> None:
        self._set(f"reply:{key}", reply, self._ttl)

    async def reply_for(self, key: str) -> str | None:
        return self._live(f"reply:{key}")

    async def put(self, key: str, value: str, *, ttl_seconds: float) -> None:
        self._set(f"data:{key}", value, ttl_seconds)

    async def take(self, key: str) -> str | None:
        value = self._live(f"data:{key}")
        self._items.pop(f"data:{key}", None)
        return value

    async def get(self, key: str) -> str | None:
        return self._live(f"data:{key}")


class RedisStore:
    """The store shared by every Rasa instance: SET NX claims, sealed values with expiry.

    ``sealing`` (default: from the environment, DESK_DATA_KEYS and the conversations'
    retention) seals every value kept and caps every lifetime at the retention; a desk
    with Redis and no data keys does not start.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        sealing: ConversationSettings | None = None,
    ) -> None:
        self._sealing = sealing or ConversationSettings.from_environment()
        # Imported here: redis is only needed when REDIS_URL is set. The client connects
        # lazily, on the event loop of the first request.
        import redis.asyncio as redis_asyncio

        self._redis = redis_asyncio.Redis.from_url(url)
        self._ttl = self._lifetime(ttl_seconds)
        self._prefix = prefix

    def _lifetime(self, seconds: float) -> float:
        """A lifetime within the conversations' retention."""
        return min(seconds, self._sealing.retention_seconds)

    def _seal(self, value: str) -> str:
        return self._sealing.key_ring.seal(value)

    def _open(self, value: bytes | str | None) -> str | None:
        # ConversationUnreadable (naming a missing key id) rather than ciphertext as text.
        return None if value is None else self._sealing.key_ring.open(value)

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}:{kind}:{key}"

    async def claim(self, key: str, *, ttl_seconds: float | None = None) -> bool:
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        name = self._key("seen", key)
        return bool(await self._redis.set(name, "1", nx=True, px=max(int(ttl * 1000), 1)))

    async def release(self, key: str) -> None:
        await self._redis.delete(self._key("seen", key))

    async def remember_reply(self, key: str, reply: str) -> None:
        lifetime = max(int(self._ttl * 1000), 1)
        await self._redis.set(self._key("reply", key), self._seal(reply), px=lifetime)

    async def reply_for(self, key: str) -> str | None:
        return self._open(await self._redis.get(self._key("reply", key)))

    async def put(self, key: str, value: str, *, ttl_seconds: float) -> None:
        lifetime = max(int(self._lifetime(ttl_seconds) * 1000), 1)
        await self._redis.set(self._key("data", key), self._seal(value), px=lifetime)

    async def take(self, key: str) -> str | None:
        # GET and DEL in one MULTI: of two instances taking at once, one gets the value.
        name = self._key("data", key)
        async with self._redis.pipeline(transaction=True) as pipe:
            value, _ = await pipe.get(name).delete(name).execute()
        return self._open(value)

    async def get(self, key: str) -> str | None:
        return self._open(await self._redis.get(self._key("data", key)))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.close()


def store_for(
    redis_url: str | None, *, prefix: str, ttl_seconds: int = DEFAULT_TTL_SECONDS
) -> ChannelStore:
    """Redis when a URL is given, memory otherwise; claims and replies last ttl_seconds."""
    if redis_url:
        return RedisStore(redis_url, prefix=prefix, ttl_seconds=ttl_seconds)
    return MemoryStore(ttl_seconds=ttl_seconds)
