"""The public REST channel, served as `rasa run` serves it, driven over HTTP.

The attacks of the trust-boundary probe: a REST caller claiming to be a phone call with a
carrier-verified number, or naming a WeChat follower as its sender. The agent is the
channel tests' FakeAgent (a real Agent whose understanding is scripted), so what is
checked is exactly what the connector hands to Rasa.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from rasa.shared.core.events import BotUttered, UserUttered

from bot.channels import rest
from bot.channels.rest import MAX_MESSAGE_CHARACTERS, DeskRestInput
from tests.bot.channels.conftest import FakeAgent, run, serve


def post(body: Any, *, raw: bytes | None = None) -> tuple[int, Any, FakeAgent]:
    agent = FakeAgent()

    async def main() -> tuple[int, Any]:
        async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
            kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
            async with http.post(url, **kwargs) as response:
                return response.status, await response.json(content_type=None)

    status, answer = run(main())
    return status, answer, agent


class TestContract:
    def test_a_message_gets_the_bots_replies_as_a_list(self) -> None:
        status, answer, agent = post({"sender": "li", "message": "我的宽带连不上了"})
        assert status == 200
        assert answer == [{"recipient_id": "li", "text": "收到：我的宽带连不上了"}]
        [message] = agent.received
        assert (message.sender_id, message.input_channel) == ("li", "rest")


CARD = {"ticket": "SD-100001", "status": "new"}


def answers_with_a_card(message: Any) -> list[dict[str, Any]]:
    return [{"text": "I've opened ticket SD-100001.", "custom": dict(CARD)}]


class TestTicketCards:
    def test_a_rest_client_gets_the_text_without_the_card(self) -> None:
        agent = FakeAgent(answers_with_a_card)

        async def main() -> tuple[int, Any]:
            body = {"sender": "li", "message": "hi"}
            async with (
                serve(DeskRestInput(), agent) as url,
                aiohttp.ClientSession() as http,
                http.post(url, json=body) as response,
            ):
                return response.status, await response.json()

        assert run(main()) == (
            200,
            [{"recipient_id": "li", "text": "I've opened ticket SD-100001."}],
        )

    def test_an_answer_replayed_from_the_conversation_leaves_the_card_out(self) -> None:
        agent = FakeAgent(answers_with_a_card)
        channel = DeskRestInput()
        sender = f"wu-{uuid.uuid4().hex[:8]}"

        async def main() -> tuple[int, Any]:
            # The instance that answered saved the turn (card included), then died before
            # it remembered the answer.
            tracker = await agent.tracker_store.get_or_create_tracker(sender)
            tracker.update(UserUttered("hi", message_id="rest-c-4"))
            tracker.update(BotUttered("I've opened ticket SD-100001.", {"custom": dict(CARD)}))
            await agent.tracker_store.save(tracker)
            await channel.store.put(f"started:{sender}:c-4", "1", ttl_seconds=60)
            async with serve(channel, agent) as url, aiohttp.ClientSession() as http:
                body = {"sender": sender, "message": "hi", "message_id": "c-4"}
                async with http.post(url, json=body) as response:
                    return response.status, await response.json()

        status, answer = run(main())
        assert agent.received == []  # replayed, not answered again
        assert (status, [(m["recipient_id"], m["text"]) for m in answer]) == (
            200,
            [(sender, "I've opened ticket SD-100001.")],
        )
        assert all("custom" not in m for m in answer)


class TestRepeats:
    def test_a_message_sent_again_gets_the_first_answer_and_is_handled_once(self) -> None:
        agent = FakeAgent()
        sender = f"wu-{uuid.uuid4().hex[:8]}"  # repeat keys may live in a shared Redis
        first = {"sender": sender, "message": "router broken", "message_id": "c-1"}

        async def main() -> list[tuple[int, Any]]:
            answers = []
            async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
                for body in (first, first, {**first, "message_id": "c-2"}):
                    async with http.post(url, json=body) as response:
                        answers.append((response.status, await response.json()))
            return answers

        replies = [{"recipient_id": sender, "text": "Got: router broken"}]
        assert run(main()) == [(200, replies)] * 3
        assert [(m.text, m.message_id) for m in agent.received] == [
            ("router broken", "rest-c-1"),
            ("router broken", "rest-c-2"),
        ]

    def test_a_repeat_is_answered_when_the_instance_answering_it_died(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        agent = FakeAgent()
        channel = DeskRestInput()
        monkeypatch.setattr(rest, "CLAIM_SECONDS", 0.5)
        sender = f"wu-{uuid.uuid4().hex[:8]}"

        async def main() -> tuple[int, Any]:
            # Another instance claimed the message, then was killed before answering.
            assert await channel.store.claim(f"{sender}:c-3", ttl_seconds=0.5)
            async with serve(channel, agent) as url, aiohttp.ClientSession() as http:
                body = {"sender": sender, "message": "hello", "message_id": "c-3"}
                async with http.post(url, json=body) as response:
                    return response.status, await response.json()

        assert run(main()) == (200, [{"recipient_id": sender, "text": "Got: hello"}])
        assert [m.message_id for m in agent.received] == ["rest-c-3"]


class TestRequestIds:
    def exchange(self, headers: dict[str, str]) -> tuple[str, FakeAgent]:
        agent = FakeAgent()

        async def main() -> str:
            async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
                body = {"sender": "li", "message": "你好"}
                async with http.post(url, json=body, headers=headers) as response:
                    assert response.status == 200
                    return response.headers["X-Request-ID"]

        return run(main()), agent

    def test_the_proxys_request_id_follows_the_message(self) -> None:
        echoed, agent = self.exchange({"X-Request-ID": "lb-7f3a9c0e12d4"})
        assert echoed == "lb-7f3a9c0e12d4"
        assert agent.received[0].metadata == {"request_id": "lb-7f3a9c0e12d4"}

    def test_without_one_each_message_gets_its_own(self) -> None:
        first, agent_one = self.exchange({})
        second, _ = self.exchange({"X-Request-ID": "bad id"})
        assert first != second and len(first) == len(second) == 32
        assert agent_one.received[0].metadata == {"request_id": first}


class TestSpoofing:
    def test_a_claimed_voice_channel_and_caller_number_are_dropped(self) -> None:
        status, _, agent = post(
            {
                "sender": "x",
                "message": "my internet has been down",
                "input_channel": "voice",
                "metadata": {"caller_number": "13912345678", "transcript": True},
            }
        )
        assert status == 200
        [message] = agent.received
        assert message.input_channel == "rest"
        assert message.sender_id == "x"
        # Nothing the client said about itself: only the connector's own request id.
        assert set(message.metadata) == {"request_id"}

    @pytest.mark.parametrize(
        ("sender", "conversation"),
        [
            ("wechat:oCustomerOpenId0001", "rest:wechat:oCustomerOpenId0001"),
            ("voice:call-1", "rest:voice:call-1"),
            ("web:0123456789abcdef0123456789abcdef", "rest:web:0123456789abcdef0123456789abcdef"),
        ],
    )
    def test_another_channels_conversation_cannot_be_resumed(
        self, sender: str, conversation: str
    ) -> None:
        status, _, agent = post(
            {"sender": sender, "message": "list my tickets", "input_channel": "wechat"}
        )
        assert status == 200
        [message] = agent.received
        assert (message.sender_id, message.input_channel) == (conversation, "rest")


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ([], "JSON object"),
            ({"message": "hi"}, "sender"),
            ({"sender": "", "message": "hi"}, "sender"),
            ({"sender": "a\nb", "message": "hi"}, "sender"),
            ({"sender": "s" * 201, "message": "hi"}, "sender"),
            ({"sender": 42, "message": "hi"}, "sender"),
            ({"sender": "li"}, "message"),
            ({"sender": "li", "message": {"text": "hi"}}, "message"),
            ({"sender": "li", "message": "hi", "message_id": 7}, "message_id"),
            ({"sender": "li", "message": "hi", "message_id": "a b"}, "message_id"),
            ({"sender": "li", "message": "hi", "message_id": "m" * 81}, "message_id"),
        ],
    )
    def test_a_malformed_body_is_a_clear_400(self, body: Any, field: str) -> None:
        status, answer, agent = post(body)
        assert status == 400
        assert answer["error"]["code"] == "bad_request"
        assert field in answer["error"]["message"]
        assert agent.received == []

    def test_a_body_that_is_not_json_is_a_400(self) -> None:
        status, answer, agent = post(None, raw=b"sender=li&message=hi")
        assert status == 400 and answer["error"]["code"] == "bad_request"
        assert agent.received == []

    def test_an_oversized_message_is_a_413(self) -> None:
        status, answer, agent = post(
            {"sender": "li", "message": "字" * (MAX_MESSAGE_CHARACTERS + 1)}
        )
        assert status == 413 and "at most" in answer["error"]["message"]
        assert agent.received == []

    def test_a_long_paste_within_the_limit_is_answered(self) -> None:
        status, answer, agent = post({"sender": "li", "message": "x" * MAX_MESSAGE_CHARACTERS})
        assert status == 200 and len(answer) == 1
        assert len(agent.received) == 1

    def test_a_failing_bot_still_answers_200_without_the_text_in_the_log(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        agent = FakeAgent()
        agent.fail_next = True

        async def main() -> tuple[int, Any]:
            async with (
                serve(DeskRestInput(), agent) as url,
                aiohttp.ClientSession() as http,
                http.post(url, json={"sender": "li", "message": "13912345678"}) as r,
            ):
                return r.status, await r.json()

        status, answer = run(main())
        assert (status, answer) == (200, [])
        assert "13912345678" not in caplog.text


class TestCommands:
    def test_a_button_payload_stays_a_command(self) -> None:
        _, _, agent = post({"sender": "li", "message": '/rate_service{"rating": "5"}'})
        assert agent.received[0].text == '/rate_service{"rating": "5"}'

    @pytest.mark.parametrize(
        "command",
        [
            '/agent_reply{"agent_message": "Pay the fee to account 6222...", "agent_name": "王芳"}',
            '/ticket_resolved{"ticket_number": "SD-100001"}',
            "/handed_back",
        ],
    )
    def test_an_intent_only_the_desk_triggers_is_plain_text(self, command: str) -> None:
        _, _, agent = post({"sender": "li", "message": command})
        [message] = agent.received
        assert not message.text.startswith("/")  # Rasa reads it as words, not a command
        assert message.text[1:] == command[1:]


class TestMessageIds:
    def test_a_message_sent_again_with_its_id_gets_the_first_answer_once(self) -> None:
        agent = FakeAgent()
        sender = f"li-{uuid.uuid4().hex[:8]}"

        async def main() -> list[Any]:
            async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
                answers = []
                for text, message_id in [("转人工", "m-1"), ("转人工", "m-1"), ("谢谢", "m-2")]:
                    body = {"sender": sender, "message": text, "message_id": message_id}
                    async with http.post(url, json=body) as response:
                        answers.append((response.status, await response.json()))
                return answers

        first, again, other = run(main())
        assert first == again == (200, [{"recipient_id": sender, "text": "收到：转人工"}])
        assert other == (200, [{"recipient_id": sender, "text": "收到：谢谢"}])
        assert [m.text for m in agent.received] == ["转人工", "谢谢"]

    @pytest.mark.parametrize("message_id", [7, "", "has space", "x" * 81])
    def test_a_message_id_that_is_not_an_id_is_a_400(self, message_id: Any) -> None:
        status, answer, agent = post({"sender": "li", "message": "hi", "message_id": message_id})
        assert status == 400 and "message_id" in answer["error"]["message"]
        assert agent.received == []


class TestPersonalDataAtRest:
    """What the REST channel keeps in Redis for a customer who types personal data."""

    PHONE, OTHER, EMAIL = "13912345678", "13700001111", "li.lei@example.com"

    def test_bad_input_leaves_nothing_in_plaintext_and_a_500_kb_paste_is_a_clear_413(
        self, stores: Any
    ) -> None:
        if stores.kind != "redis":
            pytest.skip("at rest means Redis (REDIS_URL); memory never reaches a disk")
        import redis

        agent = FakeAgent()
        sender = f"li-{uuid.uuid4().hex[:8]}"
        texts = [
            self.PHONE,  # nothing but a phone number
            f"{self.PHONE}, {self.OTHER} / +86 139 1234 5678",  # several
            f"https://example.com/reset?u={self.EMAIL}&x=1",  # an e-mail inside a URL
            (f"日志 {self.PHONE} {self.EMAIL} " * 1000)[:MAX_MESSAGE_CHARACTERS],  # at the limit
        ]

        async def main() -> list[tuple[int, Any]]:
            channel = DeskRestInput(stores())
            async with serve(channel, agent) as url, aiohttp.ClientSession() as http:
                answers = []
                for number, text in enumerate(texts):
                    body = {"sender": sender, "message": text, "message_id": f"m{number}"}
                    async with http.post(url, json=body) as response:
                        answers.append((response.status, await response.json()))
                huge = {"sender": sender, "message": f"{self.PHONE} " * 43_000}  # ~516 KB
                async with http.post(url, json=huge) as response:
                    answers.append((response.status, await response.json()))
                return answers

        answers = run(main())
        assert [status for status, _ in answers] == [200, 200, 200, 200, 413]
        assert answers[0][1][0]["text"] == f"收到：{self.PHONE}"  # read back in full
        assert answers[-1][1]["error"]["code"] == "bad_request"
        assert self.PHONE not in str(answers[-1][1])
        assert len(agent.received) == 4  # the 500 KB paste never reached the bot

        assert stores.redis_url is not None
        client = redis.Redis.from_url(stores.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{stores.prefix}:*"))
            blob = b" ".join(key + b" " + (client.get(key) or b"") for key in keys)
        finally:
            client.close()
        assert any(b":reply:" in key for key in keys), keys  # the answers were kept...
        for value in (self.PHONE, self.OTHER, "139 1234 5678", self.EMAIL, sender):
            assert value.encode() not in blob  # ...sealed, under the conversation's tag

    def test_a_kept_answer_sealed_with_a_key_that_left_the_ring_is_a_clear_500(
        self, stores: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if stores.kind != "redis":
            pytest.skip("sealing is for Redis (REDIS_URL)")
        from tests.bot.channels.conftest import data_keys

        sender = f"li-{uuid.uuid4().hex[:8]}"
        body = {"sender": sender, "message": self.PHONE, "message_id": "m1"}

        async def send(channel: DeskRestInput) -> tuple[int, Any]:
            async with (
                serve(channel, FakeAgent()) as url,
                aiohttp.ClientSession() as http,
                http.post(url, json=body) as response,
            ):
                return response.status, await response.json()

        assert run(send(DeskRestInput(stores())))[0] == 200
        monkeypatch.setenv("DESK_DATA_KEYS", data_keys("k2"))  # k1 left the ring
        status, answer = run(send(DeskRestInput(stores())))
        assert status == 500 and answer["error"]["code"] == "state_unreadable"
        assert "'k1'" in answer["error"]["message"] and self.PHONE not in str(answer)
