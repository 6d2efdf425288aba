"""The WeChat channel driven as WeChat drives it: signed XML pushes over HTTP to a real
Sanic server, and a local fake of the customer-service API that checks what it gets."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import defusedxml.ElementTree as SafeXml
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.dedupe import MemoryDeduper, RedisDeduper
from bot.channels.wechat import (
    CustomerServiceClient,
    WeChatInput,
    WeChatSettings,
    parse_push,
    render_messages,
    signature_of,
    signature_ok,
    text_reply,
)

TOKEN = "wechat-test-token"
OPENID = "oCustomerOpenId0001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def push_xml(msg_type: str = "text", *, msg_id: str | None = "1001", **fields: str) -> bytes:
    parts = [
        "<xml>",
        "<ToUserName><![CDATA[gh_desk]]></ToUserName>",
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>",
        f"<CreateTime>{int(time.time())}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
    if msg_id:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    parts.append("</xml>")
    return "".join(parts).encode()


def signed(token: str = TOKEN, *, age: float = 0) -> dict[str, str]:
    timestamp, nonce = str(int(time.time() - age)), uuid.uuid4().hex[:10]
    return {
        "signature": signature_of(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


@dataclass
class FakeBot:
    """Stands in for Rasa's agent: records messages, answers after a delay."""

    delay: float = 0.0
    received: list[UserMessage] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await asyncio.sleep(self.delay)
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")
        await message.output_channel.send_text_with_buttons(
            message.sender_id, "还有别的吗？", [{"title": "查询工单", "payload": "/ticket_status"}]
        )


@dataclass
class FakeWeChatApi:
    """The customer-service API: checks the credentials and the token it issued."""

    tokens_issued: int = 0
    refuse_next_send_with: int | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        return app

    async def token(self, request: web.Request) -> web.Response:
        query = request.query
        if (query.get("grant_type"), query.get("appid"), query.get("secret")) != (
            "client_credential",
            "wx-app",
            "wx-secret",
        ):
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.tokens_issued += 1
        return web.json_response(
            {"access_token": f"token-{self.tokens_issued}", "expires_in": 7200}
        )

    async def send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != f"token-{self.tokens_issued}":
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.refuse_next_send_with:
            code, self.refuse_next_send_with = self.refuse_next_send_with, None
            return web.json_response({"errcode": code, "errmsg": "expired"})
        self.sent.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})


Scenario = Callable[[aiohttp.ClientSession, str], Awaitable[Any]]


def run_channel(
    scenario: Scenario,
    *,
    bot: FakeBot,
    api: FakeWeChatApi | None = None,
    budget: float = 2.0,
    deduper: Any = None,
    settle: float = 0.0,
) -> Any:
    """Serve the channel on a real port, run the scenario against it, then stop."""

    async def main() -> Any:
        api_server = TestServer(api.app()) if api else None
        if api_server:
            await api_server.start_server()
        settings = WeChatSettings(
            token=TOKEN,
            app_id="wx-app",
            app_secret="wx-secret",
            api_base=str(api_server.make_url("")).rstrip("/")
            if api_server
            else "http://127.0.0.1:9",
            reply_budget=budget,
        )
        channel = WeChatInput(settings, deduper=deduper or MemoryDeduper())
        # Several Sanic apps in one process: test mode keeps Sanic's start-up rewrite of
        # its HTTP class from being applied twice.
        Sanic.test_mode = True
        app = Sanic(f"wechat_test_{uuid.uuid4().hex[:8]}")
        app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/wechat")
        port = free_port()
        server = await app.create_server(
            host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
        )
        await server.startup()
        try:
            async with aiohttp.ClientSession() as http:
                result = await scenario(http, f"http://127.0.0.1:{port}/webhooks/wechat/webhook")
                await asyncio.sleep(settle)
                return result
        finally:
            server.close()
            await server.wait_closed()
            if api_server:
                await api_server.close()

    return asyncio.run(main())


