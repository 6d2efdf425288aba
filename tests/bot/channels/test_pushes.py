"""Progress notices from the desk, through each connector's ``POST /push``, received by
each channel's real client: a python-socketio client for the widget (including a
reconnect after missed messages), the local fake of WeChat's API, the voice gateway's
next turn and the SMS outbox, the REST client's next answer."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from rasa.shared.core.events import UserUttered

from bot.channels.pushes import BadPush, parse_push
from bot.channels.rest import DeskRestInput
from bot.channels.store import MemoryStore
from bot.channels.voice import FileSmsOutbox, VoiceInput, VoiceSettings
from tests.bot.channels.conftest import FakeAgent, run, serve
from tests.bot.channels.test_voice import SECRET as VOICE_SECRET
from tests.bot.channels.test_voice import send as send_turn
from tests.bot.channels.test_voice import turn
from tests.bot.channels.test_wechat import OPENID, FakeWeChatApi, run_channel
from tests.bot.channels.test_widget import Customer, new_session, widget_channel, widget_server

JWT_SECRET = "relay-secret-for-tests-0123456789abcdef"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_RASA_JWT_SECRET", JWT_SECRET)


def token(secret: str = JWT_SECRET, *, lifetime: int = 60) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "user": {"username": "desk-relay", "role": "admin"},
        "iat": now,
        "exp": now + lifetime,
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, 'HS256')}"}


def notice(push_id: int, conversation: str, text: str, kind: str = "assigned") -> dict[str, Any]:
    return {
        "push_id": push_id,
        "conversation_id": conversation,
        "text": text,
        "ticket_number": "SD-100042",
        "notice": kind,
    }


async def push(
    http: aiohttp.ClientSession, webhook_url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    url = webhook_url.rsplit("/", 1)[0] + "/push"
    async with http.post(url, json=body, headers=token() if headers is None else headers) as reply:
        return reply.status, await reply.json()


def push_seq_id() -> int:
    """Push ids of their own per test (the dedupe keys may live in a shared Redis)."""
    return int(uuid.uuid4().int % 10**9) + 1


class TestParsing:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"push_id": 0}, "push_id"),
            ({"push_id": True}, "push_id"),
            ({"conversation_id": "wechat:o1"}, "not a web conversation"),
            ({"text": "  "}, "text"),
            ({"text": "x" * 2001}, "text"),
            ({"ticket_number": "100042"}, "ticket_number"),
            ({"notice": "spam"}, "notice"),
        ],
    )
    def test_a_bad_field_is_named(self, change: dict[str, Any], field: str) -> None:
        with pytest.raises(BadPush, match=field):
            parse_push({**notice(1, "web:abc", "hi"), **change}, channel="web")

    def test_a_good_push_names_its_sender(self) -> None:
        item = parse_push(notice(7, "wechat:oX", " hi "), channel="wechat")
        assert (item.push_id, item.sender, item.text) == (7, "oX", "hi")


class TestWidget:
    def test_pushed_when_connected_and_fetched_once_in_order_after_a_reconnect(self) -> None:
        agent = FakeAgent()
        session = new_session()
        conversation = f"web:{session}"
        first, second, third = push_seq_id(), push_seq_id(), push_seq_id()

        async def main() -> tuple[Any, ...]:
            async with widget_server(agent) as (url, _), aiohttp.ClientSession() as http:
                webhook = f"{url}/webhooks/socketio/webhook"
                customer = Customer()
                await customer.connect(url, session)
                status = await push(http, webhook, notice(first, conversation, "已分配给王芳"))
                live = await customer.next_message()
                await customer.client.disconnect()
                # The widget is closed: two more notices, and a retry of the second.
                sent = [
                    await push(
                        http, webhook, notice(second, conversation, "需要您补充信息", "waiting")
                    ),
                    await push(
                        http, webhook, notice(third, conversation, "工单已解决", "resolved")
                    ),
                    await push(
                        http, webhook, notice(third, conversation, "工单已解决", "resolved")
                    ),
                ]
                # It opens again: the same session asks for everything after what it showed.
                again = Customer()
                await again.connect(url, session)
                missed = await again.client.call(
                    "fetch_missed", {"after": live["push_seq"]}, timeout=10
                )
                nothing_more = await again.client.call(
                    "fetch_missed", {"after": missed["messages"][-1]["push_seq"]}, timeout=10
                )
                refused = await again.client.call("fetch_missed", {"after": -1}, timeout=10)
                await again.client.disconnect()
                return status, live, sent, missed, nothing_more, refused

        status, live, sent, missed, nothing_more, refused = run(main())
        assert status == (200, {"status": "sent", "via": "socket"})
        assert live["text"] == "已分配给王芳" and live["custom"]["notice"] == "assigned"
        assert [s for s, _ in sent] == [200, 200, 200]
        assert sent[2][1] == {"status": "duplicate"}
        texts = [m["text"] for m in missed["messages"]]
        assert texts == ["需要您补充信息", "工单已解决"]
        seqs = [m["push_seq"] for m in missed["messages"]]
        assert seqs == sorted(seqs) and seqs[0] > live["push_seq"]
        assert nothing_more == {"messages": []}
        assert "error" in refused

    def test_an_agent_reply_sent_while_the_widget_was_closed_is_fetched(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> Any:
            async with widget_server(agent) as (url, channel):
                output = channel.get_output_channel()
                assert output is not None
                # Rasa's trigger_intent answers on the widget's output while nobody listens.
                await output.send_text_message(f"web:{session}", "客服王芳：已为您退款")
                customer = Customer()
                await customer.connect(url, session)
                fetched = await customer.client.call("fetch_missed", {"after": 0}, timeout=10)
                await customer.client.disconnect()
                return fetched

        fetched = run(main())
        assert [m["text"] for m in fetched["messages"]] == ["客服王芳：已为您退款"]

    def test_the_notice_follows_the_customers_traditional_script(self) -> None:
        agent = FakeAgent()
        session = new_session()

        async def main() -> dict[str, Any]:
            tracker = await agent.tracker_store.get_or_create_tracker(f"web:{session}")
            tracker.update(UserUttered("我的訂單還沒到", parse_data={"zh_script": "hant-hk"}))
            await agent.tracker_store.save(tracker)
            async with widget_server(agent) as (url, _), aiohttp.ClientSession() as http:
                customer = Customer()
                await customer.connect(url, session)
                await push(
                    http,
                    f"{url}/webhooks/socketio/webhook",
                    notice(push_seq_id(), f"web:{session}", "您的工单已经解决"),
                )
                message = await customer.next_message()
                await customer.client.disconnect()
                return message

        assert run(main())["text"] == "您的工單已經解決"

    def test_without_a_valid_token_nothing_is_pushed(self) -> None:
        agent = FakeAgent()
        session = new_session()
        body = notice(push_seq_id(), f"web:{session}", "x")

        async def main() -> list[int]:
            async with widget_server(agent) as (url, channel), aiohttp.ClientSession() as http:
                webhook = f"{url}/webhooks/socketio/webhook"
                statuses = [
                    (await push(http, webhook, body, headers={}))[0],
                    (await push(http, webhook, body, headers=token("another-secret-" * 3)))[0],
                    (await push(http, webhook, body, headers=token(lifetime=-120)))[0],
                    (await push(http, webhook, {**body, "conversation_id": "voice:c1"}))[0],
                ]
                statuses.append(len(await channel.mailbox.since(session, 0)))
                return statuses

        assert run(main()) == [401, 401, 401, 422, 0]


class TestWeChat:
    def test_inside_the_window_a_customer_service_message(self) -> None:
        api = FakeWeChatApi()

        async def scenario(http: aiohttp.ClientSession, url: str) -> Any:
            return await push(http, url, notice(push_seq_id(), f"wechat:{OPENID}", "已分配给王芳"))

        result = run_channel(scenario, agent=FakeAgent(), api=api, template_id="TPL-progress")
        assert result == (200, {"status": "sent", "via": "customer_service"})
        assert api.sent == [
            {"touser": OPENID, "msgtype": "text", "text": {"content": "已分配给王芳"}}
        ]
        assert api.templates == []

    def test_outside_the_window_a_template_message_with_the_configured_id(self) -> None:
        api = FakeWeChatApi(outside_window=True)

        async def scenario(http: aiohttp.ClientSession, url: str) -> Any:
            return await push(
                http,
                url,
                notice(push_seq_id(), f"wechat:{OPENID}", "我们晚了，新的时间：18:00", "late"),
            )

        result = run_channel(scenario, agent=FakeAgent(), api=api, template_id="TPL-progress")
        assert result == (200, {"status": "sent", "via": "template"})
        assert api.sent == []
        [sent] = api.templates
        assert sent["touser"] == OPENID and sent["template_id"] == "TPL-progress"
        assert sent["data"]["first"]["value"] == "我们晚了，新的时间：18:00"
        assert sent["data"]["keyword1"]["value"] == "SD-100042"

    def test_outside_the_window_without_a_template_the_relay_is_told_to_retry(self) -> None:
        api = FakeWeChatApi(outside_window=True)
        push_id = push_seq_id()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[int]:
            body = notice(push_id, f"wechat:{OPENID}", "x")
            first = await push(http, url, body)
            api.outside_window = False  # the follower wrote again
            second = await push(http, url, body)
            return [first[0], second[0]]

        assert run_channel(scenario, agent=FakeAgent(), api=api) == [502, 200]
        assert len(api.sent) == 1


class TestVoice:
    def test_kept_for_the_next_turn_and_sent_by_sms(self, tmp_path: Path) -> None:
        outbox = FileSmsOutbox(tmp_path / "sms.jsonl")
        call = f"call-{uuid.uuid4().hex[:8]}"

        async def main() -> tuple[Any, Any]:
            channel = VoiceInput(
                VoiceSettings(secret=VOICE_SECRET), store=MemoryStore(), sms=outbox
            )
            async with serve(channel, FakeAgent()) as url, aiohttp.ClientSession() as http:
                await send_turn(http, url, turn(call, "我的宽带坏了"))
                body = {
                    **notice(push_seq_id(), f"voice:{call}", "工单已分配"),
                    "sms_to": "+8613912345678",
                }
                pushed = await push(http, url, body)
                status, answer = await send_turn(http, url, turn(call, "好的", turn=2))
                assert status == 200
                return pushed, answer

        pushed, answer = run(main())
        assert pushed == (200, {"status": "sent", "via": "next_turn+sms"})
        assert answer["replies"][0] == "工单已分配"
        assert [(m["to"], m["text"]) for m in outbox.sent()] == [("+8613912345678", "工单已分配")]

    def test_without_a_number_it_waits_for_the_turn_only(self, tmp_path: Path) -> None:
        outbox = FileSmsOutbox(tmp_path / "sms.jsonl")

        async def main() -> list[Any]:
            channel = VoiceInput(
                VoiceSettings(secret=VOICE_SECRET), store=MemoryStore(), sms=outbox
            )
            async with serve(channel, FakeAgent()) as url, aiohttp.ClientSession() as http:
                body = notice(push_seq_id(), "voice:call-without-number", "x")
                return [
                    await push(http, url, body),
                    await push(http, url, {**body, "push_id": push_seq_id(), "sms_to": "call me"}),
                ]

        assert run(main()) == [
            (200, {"status": "sent", "via": "next_turn"}),
            (422, {"error": {"code": "invalid_push", "message": "sms_to: a phone number"}}),
        ]
        assert outbox.sent() == []


class TestRest:
    def test_kept_for_the_senders_next_answer_in_order_once(self) -> None:
        sender = f"shop-{uuid.uuid4().hex[:8]}"

        async def main() -> tuple[Any, Any]:
            channel = DeskRestInput(MemoryStore())
            async with serve(channel, FakeAgent()) as url, aiohttp.ClientSession() as http:
                for text in ("已分配", "已解决"):
                    await push(http, url, notice(push_seq_id(), sender, text))
                async with http.post(url, json={"sender": sender, "message": "hi"}) as reply:
                    first = await reply.json()
                async with http.post(url, json={"sender": sender, "message": "again"}) as reply:
                    second = await reply.json()
                return first, second

        first, second = run(main())
        assert [m["text"] for m in first] == ["已分配", "已解决", "Got: hi"]
        assert [m["text"] for m in second] == ["Got: again"]
        assert json.dumps(first[0]["custom"]) == '{"ticket": "SD-100042", "notice": "assigned"}'


def test_rest_push_needs_no_channel_prefix() -> None:
    # REST senders keep their ids; a REST id with a reserved prefix is namespaced again.
    assert parse_push(notice(1, "rest:web:x", "hi"), channel="rest").sender == "web:x"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="two instances share Redis")
def test_a_notice_pushed_on_one_instance_is_fetched_on_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", os.environ["REDIS_URL"])
    agent = FakeAgent()
    session = new_session()

    async def main() -> Any:
        one, two = widget_channel(), widget_channel()
        async with (
            widget_server(agent, one) as (url_one, _),
            widget_server(agent, two) as (url_two, _),
            aiohttp.ClientSession() as http,
        ):
            # Nobody is connected: the notice waits in the session's mailbox in Redis.
            status = await push(
                http,
                f"{url_one}/webhooks/socketio/webhook",
                notice(push_seq_id(), f"web:{session}", "工单已分配给王芳"),
            )
            assert status == (200, {"status": "sent", "via": "socket"})
            customer = Customer()
            await customer.connect(url_two, session)
            fetched = await customer.client.call("fetch_missed", {"after": 0}, timeout=10)
            await customer.client.disconnect()
            return fetched

    fetched = run(main())
    assert [m["text"] for m in fetched["messages"]] == ["工单已分配给王芳"]
