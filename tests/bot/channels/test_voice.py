"""The voice channel driven as the phone gateway drives it: signed JSON turns over HTTP to
the channel served as `rasa run` serves it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels.store import MemoryStore
from bot.channels.voice import (
    InvalidTurn,
    VoiceInput,
    VoiceSettings,
    for_speech,
    parse_turn,
    sign,
)
from tests.bot.channels.conftest import FakeAgent, StoreFactory, run, serve

SECRET = "gateway-secret-for-tests"
CALLER = "+86 139-1234-5678"


def turn(
    call_id: str, transcript: str, *, turn: int | str = 1, confidence: float = 0.95, **extra: Any
) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "turn": turn,
        "caller_number": CALLER,
        "transcript": transcript,
        "confidence": confidence,
        **extra,
    }


def ticket_script(message: UserMessage) -> list[dict[str, Any]]:
    """Answers with markdown, a ticket number, a phone number and buttons."""
    return [
        {
            "text": "已为您创建工单 **SD-100042**，我们会打 13800138000 联系您。",
            "utter_action": "utter_ticket_created",
        },
        {
            "text": "还需要什么帮助？",
            "buttons": [
                {"title": "查询工单", "payload": "/ticket_status"},
                {"title": "转人工", "payload": "/human"},
            ],
            "utter_action": "utter_anything_else",
        },
    ]


Scenario = Callable[[aiohttp.ClientSession, str], Awaitable[Any]]


def run_channel(
    scenario: Scenario,
    agent: FakeAgent,
    *,
    secret: str = SECRET,
    store: Any = None,
    **settings: Any,
) -> Any:
    async def main() -> Any:
        channel = VoiceInput(
            VoiceSettings(secret=secret, **settings),
            store=store() if callable(store) else MemoryStore(),
        )
        async with serve(channel, agent) as url, aiohttp.ClientSession() as http:
            return await scenario(http, url)

    return run(main())


async def send(
    http: aiohttp.ClientSession,
    url: str,
    payload: Any,
    *,
    secret: str = SECRET,
    age: float = 0,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    timestamp = str(int(time.time() - age))
    signed = {
        "X-Desk-Timestamp": timestamp,
        "X-Desk-Signature": sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }
    async with http.post(url, data=body, headers=headers or signed) as reply:
        return reply.status, await reply.json()


class TestSpeech:
    @pytest.mark.parametrize(
        ("text", "spoken"),
        [
            ("工单 **SD-100042** 见 [这里](https://x.y/z)", "工单 SD 1 0 0 0 4 2 见 这里"),
            ("call 13800138000  now", "call 1 3 8 0 0 1 3 8 0 0 0 now"),
            (
                "# Steps\n- unplug the *router*\n- wait `30` s\n> done 👍",
                "Steps unplug the router wait 30 s done",
            ),
            ("1. 重启光猫\n2. 重新拨号 ✅", "重启光猫 重新拨号"),
            (
                "write to li_wei@example.com or see https://desk.example/faq",
                "write to li_wei@example.com or see",
            ),
        ],
    )
    def test_markup_links_and_emoji_go_numbers_are_read_digit_by_digit(
        self, text: str, spoken: str
    ) -> None:
        assert for_speech(text) == spoken


class TestTurnParsing:
    def test_a_better_alternative_wins_and_the_caller_number_is_tidied(self) -> None:
        parsed = parse_turn(
            json.dumps(
                turn(
                    "call-1",
                    "我的订单",
                    confidence=0.5,
                    alternatives=[
                        {"transcript": "我的工单", "confidence": 0.9},
                        {"transcript": "卧的公单", "confidence": 0.2},
                    ],
                )
            ).encode()
        )
        assert parsed == {
            "call_id": "call-1",
            "turn": 1,
            "transcript": "我的工单",
            "confidence": 0.9,
            "caller_number": "+8613912345678",
        }

    @pytest.mark.parametrize("withheld", [None, "anonymous", "unknown"])
    def test_a_withheld_number_is_none(self, withheld: str | None) -> None:
        parsed = parse_turn(json.dumps(turn("c", "hi", caller_number=withheld)).encode())
        assert parsed["caller_number"] is None

    @pytest.mark.parametrize(
        ("payload", "status", "field"),
        [
            (b"{not json", 400, "JSON"),
            (b"[1, 2]", 400, "object"),
            (json.dumps({"transcript": "hi", "turn": 1, "confidence": 1}).encode(), 422, "call_id"),
            (json.dumps(turn("bad id with spaces", "hi")).encode(), 422, "call_id"),
            (
                json.dumps({k: v for k, v in turn("c", "hi").items() if k != "turn"}).encode(),
                422,
                "turn",
            ),
            (json.dumps(turn("c", "hi", turn=-1)).encode(), 422, "turn"),
            (json.dumps(turn("c", "hi", turn=True)).encode(), 422, "turn"),
            (json.dumps(turn("c", "  ")).encode(), 422, "transcript"),
            (json.dumps(turn("c", "x" * 2001)).encode(), 422, "transcript"),
            (json.dumps(turn("c", "hi", confidence=7)).encode(), 422, "confidence"),
            (
                json.dumps(
                    {k: v for k, v in turn("c", "hi").items() if k != "confidence"}
                ).encode(),
                422,
                "confidence",
            ),
            (json.dumps(turn("c", "hi", caller_number=12345)).encode(), 422, "caller_number"),
            (json.dumps(turn("c", "hi", alternatives="x")).encode(), 422, "alternatives"),
            (
                json.dumps(turn("c", "hi", alternatives=[{"transcript": "x"}])).encode(),
                422,
                "alternatives[0].confidence",
            ),
        ],
    )
    def test_bad_turns_name_their_field(self, payload: bytes, status: int, field: str) -> None:
        with pytest.raises(InvalidTurn) as error:
            parse_turn(payload)
        assert error.value.status == status
        assert field in str(error.value)


class TestTurns:
    def test_confident_turn_reaches_the_bot_and_comes_back_as_speech(self) -> None:
        agent = FakeAgent(ticket_script)
        status, body = run_channel(lambda h, u: send(h, u, turn("call-1", "我的宽带坏了")), agent)
        assert status == 200
        assert body == {
            "call_id": "call-1",
            "turn": 1,
            "end_call": False,
            "replies": [
                "已为您创建工单 SD 1 0 0 0 4 2，我们会打 1 3 8 0 0 1 3 8 0 0 0 联系您。",
                "还需要什么帮助？",
                "您可以说：查询工单, 转人工。",  # utter_voice_choices from the domain
            ],
        }
        message = agent.received[0]
        # The call's conversation is namespaced by the connector: no other channel can reach it.
        assert (message.sender_id, message.input_channel, message.text) == (
            "voice:call-1",
            "voice",
            "我的宽带坏了",
        )
        assert message.metadata == {
            "transcript": True,
            "caller_number": "+8613912345678",
            "asr_confidence": 0.95,
            "request_id": message.metadata["request_id"],
        }
        assert len(message.metadata["request_id"]) == 32

    def test_unsure_recogniser_is_confirmed_first(self) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            answers = []
            for payload in (
                turn("call-2", "查一下工单", confidence=0.4),
                turn("call-2", "对的", turn=2),
                turn("call-2", "退货", turn=3, confidence=0.3),
                turn("call-2", "不对", turn=4),
            ):
                answers.append((await send(http, url, payload))[1]["replies"])
            return answers

        heard, after_yes, unsure, after_no = run_channel(scenario, agent)
        assert heard == ["我听到的是：查一下工单。对吗？"]  # utter_confirm_transcript
        assert after_yes == ["收到：查一下工单"]
        assert unsure == ["我听到的是：退货。对吗？"]
        assert after_no == ["好的，请再说一遍。"]  # utter_ask_to_repeat
        assert [m.text for m in agent.received] == ["查一下工单"]  # "退货" never acted on
        assert agent.received[0].metadata["confirmed_by_caller"] is True
        assert agent.received[0].metadata["asr_confidence"] == 0.4

    def test_the_read_back_speaks_the_callers_language(self) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            heard = await send(http, url, turn("call-en", "check my ticket", confidence=0.3))
            no = await send(http, url, turn("call-en", "no", turn=2))
            return [heard[1]["replies"], no[1]["replies"]]

        assert run_channel(scenario, agent) == [
            ["I heard: check my ticket. Is that right?"],
            ["All right, please say that again."],
        ]

    def test_something_new_instead_of_yes_or_no_is_a_turn_of_its_own(self) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            await send(http, url, turn("call-3", "查工单", confidence=0.4))
            clear = await send(http, url, turn("call-3", "我要报修宽带", turn=2))
            await send(http, url, turn("call-3", "退费", turn=3, confidence=0.4))
            unsure_again = await send(http, url, turn("call-3", "发票", turn=4, confidence=0.2))
            return [clear[1]["replies"], unsure_again[1]["replies"]]

        clear, unsure_again = run_channel(scenario, agent)
        assert clear == ["收到：我要报修宽带"]
        assert unsure_again == ["我听到的是：发票。对吗？"]  # unsure too: read back first
        assert [m.text for m in agent.received] == ["我要报修宽带"]

    def test_the_yes_may_reach_another_rasa_instance(self, stores: StoreFactory) -> None:
        agent = FakeAgent()

        async def main() -> list[Any]:
            settings = VoiceSettings(secret=SECRET)
            one, two = VoiceInput(settings, store=stores()), VoiceInput(settings, store=stores())
            async with (
                serve(one, agent) as url_one,
                serve(two, agent) as url_two,
                aiohttp.ClientSession() as http,
            ):
                heard = await send(http, url_one, turn("call-4", "查一下工单", confidence=0.4))
                yes = await send(http, url_two, turn("call-4", "是的", turn=2))
                return [heard[1]["replies"], yes[1]["replies"]]

        heard, yes = run(main())
        assert heard == ["我听到的是：查一下工单。对吗？"]
        assert yes == ["收到：查一下工单"]

    def test_an_agents_reply_between_turns_is_spoken_first_on_the_next_turn(
        self, stores: StoreFactory
    ) -> None:
        agent = FakeAgent()

        async def main() -> list[Any]:
            settings = VoiceSettings(secret=SECRET)
            # The relay's trigger_intent reaches one Rasa instance, the next turn another.
            one, two = VoiceInput(settings, store=stores()), VoiceInput(settings, store=stores())
            pushed = one.get_output_channel()
            assert pushed.name() == "voice"
            # Rasa addresses the call by its conversation id, as the connector named it.
            await pushed.send_text_message("voice:call-7", "客服王芳：请把 **路由器** 重启一下。")
            await pushed.send_text_message("voice:call-7", "重启后告诉我指示灯颜色。")
            async with serve(two, agent) as url, aiohttp.ClientSession() as http:
                first = await send(http, url, turn("call-7", "好的", turn=3))
                again = await send(http, url, turn("call-7", "重启好了", turn=4))
                other = await send(http, url, turn("call-8", "你好"))
            return [first[1]["replies"], again[1]["replies"], other[1]["replies"]]

        first, again, other = run(main())
        assert first == [
            "客服王芳：请把 路由器 重启一下。",
            "重启后告诉我指示灯颜色。",
            "收到：好的",
        ]
        # Spoken once, and only on that call.
        assert again == ["收到：重启好了"]
        assert other == ["收到：你好"]

    def test_a_ticket_card_is_not_spoken(self, stores: StoreFactory) -> None:
        """The card an action sends with a ticket's number (``custom``) is the widget's."""
        card = {"ticket": "SD-100001", "status": "new"}
        text = "已为您创建工单 SD-100001。"
        agent = FakeAgent(lambda m: [{"text": text, "custom": dict(card)}])

        async def main() -> list[Any]:
            channel = VoiceInput(VoiceSettings(secret=SECRET), store=stores())
            # Between turns (a message the desk starts), and as the answer to a turn.
            pushed = channel.get_output_channel()
            await pushed.send_response("voice:call-11", {"text": text, "custom": dict(card)})
            async with serve(channel, agent) as url, aiohttp.ClientSession() as http:
                answer = await send(http, url, turn("call-11", "宽带断了"))
            return answer[1]["replies"]

        assert run(main()) == [for_speech(text), for_speech(text)]
        assert "SD 1 0 0 0 0 1" in for_speech(text)  # the number, read out from the text

    def test_a_repeated_turn_is_answered_once(self, stores: StoreFactory) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            return [await send(http, url, turn("call-5", "你好")) for _ in range(3)]

        answers = run_channel(scenario, agent, store=stores)
        assert len(agent.received) == 1
        assert answers[0] == answers[1] == answers[2]
        assert answers[0][1]["replies"] == ["收到：你好"]

    def test_a_repeat_during_the_first_answer_waits_for_it(self) -> None:
        agent = FakeAgent(delay=0.5, gated=True)

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            first = asyncio.ensure_future(send(http, url, turn("call-6", "你好", turn="t-1")))
            await agent.started.wait()  # the bot is answering the first turn
            repeat = asyncio.ensure_future(send(http, url, turn("call-6", "你好", turn="t-1")))
            agent.release.set()  # the repeat, sent first, waits out the 0.5 s still to go
            return [await first, await repeat]

        first, repeat = run_channel(scenario, agent)
        assert first == repeat
        assert first[1]["turn"] == "t-1"
        assert len(agent.received) == 1

    def test_a_repeat_gives_up_waiting_with_409(self) -> None:
        agent = FakeAgent(gated=True)

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            first = asyncio.ensure_future(send(http, url, turn("call-7", "你好")))
            await agent.started.wait()  # the bot is answering, and stays so until released
            repeat = await send(http, url, turn("call-7", "你好"))
            agent.release.set()
            return [(await first)[0], repeat]

        first, (status, body) = run_channel(scenario, agent, repeat_wait=0.2)
        assert (first, status, body["error"]["code"]) == (200, 409, "turn_in_progress")
        assert len(agent.received) == 1

    def test_a_failed_turn_can_be_retried(self) -> None:
        agent = FakeAgent()
        agent.fail_next = True

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            return [await send(http, url, turn("call-8", "你好")) for _ in range(2)]

        (failed, body), (retried, answer) = run_channel(scenario, agent)
        assert (failed, body["error"]["code"]) == (500, "bot_failed")
        assert (retried, answer["replies"]) == (200, ["收到：你好"])
        assert len(agent.received) == 2

    def test_goodbye_or_an_end_call_payload_ends_the_call(self) -> None:
        def script(message: UserMessage) -> list[dict[str, Any]]:
            if message.text == "再见":
                return [{"text": "再见！", "utter_action": "utter_goodbye"}]
            if message.text == "转人工":
                return [{"text": "正在为您转接。", "custom": {"end_call": True}}]
            return [{"text": "好的。", "utter_action": "utter_how_can_i_help"}]

        agent = FakeAgent(script)

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[bool]:
            ends = []
            for number, said in enumerate(["你好", "再见", "转人工"], 1):
                ends.append(
                    (await send(http, url, turn("call-9", said, turn=number)))[1]["end_call"]
                )
            return ends

        assert run_channel(scenario, agent) == [False, True, True]

    def test_a_spoken_command_is_plain_text_to_rasa(self) -> None:
        agent = FakeAgent()
        run_channel(lambda h, u: send(h, u, turn("call-10", "/restart")), agent)
        assert agent.received[0].text == "／restart"


class TestRefusals:
    def test_signatures_and_bad_payloads(self) -> None:
        agent = FakeAgent()
        good = turn("call-11", "你好")
        body = json.dumps(good).encode()
        old = str(int(time.time()) - 3600)
        replayed = {  # an old request's signature with a fresh timestamp header
            "X-Desk-Timestamp": str(int(time.time())),
            "X-Desk-Signature": sign(SECRET, old, body),
        }

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[tuple[int, str]]:
            results = [
                await send(http, url, good, secret="forged"),
                await send(http, url, good, age=3600),
                await send(http, url, good, raw=body, headers=replayed),
                await send(http, url, good, headers={"Content-Type": "application/json"}),
                await send(http, url, None, raw=b"{not json"),
                await send(http, url, {"call_id": "x", "turn": 1, "transcript": ""}),
                await send(http, url, turn("x", "hi", confidence=7)),
                await send(http, url, None, raw=b"x" * 40_000),
            ]
            return [(status, reply["error"]["code"]) for status, reply in results]

        assert run_channel(scenario, agent) == [
            (401, "bad_signature"),
            (401, "bad_signature"),
            (401, "bad_signature"),
            (401, "bad_signature"),
            (400, "invalid_json"),
            (422, "invalid_turn"),
            (422, "invalid_turn"),
            (413, "payload_too_large"),
        ]
        assert agent.received == []

    def test_without_a_secret_it_is_503(self) -> None:
        agent = FakeAgent()
        status, body = run_channel(
            lambda h, u: send(h, u, turn("call-12", "你好"), secret=""), agent, secret=""
        )
        assert (status, body["error"]["code"]) == (503, "not_configured")
        assert agent.received == []

    @pytest.mark.parametrize(
        ("config", "message"),
        [({"confirm_below": 2}, "confirm_below"), ({"repeat_wait": "x"}, "repeat_wait")],
    )
    def test_bad_settings_are_refused_at_start(self, config: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            VoiceSettings.from_credentials({"secret": "s", **config})

    def test_settings_lists_accept_yaml_lists_or_commas(self) -> None:
        settings = VoiceSettings.from_credentials(
            {
                "secret": "s",
                "affirm_intents": ["affirm", "yes"],
                "end_call_after": "utter_goodbye, utter_bye",
            }
        )
        assert settings.affirm_intents == ("affirm", "yes")
        assert settings.end_call_after == ("utter_goodbye", "utter_bye")