async def post(http: aiohttp.ClientSession, url: str, body: bytes, **query: str) -> tuple[int, str]:
    async with http.post(url, params=query or signed(), data=body) as reply:
        return reply.status, await reply.text()


class TestSignature:
    def test_good_stale_and_forged(self) -> None:
        now = time.time()
        ts = str(int(now))
        good = signature_of(TOKEN, ts, "n1")
        assert signature_ok(TOKEN, signature=good, timestamp=ts, nonce="n1", now=now, window=300)
        assert not signature_ok(
            TOKEN, signature=good, timestamp=ts, nonce="n1", now=now + 400, window=300
        )
        assert not signature_ok(
            "other", signature=good, timestamp=ts, nonce="n1", now=now, window=300
        )
        assert not signature_ok(
            TOKEN, signature=good, timestamp="abc", nonce="n1", now=now, window=300
        )

    def test_known_vector(self) -> None:
        # sha1("1409659813" + "nonce" + "token") with the three parts sorted
        assert (
            signature_of("token", "1409659813", "nonce")
            == __import__("hashlib").sha1(b"1409659813noncetoken").hexdigest()
        )


class TestParsing:
    def test_voice_recognition_and_events(self) -> None:
        voice = parse_push(push_xml("voice", Recognition="我的宽带连不上了", MediaId="m1"))
        assert (voice.msg_type, voice.recognition) == ("voice", "我的宽带连不上了")
        event = parse_push(push_xml("event", msg_id=None, Event="subscribe"))
        assert event.event == "subscribe" and event.dedupe_key.startswith(OPENID)

    def test_entities_are_refused(self) -> None:
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;">]><xml><ToUserName>&b;</ToUserName></xml>'
        )
        with pytest.raises(ValueError):
            parse_push(bomb)

    def test_reply_xml_escapes_cdata_ends(self) -> None:
        push = parse_push(push_xml(Content="hi"))
        reply = SafeXml.fromstring(text_reply(push, "a ]]> b", now=0))
        assert reply.find("Content").text == "a ]]> b"
        assert reply.find("ToUserName").text == OPENID

    def test_buttons_become_a_numbered_list(self) -> None:
        rendered = render_messages(
            [{"text": "请选择"}, {"text": "", "buttons": [{"title": "是"}, {"title": "否"}]}]
        )
        assert rendered == "请选择\n\n1. 是\n2. 否"


