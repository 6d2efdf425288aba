"""The channels' short-lived state, in memory and (when REDIS_URL is set) in Redis."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from bot.channels.store import (
    ChannelStore,
    MemoryStore,
    RedisStore,
    answer_once,
    conversation_tag,
    store_for,
    wait_for_reply,
)
from bot.tracker_store import (
    ConversationSettings,
    ConversationUnreadable,
    DataKeyMissing,
    DataKeyRing,
    parse_data_keys,
)
from tests.bot.channels.conftest import ROOT, data_keys, run

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


def sealing(keys: str, *, retention_days: float = 30) -> ConversationSettings:
    """What a Rasa instance seals its channel state with (DESK_DATA_KEYS and the retention)."""
    return ConversationSettings(DataKeyRing(parse_data_keys(keys)), retention_days)


def sealed_store(prefix: str, keys: str, **kwargs: Any) -> RedisStore:
    assert REDIS_URL
    return RedisStore(REDIS_URL, prefix=prefix, sealing=sealing(keys, **kwargs))


def raw_redis() -> Any:
    import redis

    assert REDIS_URL
    return redis.Redis.from_url(REDIS_URL)


needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set")

PHONE, EMAIL = "13912345678", "li.lei@example.com"


@needs_redis
class TestSealedAtRest:
    """In Redis, every value a channel keeps is ciphertext, expires within the retention,
    and opens only with the keys that sealed it."""

    def test_values_are_ciphertext_named_by_key_id_and_read_back(self) -> None:
        prefix = f"test:store:{uuid.uuid4().hex[:10]}"
        store = sealed_store(prefix, data_keys("k1"))
        text = f"请打 {PHONE} 或发邮件到 {EMAIL}"

        async def main() -> list[str | None]:
            await store.remember_reply("m1", text)
            await store.put("kept:c1", text, ttl_seconds=60)
            return [await store.reply_for("m1"), await store.get("kept:c1")]

        assert run(main()) == [text, text]
        client = raw_redis()
        try:
            names = list(client.scan_iter(match=f"{prefix}:*"))
            values = [client.get(name) or b"" for name in names]
        finally:
            client.delete(*names)
            client.close()
        assert len(values) == 2
        for value in values:
            assert value.startswith(b"k1:")
            assert PHONE.encode() not in value and EMAIL.encode() not in value
            assert "邮件".encode() not in value

    def test_a_lifetime_beyond_the_retention_is_cut_to_it(self) -> None:
        prefix = f"test:store:{uuid.uuid4().hex[:10]}"
        # A retention of one hour: a notice asked to wait 14 days waits one hour at most.
        store = sealed_store(prefix, data_keys("k1"), retention_days=1 / 24)

        async def main() -> None:
            await store.put("kept:c1", "x", ttl_seconds=14 * 24 * 3600)
            await store.remember_reply("m1", "y")

        run(main())
        client = raw_redis()
        try:
            names = list(client.scan_iter(match=f"{prefix}:*"))
            ttls = [client.ttl(name) for name in names]
        finally:
            client.delete(*names)
            client.close()
        assert len(ttls) == 2 and all(0 < ttl <= 3600 for ttl in ttls), ttls

    def test_a_rotated_key_still_opens_old_values_and_new_ones_use_the_new_key(self) -> None:
        prefix = f"test:store:{uuid.uuid4().hex[:10]}"
        old = data_keys("k1")
        before = sealed_store(prefix, old)
        after = sealed_store(prefix, f"{data_keys('k2')},{old}")

        async def main() -> tuple[str | None, str | None]:
            await before.put("kept:c1", "旧的", ttl_seconds=60)
            opened = await after.take("kept:c1")
            await after.put("kept:c1", "新的", ttl_seconds=60)
            client = raw_redis()
            try:
                stored = client.get(f"{prefix}:data:kept:c1") or b""
                client.delete(f"{prefix}:data:kept:c1")
            finally:
                client.close()
            return opened, stored.decode().split(":", 1)[0]

        assert run(main()) == ("旧的", "k2")

    def test_a_missing_key_is_a_clear_error_never_ciphertext(self) -> None:
        prefix = f"test:store:{uuid.uuid4().hex[:10]}"
        writer = sealed_store(prefix, data_keys("k1"))
        reader = sealed_store(prefix, data_keys("k2"))  # k1 left the ring

        async def main() -> None:
            await writer.remember_reply("m1", PHONE)
            await reader.reply_for("m1")

        with pytest.raises(DataKeyMissing, match="'k1'"):
            run(main())
        # The same id with another key: it does not authenticate, and says so.
        impostor = sealed_store(prefix, data_keys("k1"))
        with pytest.raises(ConversationUnreadable, match="does not authenticate"):
            run(impostor.reply_for("m1"))
        raw_redis().delete(f"{prefix}:reply:m1")

    def test_without_data_keys_a_redis_store_refuses_to_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("DESK_DATA_KEYS", raising=False)
        assert REDIS_URL
        with pytest.raises(ValueError, match="DESK_DATA_KEYS is not set"):
            store_for(REDIS_URL, prefix="x")


def test_a_conversation_tag_is_fixed_length_and_hides_the_id() -> None:
    tags = {conversation_tag(c) for c in ("13912345678", "web:abc", "web:abc:x", "")}
    assert len(tags) == 4
    assert all(len(tag) == 25 and tag.startswith("c") for tag in tags)
    assert all("13912345678" not in tag for tag in tags)
    # The API computes the same tag to find a conversation's keys on erasure.
    examples = json.loads((ROOT / "tests" / "data" / "conversation_tags.json").read_text())
    assert {c: conversation_tag(c) for c in examples} == examples
