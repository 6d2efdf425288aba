"""The widget's socket.io channel, served as `rasa run` serves it, driven by a real
python-socketio client speaking the widget's protocol (polling, as the widget does).

The agent is the channel tests' FakeAgent (a real Agent whose understanding is
scripted), so what is checked is what the connector hands to Rasa and what reaches the
socket. With REDIS_URL set, the two-instance test runs two servers on one Redis.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import socketio

from bot.channels import widget
from bot.channels.widget import WidgetInput
from tests.bot.channels.conftest import FakeAgent, run, serve


def new_session() -> str:
    """A widget session id of its own per test (repeat keys may live in a shared Redis)."""
    return uuid.uuid4().hex


def widget_channel() -> WidgetInput:
    return WidgetInput.from_credentials(  # type: ignore[return-value]
        {
            "user_message_evt": "user_uttered",
            "bot_message_evt": "bot_uttered",
            "session_persistence": True,
        }
    )


class Customer:
    """A socket.io client that behaves like the widget: session first, then messages."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.client.on("bot_uttered", self._bot_uttered)
        self.client.on("session_confirm", self._confirmed)

    async def _bot_uttered(self, data: dict[str, Any]) -> None:
        await self.received.put(data)

    async def _confirmed(self, session_id: str) -> None:
        if not self.session.done():
            self.session.set_result(session_id)

    async def connect(self, url: str, session_id: str | None) -> str:
        await self.client.connect(url, transports=["polling"], socketio_path="/socket.io")
        await self.client.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.session, 10)

    async def say(self, text: str, **data: Any) -> Any:
        return await self.client.call("user_uttered", {"message": text, **data}, timeout=10)

    async def next_message(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), 10)


@asynccontextmanager
async def widget_server(
    agent: FakeAgent, channel: WidgetInput | None = None
) -> AsyncIterator[tuple[str, WidgetInput]]:
    channel = channel or widget_channel()
    async with serve(channel, agent) as url:
        yield url.split("/webhooks/")[0], channel


