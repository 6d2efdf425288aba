"""The channels' short-lived state, in memory and (when REDIS_URL is set) in Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable

import pytest

from bot.channels.store import (
    ChannelStore,
    MemoryStore,
    RedisStore,
    answer_once,
    store_for,
    wait_for_reply,
)
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
            looked = asyncio.Event()
            reply_for = store.reply_for

            async def spied(key: str) -> str | None:
                found = await reply_for(key)
                if found is None:
                    looked.set()  # the waiter has looked and found nothing yet
                return found

            store.reply_for = spied  # type: ignore[method-assign]

            async def answer_once_it_waits() -> None:
                await looked.wait()
                await store.remember_reply("t1", "reply")

            task = asyncio.ensure_future(answer_once_it_waits())
            got = await wait_for_reply(store, "t1", timeout=30)
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


@pytest.mark.parametrize("make", KINDS)
class TestAnswerOnce:
    """A message sent again after the instance answering it died."""

    def test_a_finished_turn_whose_answer_was_lost_is_replayed_not_redone(
        self, make: Callable[[], ChannelStore]
    ) -> None:
        calls: list[str] = []

        async def answer() -> str:
            calls.append("answer")
            return "answered again"

        async def replay() -> str | None:
            calls.append("replay")
            return "the first turn's answer"

        async def main() -> str:
            store = make()
            # The first instance started the turn and finished it (the conversation was
            # saved), then died before remembering its answer; its claim lapsed.
            await store.put("started:m1", "1", ttl_seconds=60)
            return await answer_once(store, "m1", answer, claim_seconds=0.2, replay=replay)

        assert run(main()) == "the first turn's answer"
        assert calls == ["replay"]

    def test_a_turn_that_never_finished_is_answered(self, make: Callable[[], ChannelStore]) -> None:
        async def main() -> tuple[str, str]:
            store = make()
            await store.put("started:m2", "1", ttl_seconds=60)

            async def nothing() -> str | None:
                return None  # the conversation has no such message: the turn died

            async def answer() -> str:
                return "answered"

            first = await answer_once(store, "m2", answer, claim_seconds=0.2, replay=nothing)
            again = await answer_once(store, "m2", answer, claim_seconds=0.2, replay=nothing)
            return first, again

        assert run(main()) == ("answered", "answered")

    def test_a_first_message_is_never_replayed(self, make: Callable[[], ChannelStore]) -> None:
        async def replay() -> str | None:
            raise AssertionError("a message seen for the first time was looked up")

        async def answer() -> str:
            return "answered"

        async def main() -> str:
            return await answer_once(make(), "m3", answer, claim_seconds=0.2, replay=replay)

        assert run(main()) == "answered"


def test_the_replies_of_a_finished_turn_come_from_the_conversation() -> None:
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.channels.responses import replies_of_turn

    class Agent:
        tracker_store = InMemoryTrackerStore(Domain.empty())

    buttons = [{"title": "是", "payload": "/affirm"}]
    events = [
        UserUttered("我的宽带坏了", message_id="web-m1"),
        BotUttered("请留个手机号", {"buttons": buttons}),
        BotUttered("谢谢"),
        UserUttered("13800138000", message_id="web-m2"),
        BotUttered("已为您创建工单 SD-100001"),
    ]

    async def main() -> list:
        await Agent.tracker_store.save(DialogueStateTracker.from_events("web:s1", events))
        return [
            await replies_of_turn(Agent(), "web:s1", "web-m1"),
            await replies_of_turn(Agent(), "web:s1", "web-m2"),
            await replies_of_turn(Agent(), "web:s1", "web-m3"),
            await replies_of_turn(Agent(), "web:nobody", "web-m1"),
        ]

    first, second, unknown, nobody = run(main())
    assert first == [{"text": "请留个手机号", "buttons": buttons}, {"text": "谢谢"}]
    assert second == [{"text": "已为您创建工单 SD-100001"}]
    assert unknown is None and nobody is None