class TestPushes:
    def test_url_verification(self) -> None:
        async def scenario(http: aiohttp.ClientSession, url: str) -> list[tuple[int, str]]:
            results = []
            for query in ({**signed(), "echostr": "e123"}, {**signed("wrong"), "echostr": "e"}):
                async with http.get(url, params=query) as reply:
                    results.append((reply.status, await reply.text()))
            return results

        assert run_channel(scenario, bot=FakeBot()) == [(200, "e123"), (403, "bad signature")]

    def test_text_gets_a_passive_reply_in_time(self) -> None:
        bot = FakeBot()
        status, body = run_channel(
            lambda http, url: post(http, url, push_xml(Content="我的宽带连不上了")), bot=bot
        )
        assert status == 200
        reply = SafeXml.fromstring(body)
        assert reply.find("Content").text == "收到：我的宽带连不上了\n\n还有别的吗？\n\n1. 查询工单"
        message = bot.received[0]
        assert (message.sender_id, message.input_channel) == (OPENID, "wechat")

    def test_bad_or_stale_signature_is_403_and_never_processed(self) -> None:
        bot = FakeBot()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[int]:
            forged = (await post(http, url, push_xml(Content="x"), **signed("forged")))[0]
            stale = (await post(http, url, push_xml(Content="x"), **signed(age=3600)))[0]
            unsigned = (await post(http, url, push_xml(Content="x"), nonce="n"))[0]
            return [forged, stale, unsigned]

        assert run_channel(scenario, bot=bot) == [403, 403, 403]
        assert bot.received == []

    def test_retries_are_processed_once(self) -> None:
        bot = FakeBot()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[str]:
            body = push_xml(Content="退货怎么办", msg_id="777")
            return [(await post(http, url, body))[1] for _ in range(3)]

        replies = run_channel(scenario, bot=bot)
        assert len(bot.received) == 1
        # A retry whose first answer got lost gets the same answer again, not a new turn.
        assert replies[0] == replies[1] == replies[2]

    def test_malformed_and_oversized_pushes(self) -> None:
        bot = FakeBot()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[int]:
            return [
                (await post(http, url, b"<xml><oops"))[0],
                (await post(http, url, b"<xml><MsgType>text</MsgType></xml>"))[0],
                (await post(http, url, b"<xml>" + b"a" * 70_000 + b"</xml>"))[0],
            ]

        assert run_channel(scenario, bot=bot) == [400, 400, 413]
        assert bot.received == []

    def test_voice_goes_in_as_a_transcript(self) -> None:
        bot = FakeBot()
        run_channel(lambda h, u: post(h, u, push_xml("voice", Recognition="查一下工单")), bot=bot)
        assert bot.received[0].text == "查一下工单"
        assert bot.received[0].metadata["transcript"] is True

    def test_images_get_a_polite_answer_without_the_bot(self) -> None:
        bot = FakeBot()
        _, body = run_channel(
            lambda h, u: post(h, u, push_xml("image", PicUrl="http://x/p.jpg")), bot=bot
        )
        assert "只能读文字和语音" in SafeXml.fromstring(body).find("Content").text
        assert bot.received == []

    def test_subscribe_greets_unsubscribe_is_silent(self) -> None:
        bot = FakeBot()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[str]:
            hello = await post(http, url, push_xml("event", msg_id=None, Event="subscribe"))
            bye = await post(http, url, push_xml("event", msg_id=None, Event="unsubscribe"))
            return [hello[1], bye[1]]

        _hello, bye = run_channel(scenario, bot=bot)
        assert bot.received[0].text == '/greet{"language": "zh"}'
        assert bye == "success"

    def test_slow_bot_answers_success_then_through_the_customer_service_api(self) -> None:
        bot, api = FakeBot(delay=0.6), FakeWeChatApi()
        status, body = run_channel(
            lambda h, u: post(h, u, push_xml(Content="发票怎么开")),
            bot=bot,
            api=api,
            budget=0.2,
            settle=1.5,
        )
        assert (status, body) == (200, "success")
        assert api.sent == [
            {
                "touser": OPENID,
                "msgtype": "text",
                "text": {"content": "收到：发票怎么开\n\n还有别的吗？\n\n1. 查询工单"},
            }
        ]


class TestCustomerServiceClient:
    def test_token_is_cached_and_refreshed_when_refused(self) -> None:
        api = FakeWeChatApi()

        async def main() -> None:
            server = TestServer(api.app())
            await server.start_server()
            try:
                client = CustomerServiceClient(
                    "wx-app", "wx-secret", str(server.make_url("")).rstrip("/")
                )
                await client.send_text(OPENID, "one")
                await client.send_text(OPENID, "two")
                assert api.tokens_issued == 1  # cached
                api.refuse_next_send_with = 42001  # expired early
                await client.send_text(OPENID, "three")
                assert api.tokens_issued == 2
            finally:
                await server.close()

        asyncio.run(main())
        assert [m["text"]["content"] for m in api.sent] == ["one", "two", "three"]


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_two_instances_share_the_redis_dedupe() -> None:
    prefix = f"test:wechat:{uuid.uuid4().hex[:8]}"

    async def main() -> list[bool]:
        first = RedisDeduper(os.environ["REDIS_URL"], prefix=prefix)
        second = RedisDeduper(os.environ["REDIS_URL"], prefix=prefix)
        claims = [await first.claim("m1"), await second.claim("m1"), await second.claim("m2")]
        await first.remember_reply("m1", "<xml/>")
        assert await second.reply_for("m1") == "<xml/>"
        return claims

    assert asyncio.run(main()) == [True, False, True]
