"""The WeChat channel driven as WeChat drives it: signed XML pushes over HTTP to the channel
served as `rasa run` serves it, and a local fake of the WeChat API that checks what it gets."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import defusedxml.ElementTree as SafeXml
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.core.channels.channel import UserMessage
from rasa.core.run import create_http_input_channels
from rasa.shared.exceptions import RasaException

import bot.channels.wechat as wechat
from bot.channels.store import MemoryStore, conversation_tag
from bot.channels.wechat import (
    MAX_TEXT_BYTES,
    CustomerServiceClient,
    CustomerServiceError,
    EncryptedPush,
    MalformedPush,
    Push,
    WeChatInput,
    WeChatSettings,
    chosen_payload,
    parse_push,
    render_messages,
    signature_of,
    signature_ok,
    split_text,
    text_reply,
)
from tests.bot.channels.conftest import ROOT, FakeAgent, StoreFactory, run, serve

TOKEN = "wechat-test-token"
OPENID = "oCustomerOpenId0001"
APP_ID, APP_SECRET = "wx-app", "wx-secret"

DOMAIN_ZH_CANNOT_READ = "抱歉，我暂时只能看懂文字和语音消息。请用文字描述一下您的问题，我来帮您。"
DOMAIN_EN_CANNOT_READ = (
    "Sorry, I can only read text and voice messages for now. "
    "Please describe the problem in words and I'll help."
)


def push_xml(
    msg_type: str = "text", *, msg_id: str | None = None, openid: str = OPENID, **fields: str
) -> bytes:
    """A push as WeChat sends it; a fresh MsgId unless one is given."""
    parts = [
        "<xml>",
        "<ToUserName><![CDATA[gh_desk]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{int(time.time())}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
    if msg_type != "event":
        parts.append(f"<MsgId>{msg_id or uuid.uuid4().int % 10**18}</MsgId>")
    parts.append("</xml>")
    return "".join(parts).encode()


def signed(token: str = TOKEN, *, age: float = 0) -> dict[str, str]:
    timestamp, nonce = str(int(time.time() - age)), uuid.uuid4().hex[:10]
    return {
        "signature": signature_of(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


def content_of(body: str) -> str:
    reply = SafeXml.fromstring(body)
    assert reply.findtext("MsgType") == "text"
    assert reply.findtext("ToUserName") == OPENID
    assert reply.findtext("FromUserName") == "gh_desk"
    return reply.findtext("Content") or ""


@dataclass
class FakeWeChatApi:
    """The token, customer-service and template endpoints: check credentials, token and
    JSON body. ``outside_window`` makes custom/send answer 45015, as WeChat does for a
    follower who has not written in 48 hours."""

    tokens_issued: int = 0
    token_lifetime: int = 7200  # WeChat's expires_in
    refuse_next_send_with: int | None = None
    outside_window: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event | None = None
    expected_sends: int = 1

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        app.router.add_post("/cgi-bin/message/template/send", self.template)
        return app

    async def template(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != f"token-{self.tokens_issued}":
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        body = await request.json()
        if set(body) - {"touser", "template_id", "data", "url"} or not body.get("template_id"):
            return web.json_response({"errcode": 40037, "errmsg": "invalid template_id"})
        data = body.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            return web.json_response({"errcode": 47001, "errmsg": "data format error"})
        self.templates.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.templates)})

    async def token(self, request: web.Request) -> web.Response:
        query = request.query
        if (query.get("grant_type"), query.get("appid"), query.get("secret")) != (
            "client_credential",
            APP_ID,
            APP_SECRET,
        ):
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.tokens_issued += 1
        return web.json_response(
            {"access_token": f"token-{self.tokens_issued}", "expires_in": self.token_lifetime}
        )

    async def send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != f"token-{self.tokens_issued}":
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.refuse_next_send_with:
            code, self.refuse_next_send_with = self.refuse_next_send_with, None
            return web.json_response({"errcode": code, "errmsg": "refused"})
        if self.outside_window:
            return web.json_response({"errcode": 45015, "errmsg": "response out of time limit"})
        body = await request.json()
        if set(body) != {"touser", "msgtype", "text"} or body["msgtype"] != "text":
            return web.json_response({"errcode": 44002, "errmsg": "bad body"})
        if len(body["text"]["content"].encode()) > 2048:
            return web.json_response({"errcode": 45002, "errmsg": "content size out of limit"})
        self.sent.append(body)
        if self.arrived is not None and len(self.sent) >= self.expected_sends:
            self.arrived.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})


Scenario = Callable[[aiohttp.ClientSession, str], Awaitable[Any]]


def run_channel(
    scenario: Scenario,
    *,
    agent: FakeAgent,
    api: FakeWeChatApi | None = None,
    budget: float = 3.0,
    store: Any = None,
    token: str = TOKEN,
    template_id: str = "",
) -> Any:
    """Serve the channel (and the fake WeChat API), run the scenario against it, stop."""

    async def main() -> Any:
        api_server = TestServer(api.app()) if api else None
        if api_server:
            await api_server.start_server()
            api.arrived = asyncio.Event()
        settings = WeChatSettings(
            token=token,
            app_id=APP_ID if api else "",
            app_secret=APP_SECRET if api else "",
            api_base=str(api_server.make_url("")).rstrip("/") if api_server else "http://x.invalid",
            reply_budget=budget,
            template_id=template_id,
        )
        channel = WeChatInput(settings, store=store() if callable(store) else MemoryStore())
        try:
            async with serve(channel, agent) as url, aiohttp.ClientSession() as http:
                outcome = await scenario(http, url)
                # Whatever the channel still had to do (answers sent later through the
                # API) is done: what the fake API holds now is everything it will get.
                await settled(channel)
                return outcome
        finally:
            if api_server:
                await api_server.close()

    return run(main())


async def post(http: aiohttp.ClientSession, url: str, body: bytes, **query: str) -> tuple[int, str]:
    async with http.post(url, params=query or signed(), data=body) as reply:
        return reply.status, await reply.text()


async def settled(channel: WeChatInput, timeout: float = 30.0) -> None:
    """Wait until the channel has no work left in the background (answers it sends later)."""
    async with asyncio.timeout(timeout):
        while channel._background:
            await asyncio.gather(*channel._background, return_exceptions=True)


async def sent_through_api(api: FakeWeChatApi, count: int = 1, timeout: float = 5.0) -> None:
    """Wait until the fake API has received ``count`` messages."""
    api.expected_sends = count
    assert api.arrived is not None
    if len(api.sent) < count:
        await asyncio.wait_for(api.arrived.wait(), timeout)


class TestSignature:
    def test_good_stale_forged_and_malformed(self) -> None:
        now = time.time()
        ts = str(int(now))
        good = signature_of(TOKEN, ts, "n1")
        kwargs = {"timestamp": ts, "nonce": "n1", "window": 300}
        assert signature_ok(TOKEN, signature=good, now=now, **kwargs)
        assert signature_ok(TOKEN, signature=good.upper(), now=now, **kwargs)
        assert not signature_ok(TOKEN, signature=good, now=now + 400, **kwargs)
        assert not signature_ok(TOKEN, signature=good, now=now - 400, **kwargs)
        assert not signature_ok("other", signature=good, now=now, **kwargs)
        assert not signature_ok("", signature=signature_of("", ts, "n1"), now=now, **kwargs)
        assert not signature_ok(
            TOKEN, signature=good, timestamp="abc", nonce="n1", now=now, window=300
        )

    def test_known_vector(self) -> None:
        # sha1 of the three parts sorted and joined: "1409659813" < "nonce" < "token"
        expected = hashlib.sha1(b"1409659813noncetoken").hexdigest()
        assert signature_of("token", "1409659813", "nonce") == expected


class TestParsing:
    def test_text_voice_and_events(self) -> None:
        text = parse_push(push_xml(Content=" 你好 ", msg_id="42"))
        # Keyed by the follower's conversation tag (what erasure finds), never the openid.
        tag = conversation_tag(f"wechat:{OPENID}")
        assert (text.msg_type, text.content, text.msg_id, text.dedupe_key) == (
            "text",
            "你好",
            "42",
            f"{tag}:42",
        )
        voice = parse_push(push_xml("voice", Recognition="我的宽带连不上了", MediaId="m1"))
        assert (voice.msg_type, voice.recognition) == ("voice", "我的宽带连不上了")
        event = parse_push(push_xml("event", Event="subscribe"))
        assert event.event == "subscribe" and event.msg_id is None
        assert event.dedupe_key == f"{tag}:{event.create_time}:subscribe"
        assert OPENID not in event.dedupe_key

    def test_entity_bombs_and_external_entities_are_refused(self) -> None:
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;">]><xml><ToUserName>&b;</ToUserName></xml>'
        )
        xxe = (
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
            b"<MsgType>text</MsgType><Content>&x;</Content></xml>"
        )
        for body in (bomb, xxe):
            with pytest.raises(MalformedPush):
                parse_push(body)

    def test_missing_fields_and_encrypted_mode(self) -> None:
        with pytest.raises(MalformedPush, match="required"):
            parse_push(b"<xml><MsgType>text</MsgType></xml>")
        with pytest.raises(EncryptedPush, match="plaintext"):
            parse_push(b"<xml><ToUserName>gh</ToUserName><Encrypt>abc==</Encrypt></xml>")

    def test_reply_xml_escapes_cdata_ends(self) -> None:
        push = parse_push(push_xml(Content="hi"))
        reply = SafeXml.fromstring(text_reply(push, "a ]]> b", now=0))
        assert reply.findtext("Content") == "a ]]> b"
        assert reply.findtext("ToUserName") == OPENID

    def test_buttons_become_a_numbered_list_and_links_stay(self) -> None:
        rendered = render_messages(
            [
                {"text": "请选择"},
                {"text": "", "buttons": [{"title": "是"}, {"title": "否"}]},
                {"image": "https://desk.example/a.png"},
            ]
        )
        assert rendered == "请选择\n\n1. 是\n2. 否\n\nhttps://desk.example/a.png"

    def test_a_choice_is_picked_by_number_or_title(self) -> None:
        choices = [
            {"title": "查询工单", "payload": "/ticket_status"},
            {"title": "Agent", "payload": "/human"},
        ]
        assert chosen_payload("1", choices) == "/ticket_status"
        assert chosen_payload(" 2。", choices) == "/human"
        assert chosen_payload("agent", choices) == "/human"
        assert chosen_payload("3", choices) is None
        assert chosen_payload("1 号宽带坏了", choices) is None

    def test_long_texts_are_split_under_the_limit(self) -> None:
        paragraph = "宽带故障排查步骤。" * 60  # 1620 bytes
        content = "\n\n".join([paragraph, paragraph, "x" * 5000])
        chunks = split_text(content)
        assert len(chunks) >= 4
        assert all(len(c.encode()) <= MAX_TEXT_BYTES for c in chunks)
        assert "".join(chunks).replace("\n", "") == content.replace("\n", "")
        assert split_text("短消息") == ["短消息"]


class TestSettings:
    """The real credentials.yml, read by Rasa, with secrets from the environment."""

    def test_secrets_come_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("WECHAT_TOKEN", "from-env")
        monkeypatch.setenv("WECHAT_APP_ID", "wx123")
        monkeypatch.setenv("WECHAT_APP_SECRET", "s3cret")
        monkeypatch.setenv("WECHAT_API_BASE", "")
        monkeypatch.setenv("WECHAT_TEMPLATE_ID", "TPL-progress")
        monkeypatch.setenv("VOICE_GATEWAY_SECRET", "")
        channels = create_http_input_channels(None, str(ROOT / "bot" / "credentials.yml"))
        wechat = next(c for c in channels if c.name() == "wechat")
        assert isinstance(wechat, WeChatInput)
        settings = wechat.settings
        assert (settings.token, settings.app_id, settings.app_secret) == (
            "from-env",
            "wx123",
            "s3cret",
        )
        assert settings.api_base == "https://api.weixin.qq.com"
        assert settings.template_id == "TPL-progress"
        assert (settings.reply_budget, settings.timestamp_window) == (4.5, 300)
        assert wechat.get_output_channel() is not None  # app id and secret: the API is on

    def test_an_unset_variable_stops_rasa_with_its_name(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in (
            "WECHAT_APP_ID",
            "WECHAT_APP_SECRET",
            "WECHAT_API_BASE",
            "WECHAT_TEMPLATE_ID",
            "VOICE_GATEWAY_SECRET",
        ):
            monkeypatch.setenv(name, "")
        monkeypatch.delenv("WECHAT_TOKEN", raising=False)
        with pytest.raises(RasaException, match="WECHAT_TOKEN"):
            create_http_input_channels(None, str(ROOT / "bot" / "credentials.yml"))

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ({"reply_budget": 5}, "reply_budget"),
            ({"reply_budget": "soon"}, "reply_budget"),
            ({"timestamp_window": 0}, "timestamp_window"),
            ({"api_base": "ftp://x"}, "api_base"),
        ],
    )
    def test_bad_values_are_refused_at_start(self, config: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            WeChatSettings.from_credentials({"token": "t", **config})


class TestVerification:
    def test_url_verification(self) -> None:
        async def scenario(http: aiohttp.ClientSession, url: str) -> list[tuple[int, str]]:
            results = []
            for query in (
                {**signed(), "echostr": "e123"},
                {**signed("wrong"), "echostr": "e"},
                {**signed(age=3600), "echostr": "e"},
            ):
                async with http.get(url, params=query) as reply:
                    results.append((reply.status, await reply.text()))
            return results

        assert run_channel(scenario, agent=FakeAgent()) == [
            (200, "e123"),
            (403, "bad signature"),
            (403, "bad signature"),
        ]

    def test_without_a_token_everything_is_503(self) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[int]:
            async with http.get(url, params={**signed(""), "echostr": "e"}) as verify:
                pass
            status, _ = await post(http, url, push_xml(Content="你好"), **signed(""))
            return [verify.status, status]

        assert run_channel(scenario, agent=agent, token="") == [503, 503]
        assert agent.received == []


class TestMessages:
    def test_text_gets_a_passive_reply_in_time(self) -> None:
        agent = FakeAgent()
        status, body = run_channel(
            lambda http, url: post(http, url, push_xml(Content="我的宽带连不上了")), agent=agent
        )
        assert status == 200
        assert content_of(body) == "收到：我的宽带连不上了"
        message = agent.received[0]
        # The follower's conversation is namespaced by the connector (wechat:<openid>).
        assert (message.sender_id, message.input_channel) == (f"wechat:{OPENID}", "wechat")
        assert message.metadata["wechat"] == {"to_user": "gh_desk", "msg_type": "text"}
        assert "transcript" not in message.metadata

    def test_bad_stale_or_missing_signature_is_403_and_never_processed(self) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[int]:
            body = push_xml(Content="x")
            return [
                (await post(http, url, body, **signed("forged")))[0],
                (await post(http, url, body, **signed(age=3600)))[0],
                (await post(http, url, body, **signed(age=-3600)))[0],
                (await post(http, url, body, nonce="n", timestamp=str(int(time.time()))))[0],
            ]

        assert run_channel(scenario, agent=agent) == [403, 403, 403, 403]
        assert agent.received == []

    def test_malformed_hostile_oversized_and_encrypted_pushes(self) -> None:
        agent = FakeAgent()
        xxe = (
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
            b"<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>"
        )

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[tuple[int, str]]:
            results = []
            for body in (
                b"<xml><oops",
                b"<xml><MsgType>text</MsgType></xml>",
                xxe,
                b"<xml>" + b"a" * 70_000 + b"</xml>",
                b"<xml><ToUserName>gh</ToUserName><Encrypt>abc==</Encrypt></xml>",
            ):
                results.append(await post(http, url, body))
            return results

        results = run_channel(scenario, agent=agent)
        assert [status for status, _ in results] == [400, 400, 400, 413, 501]
        assert "root:" not in "".join(text for _, text in results)
        assert "plaintext" in results[4][1]
        assert agent.received == []

    def test_a_typed_command_is_plain_text_to_rasa(self) -> None:
        agent = FakeAgent()
        run_channel(lambda h, u: post(h, u, push_xml(Content="/restart")), agent=agent)
        assert agent.received[0].text == "／restart"

    def test_voice_goes_in_as_a_transcript(self) -> None:
        agent = FakeAgent()
        _, body = run_channel(
            lambda h, u: post(h, u, push_xml("voice", Recognition="查一下工单", MediaId="m1")),
            agent=agent,
        )
        assert agent.received[0].text == "查一下工单"
        assert agent.received[0].metadata["transcript"] is True
        assert content_of(body) == "收到：查一下工单"

    def test_voice_without_a_transcript_gets_the_domain_apology(self) -> None:
        agent = FakeAgent()
        _, body = run_channel(
            lambda h, u: post(h, u, push_xml("voice", MediaId="m1", Recognition="")), agent=agent
        )
        assert content_of(body) == "抱歉，没有听清您的语音。请再说一次，或者直接打字告诉我。"
        assert agent.received == []

    @pytest.mark.parametrize(
        ("msg_type", "fields"),
        [
            ("image", {"PicUrl": "http://x/p.jpg", "MediaId": "m"}),
            ("location", {"Location_X": "23.1", "Location_Y": "113.3", "Label": "广州"}),
            ("link", {"Title": "t", "Url": "http://x"}),
            ("video", {"MediaId": "m", "ThumbMediaId": "t"}),
        ],
    )
    def test_what_the_bot_cannot_read_gets_a_polite_answer(
        self, msg_type: str, fields: dict[str, str]
    ) -> None:
        agent = FakeAgent()
        _, body = run_channel(lambda h, u: post(h, u, push_xml(msg_type, **fields)), agent=agent)
        assert content_of(body) == DOMAIN_ZH_CANNOT_READ  # the account's language by default
        assert agent.received == []

    def test_the_polite_answer_follows_the_conversation_language(self) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> str:
            await post(http, url, push_xml(Content="my router keeps restarting"))
            return (await post(http, url, push_xml("image", PicUrl="http://x/p.jpg")))[1]

        assert content_of(run_channel(scenario, agent=agent)) == DOMAIN_EN_CANNOT_READ

    def test_subscribe_greets_in_the_account_language_unsubscribe_is_silent(self) -> None:
        agent = FakeAgent()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[str]:
            hello = await post(http, url, push_xml("event", Event="subscribe"))
            bye = await post(http, url, push_xml("event", Event="unsubscribe", openid="oOther"))
            return [hello[1], bye[1]]

        hello, bye = run_channel(scenario, agent=agent)
        assert [m.text for m in agent.received] == ['/greet{"language": "zh"}']
        assert "/greet" in content_of(hello)  # the bot's answer came back passively
        assert bye == "success"

    def test_a_numbered_choice_is_answered_with_its_number(self) -> None:
        def script(message: UserMessage) -> list[dict[str, Any]]:
            if message.text == "帮助":
                buttons = [
                    {"title": "查询工单", "payload": "/ticket_status"},
                    {"title": "报修", "payload": "/report_problem"},
                ]
                return [{"text": "请选择：", "buttons": buttons}]
            return [{"text": f"收到：{message.text}"}]

        agent = FakeAgent(script)

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[str]:
            menu = await post(http, url, push_xml(Content="帮助"))
            await post(http, url, push_xml(Content="2"))
            await post(http, url, push_xml(Content="2"))  # the list was answered already
            return [content_of(menu[1])]

        (menu,) = run_channel(scenario, agent=agent)
        assert menu == "请选择：\n\n1. 查询工单\n2. 报修"
        assert [m.text for m in agent.received] == ["帮助", "/report_problem", "2"]


def check_a_retried_push_is_processed_once(stores: Any) -> None:
    """WeChat sends a push three times (its retries): one turn, the same answer each time."""
    agent = FakeAgent()

    async def scenario(http: aiohttp.ClientSession, url: str) -> list[str]:
        body = push_xml(Content="退货怎么办", msg_id="777")
        return [(await post(http, url, body))[1] for _ in range(3)]

    replies = run_channel(scenario, agent=agent, store=stores)
    assert len(agent.received) == 1, f"turns: {len(agent.received)}"
    assert content_of(replies[0]) == "收到：退货怎么办"
    assert replies[0] == replies[1] == replies[2]


def check_a_retry_during_the_answer_gets_no_second_answer() -> None:
    agent = FakeAgent(gated=True)

    async def scenario(http: aiohttp.ClientSession, url: str) -> list[str]:
        body = push_xml(Content="发票怎么开", msg_id="888")
        first = asyncio.ensure_future(post(http, url, body))
        await agent.started.wait()  # the bot is answering the first push
        # Answered at once as a repeat; taken for a new message, it would wait for the
        # (held) bot until the reply budget is over and answer "success" too.
        retry = await post(http, url, body)
        agent.release.set()
        return [(await first)[1], retry[1]]

    first, retry = run_channel(scenario, agent=agent)
    assert len(agent.received) == 1, f"turns: {len(agent.received)}"
    assert content_of(first) == "收到：发票怎么开"
    assert retry == "success"


def without_msgid_dedupe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The channel no longer recognises a push it has seen: each is a new message."""
    # A fresh key per push, kept on the push (an id() could be reused by a later push
    # once the first is collected, and the two would be taken for one again).
    def fresh_key(push: Push) -> str:
        key: str | None = push.__dict__.get("_test_key")
        if key is None:
            key = f"push-{uuid.uuid4().hex}"
            object.__setattr__(push, "_test_key", key)
        return key

    monkeypatch.setattr(Push, "dedupe_key", property(fresh_key))


