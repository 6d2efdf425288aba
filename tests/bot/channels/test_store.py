"""The channels' short-lived state, in memory and (when REDIS_URL is set) in Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable

import pytest

from bot.channels.store import ChannelStore, MemoryStore, RedisStore, store_for, wait_for_reply
from tests.bot.channels.conftest import run

REDIS_URL = os.environ.get("REDIS_URL")


def memory() -> ChannelStore:
    return MemoryStore(ttl_seconds=0.5)


def redis() -> ChannelStore:
    assert REDIS_URL
    return RedisStore(REDIS_URL, prefix=f"test:store:{uuid.uuid4().hex[:10]}", ttl_seconds=1)


KINDS = [
    pytest.param(memory, id="memory"),
    pytest.param(
        redis, id="redis", marks=pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set")
    ),
]


@pytest.mark.parametrize("make", KINDS)
class TestChannelStore:
    def test_a_key_is_claimed_once_until_released_or_expired(
        self, make: Callable[[], ChannelStore]
    ) -> None:
        async def main() -> list[bool]:
            store = make()
            claims = [await store.claim("m1"), await store.claim("m1"), await store.claim("m2")]
            await store.release("m1")
            claims.append(await store.claim("m1"))
            await asyncio.sleep(1.2)
            claims.append(await store.claim("m2"))  # the claim's lifetime is over
            return claims

        assert run(main()) == [True, False, True, True, True]

    def test_replies_are_kept_for_retries(self, make: Callable[[], ChannelStore]) -> None:
        async def main() -> list[str | None]:
            store = make()
            await store.claim("m1")
            before = await store.reply_for("m1")
            await store.remember_reply("m1", "<xml>答</xml>")
            return [before, await store.reply_for("m1")]

        assert run(main()) == [None, "<xml>答</xml>"]

    def test_a_value_is_taken_once_and_expires(self, make: Callable[[], ChannelStore]) -> None:
        async def main() -> list[str | None]:
            store = make()
            await store.put("p", "值", ttl_seconds=30)
            await store.put("short", "x", ttl_seconds=0.2)
            first, second = await asyncio.gather(store.take("p"), store.take("p"))
            await asyncio.sleep(0.4)
            return [first, second, await store.take("short")]

        first, second, expired = run(main())
        assert {first, second} == {"值", None}  # two takers at once: exactly one wins
        assert expired is None

    def test_waiting_for_a_reply(self, make: Callable[[], ChannelStore]) -> None:
        async def main() -> list[str | None]:
            store = make()

            async def answer_later() -> None:
                await asyncio.sleep(0.3)
                await store.remember_reply("t1", "reply")

            task = asyncio.ensure_future(answer_later())
            got = await wait_for_reply(store, "t1", timeout=2)
            await task
            missing = await wait_for_reply(store, "t2", timeout=0.2)
            return [got, missing]

        assert run(main()) == ["reply", None]


def test_memory_is_bounded() -> None:
    async def main() -> list[bool]:
        store = MemoryStore(max_keys=3)
        for key in ("a", "b", "c", "d"):
            await store.claim(key)
        # "a" was pushed out by "d": it can be claimed again; "d" cannot.
        return [await store.claim("a"), await store.claim("d")]

    assert run(main()) == [True, False]


def test_redis_only_with_a_url() -> None:
    assert isinstance(store_for(None, prefix="x"), MemoryStore)
    assert isinstance(store_for("redis://127.0.0.1:6379/0", prefix="x"), RedisStore)