class TestSession:
    def test_a_message_belongs_to_the_sockets_session_and_the_reply_comes_back(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> tuple[str, Any, dict[str, Any]]:
            async with widget_server(agent) as (url, _):
                customer = Customer()
                confirmed = await customer.connect(url, session)
                ack = await customer.say(
                    "我的宽带连不上了",
                    session_id=session,
                    metadata={"message_id": "m-1", "caller_number": "13912345678"},
                )
                reply = await customer.next_message()
                await customer.client.disconnect()
                return confirmed, ack, reply

        confirmed, ack, reply = run(main())
        assert confirmed == session and ack is None
        assert reply == {"text": "收到：我的宽带连不上了"}
        [message] = agent.received
        assert (message.sender_id, message.input_channel) == (f"web:{session}", "socketio")
        # Only what the connector checked reaches the bot; the claimed caller number does not.
        # The connector's own: the checked message id and the message's request id.
        assert message.metadata == {
            "message_id": "m-1",
            "request_id": message.metadata["request_id"],
        }
        assert len(message.metadata["request_id"]) == 32

    def test_a_session_id_that_is_not_an_id_gets_a_fresh_one(self) -> None:
        agent = FakeAgent()

        async def main() -> str:
            async with widget_server(agent) as (url, _):
                customer = Customer()
                session = await customer.connect(url, session_id="wechat:oCustomer")
                await customer.client.disconnect()
                return session

        session = run(main())
        assert session != "wechat:oCustomer" and len(session) == 32

    def test_a_message_naming_another_session_is_refused(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> Any:
            async with widget_server(agent) as (url, _):
                customer = Customer()
                await customer.connect(url, session)
                ack = await customer.say("list my tickets", session_id="f" * 32)
                await customer.client.disconnect()
                return ack

        ack = run(main())
        assert ack == {"error": "not this socket's session"}
        assert agent.received == []

    def test_a_message_before_the_session_is_refused(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> Any:
            async with widget_server(agent) as (url, _):
                client = socketio.AsyncClient(reconnection=False)
                await client.connect(url, transports=["polling"], socketio_path="/socket.io")
                ack = await client.call(
                    "user_uttered", {"message": "hi", "session_id": session}, timeout=10
                )
                await client.disconnect()
                return ack

        assert run(main()) == {"error": "session_request first"}
        assert agent.received == []


CARD = {"ticket": "SD-100001", "status": "new"}


def answers_with_a_card(message: Any) -> list[dict[str, Any]]:
    """A ticket created: two paragraphs of text, the ticket as data (Rasa's ``custom``)."""
    return [
        {
            "text": "已为您创建工单 SD-100001。\n\n预计 18:00 前回复您。",
            "custom": dict(CARD),
            "utter_action": "utter_ticket_created",
        }
    ]


class TestTicketCards:
    def test_the_card_comes_in_the_same_message_as_its_text(self) -> None:
        agent = FakeAgent(answers_with_a_card)
        session = new_session()

        async def main() -> list[dict[str, Any]]:
            async with widget_server(agent) as (url, _):
                customer = Customer()
                await customer.connect(url, session)
                await customer.say("我的宽带断了", session_id=session)
                received = [await customer.next_message(), await customer.next_message()]
                await asyncio.sleep(0.3)  # nothing else comes (no emit of the card alone)
                assert customer.received.empty()
                await customer.client.disconnect()
                return received

        # Rasa's socket.io output sends each paragraph apart; the card goes with the last.
        assert run(main()) == [
            {"text": "已为您创建工单 SD-100001。"},
            {"text": "预计 18:00 前回复您。", "custom": CARD},
        ]

    def test_a_card_the_desk_sends_first_is_kept_with_its_text(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            async with widget_server(agent) as (url, channel):
                customer = Customer()
                await customer.connect(url, session)
                output = channel.get_output_channel()
                assert output is not None
                await output.send_response(
                    f"web:{session}", {"text": "工单 SD-100001 已解决。", "custom": dict(CARD)}
                )
                pushed = await customer.next_message()
                missed = await customer.client.call("fetch_missed", {"after": 0}, timeout=10)
                await customer.client.disconnect()
                return pushed, missed["messages"]

        pushed, missed = run(main())
        assert pushed == {"text": "工单 SD-100001 已解决。", "custom": CARD, "push_seq": 1}
        assert missed == [pushed]


class TestRepeats:
    def test_a_message_sent_again_after_a_lost_ack_is_handled_once(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> list[Any]:
            async with widget_server(agent) as (url, _):
                first = Customer()
                await first.connect(url, session)
                acks = [
                    await first.say("转人工", session_id=session, metadata={"message_id": "m-7"})
                ]
                await first.client.disconnect()
                # The widget reconnects and sends the unacknowledged message again.
                second = Customer()
                await second.connect(url, session)
                acks.append(
                    await second.say("转人工", session_id=session, metadata={"message_id": "m-7"})
                )
                acks.append(
                    await second.say("谢谢", session_id=session, metadata={"message_id": "m-8"})
                )
                await second.client.disconnect()
                return acks

        assert run(main()) == [None, None, None]
        assert [m.text for m in agent.received] == ["转人工", "谢谢"]

    def test_a_repeat_is_answered_when_the_instance_answering_it_died(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        agent = FakeAgent()
        session = new_session()
        monkeypatch.setattr(widget, "CLAIM_SECONDS", 0.5)

        async def main() -> Any:
            async with widget_server(agent) as (url, channel):
                # Another instance claimed the message, then was killed before answering.
                assert await channel.store.claim(f"{session}:m-3", ttl_seconds=0.5)
                customer = Customer()
                await customer.connect(url, session)
                ack = await customer.say(
                    "转人工", session_id=session, metadata={"message_id": "m-3"}
                )
                again = await customer.say(
                    "转人工", session_id=session, metadata={"message_id": "m-3"}
                )
                await customer.client.disconnect()
                return ack, again

        assert run(main()) == (None, None)
        assert [(m.text, m.message_id) for m in agent.received] == [("转人工", "web-m-3")]

    def test_a_failed_turn_can_be_sent_again(self) -> None:
        agent = FakeAgent()
        session = new_session()
        agent.fail_next = True

        async def main() -> list[Any]:
            async with widget_server(agent) as (url, _):
                customer = Customer()
                await customer.connect(url, session)
                acks = [
                    await customer.say(
                        "第一次", session_id=session, metadata={"message_id": "m-9"}
                    ),
                    await customer.say(
                        "第一次", session_id=session, metadata={"message_id": "m-9"}
                    ),
                ]
                await customer.client.disconnect()
                return acks

        assert run(main()) == [{"error": "the assistant could not answer this message"}, None]
        assert [m.text for m in agent.received] == ["第一次", "第一次"]


class TestPushes:
    def test_a_message_the_desk_sends_first_reaches_the_session(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> dict[str, Any]:
            async with widget_server(agent) as (url, channel):
                customer = Customer()
                await customer.connect(url, session)
                output = channel.get_output_channel()
                assert output is not None
                # Rasa addresses the conversation; the connector finds the session's room.
                await output.send_text_message(f"web:{session}", "客服王芳已接手您的问题。")
                pushed = await customer.next_message()
                await customer.client.disconnect()
                return pushed

        # Numbered in the session's mailbox, for a widget that fetches what it missed.
        assert run(main()) == {"text": "客服王芳已接手您的问题。", "push_seq": 1}

    @pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="two instances share Redis")
    def test_a_push_from_one_instance_reaches_a_widget_connected_to_another(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A channel of its own on the Redis of REDIS_URL, so parallel runs do not mix.
        monkeypatch.setenv("REDIS_URL", os.environ["REDIS_URL"])
        agent = FakeAgent()

        async def main() -> dict[str, Any]:
            one, two = widget_channel(), widget_channel()
            async with (
                widget_server(agent, one) as (_, _),
                widget_server(agent, two) as (url_two, _),
            ):
                customer = Customer()
                session = uuid.uuid4().hex
                await customer.connect(url_two, session_id=session)
                output = one.get_output_channel()
                assert output is not None
                # The Redis manager's listener needs a moment after start; retry until seen.
                for _ in range(50):
                    await output.send_text_message(f"web:{session}", "客服已回复")
                    try:
                        pushed = await asyncio.wait_for(customer.received.get(), 0.2)
                        break
                    except TimeoutError:
                        continue
                else:
                    raise AssertionError("the push never reached the other instance's socket")
                await customer.client.disconnect()
                return pushed

        pushed = run(main())
        assert pushed["text"] == "客服已回复" and pushed["push_seq"] >= 1


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the mailbox at rest is in Redis")
def test_the_mailbox_in_redis_is_sealed_tagged_and_within_the_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What waits for an offline widget is ciphertext under the conversation's tag, gone
    within the retention, and read back in order."""
    import redis

    from bot.channels.store import conversation_tag

    monkeypatch.setenv("DESK_CONVERSATION_RETENTION_DAYS", "1")
    url = os.environ["REDIS_URL"]
    session = uuid.uuid4().hex
    mailbox = widget.Mailbox(url)
    quoted = "您说的号码 13912345678 和 li.lei@example.com 已记下"

    async def main() -> list[dict[str, Any]]:
        await mailbox.add(session, {"text": quoted})
        await mailbox.add(session, {"text": quoted})  # the same words twice: two messages
        return await mailbox.since(session, 0)

    got = run(main())
    assert [(m["text"], m["push_seq"]) for m in got] == [(quoted, 1), (quoted, 2)]
    client = redis.Redis.from_url(url)
    seq_key, messages_key = widget.Mailbox.keys(session)
    try:
        assert conversation_tag(f"web:{session}") in messages_key
        assert session not in seq_key + messages_key
        members = client.zrange(messages_key, 0, -1)
        ttls = [client.ttl(seq_key), client.ttl(messages_key)]
    finally:
        client.delete(seq_key, messages_key)
        client.close()
    assert len(members) == 2 and all(m.startswith(b"k1:") for m in members)
    assert not any(b"13912345678" in m or b"li.lei@" in m for m in members)
    assert all(0 < ttl <= 24 * 3600 for ttl in ttls), ttls


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the mailbox at rest is in Redis")
def test_a_mailbox_sealed_with_a_key_that_left_the_ring_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.tracker_store import DataKeyMissing
    from tests.bot.channels.conftest import data_keys

    url = os.environ["REDIS_URL"]
    session = uuid.uuid4().hex
    run(widget.Mailbox(url).add(session, {"text": "13912345678"}))
    monkeypatch.setenv("DESK_DATA_KEYS", data_keys("k2"))
    try:
        with pytest.raises(DataKeyMissing, match="'k1'"):
            run(widget.Mailbox(url).since(session, 0))
    finally:
        import redis

        redis.Redis.from_url(url).delete(*widget.Mailbox.keys(session))