CARD = {"ticket": "SD-100001", "status": "new"}


class TestTicketCards:
    """A ticket card (the action's ``custom`` payload) is the widget's: WeChat gets the text."""

    def test_the_passive_reply_is_the_text_only(self) -> None:
        agent = FakeAgent(lambda m: [{"text": "已为您创建工单 SD-100001。", "custom": dict(CARD)}])
        status, body = run_channel(
            lambda http, url: post(http, url, push_xml(Content="宽带断了")), agent=agent
        )
        assert (status, content_of(body)) == (200, "已为您创建工单 SD-100001。")

    def test_a_message_the_desk_sends_first_is_the_text_only(self) -> None:
        api = FakeWeChatApi()

        async def main() -> None:
            server = TestServer(api.app())
            await server.start_server()
            try:
                settings = WeChatSettings(
                    token=TOKEN,
                    app_id=APP_ID,
                    app_secret=APP_SECRET,
                    api_base=str(server.make_url("")).rstrip("/"),
                )
                output = WeChatInput(settings, store=MemoryStore()).get_output_channel()
                assert output is not None
                await output.send_response(
                    f"wechat:{OPENID}", {"text": "工单 SD-100001 已解决。", "custom": dict(CARD)}
                )
            finally:
                await server.close()

        run(main())
        assert [m["text"]["content"] for m in api.sent] == ["工单 SD-100001 已解决。"]


