"""The voice channel driven as the phone gateway drives it: signed JSON turns over HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.voice import VoiceInput, VoicePhrases, answer_of, for_speech, sign

SECRET = "gateway-secret-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FakeBot:
    received: list[UserMessage] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await message.output_channel.send_text_message(
            message.sender_id, "已为您创建工单 **SD-100042**，我们会打 13800138000 联系您。"
        )
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            "还需要什么帮助？",
            [
                {"title": "查询工单", "payload": "/ticket_status"},
                {"title": "转人工", "payload": "/human"},
            ],
        )


def turn(
    call_id: str, transcript: str, *, turn: int = 1, confidence: float = 0.95, **extra: Any
) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "turn": turn,
        "caller_number": "+8613912345678",
        "transcript": transcript,
        "confidence": confidence,
        **extra,
    }


def run(scenario, bot: FakeBot, *, secret: str = SECRET) -> Any:
    async def main() -> Any:
        channel = VoiceInput(secret=secret, confirm_below=0.6)
        Sanic.test_mode = True
        app = Sanic(f"voice_test_{uuid.uuid4().hex[:8]}")
        app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/voice")
        port = free_port()
        server = await app.create_server(
            host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
        )
        await server.startup()
        try:
            async with aiohttp.ClientSession() as http:
                return await scenario(http, f"http://127.0.0.1:{port}/webhooks/voice/webhook")
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


async def send(
    http: aiohttp.ClientSession,
    url: str,
    payload: Any,
    *,
    secret: str = SECRET,
    age: float = 0,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    timestamp = str(int(time.time() - age))
    headers = {
        "X-Desk-Timestamp": timestamp,
        "X-Desk-Signature": sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }
    async with http.post(url, data=body, headers=headers) as reply:
        return reply.status, await reply.json()


class TestSpeech:
    def test_markup_goes_numbers_are_read_digit_by_digit(self) -> None:
        assert (
            for_speech("工单 **SD-100042** 见 [这里](https://x.y/z)")
            == "工单 SD 1 0 0 0 4 2 见 这里"
        )
        assert for_speech("call 13800138000  now") == "call 1 3 8 0 0 1 3 8 0 0 0 now"

    def test_yes_and_no(self) -> None:
        phrases = VoicePhrases()
        assert [
            answer_of(t, phrases) for t in ("对的", "Yes, right.", "不对", "no", "我的宽带坏了")
        ] == ["yes", "yes", "no", "no", None]


class TestTurns:
    def test_confident_turn_reaches_the_bot_and_comes_back_as_speech(self) -> None:
        bot = FakeBot()
        status, body = run(lambda h, u: send(h, u, turn("call-1", "我的宽带坏了")), bot)
        assert status == 200
        assert body == {
            "call_id": "call-1",
            "turn": 1,
            "end_call": False,
            "replies": [
                "已为您创建工单 SD 1 0 0 0 4 2，我们会打 1 3 8 0 0 1 3 8 0 0 0 联系您。",
                "还需要什么帮助？",
                "您可以说：查询工单、转人工。",
            ],
        }
        message = bot.received[0]
        assert (message.sender_id, message.input_channel) == ("call-1", "voice")
        assert message.metadata == {
            "transcript": True,
            "caller_number": "+8613912345678",
            "asr_confidence": 0.95,
        }

    def test_unsure_recogniser_is_confirmed_first(self) -> None:
        bot = FakeBot()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            heard = await send(http, url, turn("call-2", "查一下工单", confidence=0.4))
            yes = await send(http, url, turn("call-2", "对的", turn=2))
            unsure = await send(http, url, turn("call-2", "退货", turn=3, confidence=0.3))
            no = await send(http, url, turn("call-2", "不对", turn=4))
            return [
                heard[1]["replies"],
                yes[1]["replies"][0],
                unsure[1]["replies"],
                no[1]["replies"],
            ]

        heard, after_yes, unsure, after_no = run(scenario, bot)
        assert heard == ["我听到的是：查一下工单。对吗？"]
        assert after_yes.startswith("已为您创建工单")
        assert [m.text for m in bot.received] == ["查一下工单"]  # "退货" was never acted on
        assert unsure == ["我听到的是：退货。对吗？"]
        assert after_no == ["好的，请再说一遍您的问题。"]

    def test_a_better_alternative_wins(self) -> None:
        bot = FakeBot()
        payload = turn(
            "call-3",
            "我的订单",
            confidence=0.5,
            alternatives=[{"transcript": "我的工单", "confidence": 0.9}],
        )
        run(lambda h, u: send(h, u, payload), bot)
        assert bot.received[0].text == "我的工单"

    def test_a_repeated_turn_is_answered_once(self) -> None:
        bot = FakeBot()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[Any]:
            return [await send(http, url, turn("call-4", "你好")) for _ in range(3)]

        answers = run(scenario, bot)
        assert len(bot.received) == 1
        assert answers[0] == answers[1] == answers[2]

    def test_signatures_and_bad_payloads(self) -> None:
        bot = FakeBot()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[int]:
            good = turn("call-5", "你好")
            return [
                (await send(http, url, good, secret="forged"))[0],
                (await send(http, url, good, age=3600))[0],
                (await send(http, url, None, raw=b"{not json"))[0],
                (await send(http, url, {"call_id": "x", "transcript": ""}))[0],
                (await send(http, url, {"call_id": "x", "transcript": "hi", "confidence": 7}))[0],
                (await send(http, url, None, raw=b"x" * 40_000))[0],
            ]

        assert run(scenario, bot) == [401, 401, 422, 422, 422, 413]
        assert bot.received == []