class TestRetries:
    def test_a_retried_push_is_processed_once_and_answered_the_same(
        self, stores: StoreFactory
    ) -> None:
        check_a_retried_push_is_processed_once(stores)

    def test_a_retry_while_the_push_is_being_answered_gets_no_second_answer(self) -> None:
        check_a_retry_during_the_answer_gets_no_second_answer()

    # Tests of the tests: without the MsgId dedupe, the checks above fail.

    def test_without_the_msgid_dedupe_a_retried_push_is_answered_three_times(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        without_msgid_dedupe(monkeypatch)
        with pytest.raises(AssertionError, match="turns: 3"):
            check_a_retried_push_is_processed_once(MemoryStore)

    def test_without_the_msgid_dedupe_a_retry_during_the_answer_is_a_second_turn(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        without_msgid_dedupe(monkeypatch)
        with pytest.raises(AssertionError, match="turns: 2"):
            check_a_retry_during_the_answer_gets_no_second_answer()

    def test_two_rasa_instances_process_a_push_once(self, stores: StoreFactory) -> None:
        """Two channels on one store: WeChat's retry may reach the other instance."""
        agent = FakeAgent()

        async def main() -> list[str]:
            settings = WeChatSettings(token=TOKEN, reply_budget=3)
            one, two = WeChatInput(settings, store=stores()), WeChatInput(settings, store=stores())
            body = push_xml(Content="你好", msg_id="999")
            async with (
                serve(one, agent) as url_one,
                serve(two, agent) as url_two,
                aiohttp.ClientSession() as http,
            ):
                return [(await post(http, url, body))[1] for url in (url_one, url_two, url_one)]

        replies = run(main())
        assert len(agent.received) == 1
        assert replies[0] == replies[1] == replies[2]


class TestCustomerServiceReplies:
    def test_slow_bot_answers_success_then_through_the_api(self) -> None:
        agent, api = FakeAgent(delay=0.6), FakeWeChatApi()

        async def scenario(http: aiohttp.ClientSession, url: str) -> list[tuple[int, str]]:
            body = push_xml(Content="发票怎么开", msg_id="1234")
            first = await post(http, url, body)
            retry = await post(http, url, body)  # WeChat's retry, while the bot still works
            await sent_through_api(api)
            # Nothing else may follow: run_channel waits until the channel has no work
            # left before the sends are counted.
            return [first, retry]

        first, retry = run_channel(scenario, agent=agent, api=api, budget=0.2)
        assert first == retry == (200, "success")
        assert api.sent == [
            {"touser": OPENID, "msgtype": "text", "text": {"content": "收到：发票怎么开"}}
        ]
        assert len(agent.received) == 1

    def test_a_long_answer_goes_through_the_api_in_parts(self) -> None:
        paragraph = "请按以下步骤检查路由器。" * 50
        agent = FakeAgent(lambda m: [{"text": paragraph}, {"text": paragraph}])
        api = FakeWeChatApi()

        async def scenario(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
            reply = await post(http, url, push_xml(Content="路由器怎么设置"))
            await sent_through_api(api, count=2)
            return reply

        assert run_channel(scenario, agent=agent, api=api) == (200, "success")
        assert [m["text"]["content"] for m in api.sent] == [paragraph, paragraph]

    def test_the_desk_can_write_first_through_the_output_channel(self) -> None:
        """What Rasa's trigger_intent with output_channel=latest uses (an agent's reply)."""
        api = FakeWeChatApi()

        async def main() -> None:
            server = TestServer(api.app())
            await server.start_server()
            try:
                settings = WeChatSettings(
                    token=TOKEN,
                    app_id=APP_ID,
                    app_secret=APP_SECRET,
                    api_base=str(server.make_url("")).rstrip("/"),
                )
                output = WeChatInput(settings, store=MemoryStore()).get_output_channel()
                assert output is not None and output.name() == "wechat"
                # Rasa addresses the follower by the conversation id; WeChat by the openid.
                await output.send_response(
                    f"wechat:{OPENID}",
                    {"text": "客服王芳：您的宽带已修复。", "buttons": [{"title": "满意"}]},
                )
            finally:
                await server.close()

        run(main())
        assert api.sent[0]["text"]["content"] == "客服王芳：您的宽带已修复。\n\n1. 满意"
        assert api.sent[0]["touser"] == OPENID
        assert (
            WeChatInput(WeChatSettings(token=TOKEN), store=MemoryStore()).get_output_channel()
            is None
        )


class TestCustomerServiceClient:
    @pytest.mark.parametrize("refusal", [40001, 40014, 42001])
    def test_token_is_cached_and_refreshed_when_refused(self, refusal: int) -> None:
        api = FakeWeChatApi()

        async def main() -> None:
            server = TestServer(api.app())
            await server.start_server()
            try:
                client = CustomerServiceClient(APP_ID, APP_SECRET, str(server.make_url("")))
                await client.send_text(OPENID, "one")
                await client.send_text(OPENID, "two")
                assert api.tokens_issued == 1  # cached
                api.refuse_next_send_with = refusal
                await client.send_text(OPENID, "three")
                assert api.tokens_issued == 2  # refreshed once, then the send went through
                await client.send_text(OPENID, "four")
                assert api.tokens_issued == 2
            finally:
                await server.close()

        run(main())
        assert [m["text"]["content"] for m in api.sent] == ["one", "two", "three", "four"]

    @pytest.mark.parametrize("shared", [False, True], ids=["one instance", "shared store"])
    @pytest.mark.parametrize(
        ("lifetime", "kept"),
        [(7200, 7200 - wechat.TOKEN_MARGIN_SECONDS), (200, 60)],
        ids=["two hours", "short-lived"],
    )
    def test_a_token_is_fetched_again_before_it_expires(
        self,
        shared: bool,
        lifetime: int,
        kept: int,
        stores: StoreFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Cached until 5 minutes before WeChat's expiry (at least a minute), then fetched
        again before WeChat would refuse it."""
        api = FakeWeChatApi(token_lifetime=lifetime)
        now = [1_800_000_000.0]
        monkeypatch.setattr(
            wechat, "time", SimpleNamespace(time=lambda: now[0], monotonic=time.monotonic)
        )

        async def main() -> list[int]:
            server = TestServer(api.app())
            await server.start_server()
            client = CustomerServiceClient(
                APP_ID, APP_SECRET, str(server.make_url("")), shared=stores() if shared else None
            )
            issued = []
            try:
                start = now[0]
                for at in (0, kept - 1, kept + 1, kept + 2):
                    now[0] = start + at
                    await client.send_text(OPENID, f"at {at}")
                    issued.append(api.tokens_issued)
            finally:
                await server.close()
            return issued

        # Fetched, kept until just before the margin, fetched again once inside it.
        assert run(main()) == [1, 1, 2, 2]
        assert len(api.sent) == 4  # WeChat never had to refuse a token

    def test_two_instances_share_one_token(self, stores: StoreFactory) -> None:
        """WeChat keeps one valid token per account: two Rasa instances must not fetch
        one each (the second fetch retires the first instance's token)."""
        api = FakeWeChatApi()

        async def main() -> None:
            server = TestServer(api.app())
            await server.start_server()
            base = str(server.make_url(""))
            one = CustomerServiceClient(APP_ID, APP_SECRET, base, shared=stores())
            other = CustomerServiceClient(APP_ID, APP_SECRET, base, shared=stores())
            try:
                # Both start sending at once: one fetch between them.
                await asyncio.gather(one.send_text(OPENID, "a"), other.send_text(OPENID, "b"))
                await one.send_text(OPENID, "c")
                await other.send_text(OPENID, "d")
                assert api.tokens_issued == 1
                # WeChat refuses the token on one instance: it fetches a new one, which
                # the other instance picks up when its next send is refused.
                api.refuse_next_send_with = 40001
                await one.send_text(OPENID, "e")
                await other.send_text(OPENID, "f")
                assert api.tokens_issued == 2
            finally:
                await server.close()

        run(main())
        assert sorted(m["text"]["content"] for m in api.sent) == ["a", "b", "c", "d", "e", "f"]

    def test_other_refusals_and_bad_credentials_are_errors(self) -> None:
        api = FakeWeChatApi()

        async def main() -> list[str]:
            server = TestServer(api.app())
            await server.start_server()
            errors = []
            try:
                base = str(server.make_url(""))
                client = CustomerServiceClient(APP_ID, APP_SECRET, base)
                api.refuse_next_send_with = 45015  # the follower has been silent for 48 h
                with pytest.raises(CustomerServiceError) as refused:
                    await client.send_text(OPENID, "late")
                errors.append(str(refused.value))
                wrong = CustomerServiceClient(APP_ID, "wrong-secret", base)
                with pytest.raises(CustomerServiceError) as bad:
                    await wrong.send_text(OPENID, "x")
                errors.append(str(bad.value))
            finally:
                await server.close()
            unreachable = CustomerServiceClient(APP_ID, APP_SECRET, "http://127.0.0.1:9")
            with pytest.raises(CustomerServiceError):
                await unreachable.send_text(OPENID, "x")
            return errors

        refused, bad = run(main())
        assert "45015" in refused and "40125" in bad
        assert api.sent == []
