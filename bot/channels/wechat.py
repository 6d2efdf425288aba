"""WeChat official account: the message push, as a Rasa input channel.

    GET  /webhooks/wechat/webhook   URL verification (echostr)
    POST /webhooks/wechat/webhook   a pushed message or event (XML, plaintext mode)

Every request is checked: sha1 over the sorted token, timestamp and nonce, compared in
constant time, and the timestamp must be recent; a bad or stale signature is 403 and
nothing is processed. XML is parsed with defusedxml (no entities, no DTDs).

WeChat gives up on a push after 5 seconds and retries it three times. A message is
processed once (deduplicated by MsgId, in Redis when REDIS_URL is set so that several
Rasa instances agree, in memory otherwise). If the bot answers within the reply budget
the answer goes back as the passive XML reply; otherwise the push is answered
``success`` and the answer follows through the customer-service message API, whose
access token is cached and refreshed.

Secrets come from the environment (WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_APP_SECRET);
the rest from ``credentials.yml``. Without a token the channel answers 503 to
everything. Only plaintext mode is supported, not the encrypted (AES) mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import aiohttp
import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.dedupe import Deduper, MemoryDeduper, RedisDeduper

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
DEFAULT_API_BASE = "https://api.weixin.qq.com"
MAX_BODY_BYTES = 64 * 1024
# WeChat refreshes tokens every 7200 s; renew a little before they run out.
TOKEN_MARGIN_SECONDS = 300
TOKEN_ERRORS = {40001, 40014, 42001}


def signature_of(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's request signature: sha1 of the sorted token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def signature_ok(
    token: str, *, signature: str, timestamp: str, nonce: str, now: float, window: float
) -> bool:
    """A matching signature over a timestamp within ``window`` seconds of now."""
    if not (signature and timestamp.isdigit() and nonce):
        return False
    if abs(now - int(timestamp)) > window:
        return False
    return hmac.compare_digest(signature_of(token, timestamp, nonce), signature.lower())


@dataclass(frozen=True)
class Push:
    """One pushed message or event."""

    to_user: str
    from_user: str
    create_time: str
    msg_type: str
    msg_id: str | None = None
    content: str | None = None
    recognition: str | None = None
    event: str | None = None

    @property
    def dedupe_key(self) -> str:
        """MsgId for messages; sender and time for events (which have no MsgId)."""
        return self.msg_id or f"{self.from_user}:{self.create_time}:{self.event or self.msg_type}"


class MalformedPush(ValueError):
    """The body is not a WeChat push we can read."""


def parse_push(body: bytes) -> Push:
    """Parse a push safely (defusedxml refuses entities and DTDs)."""
    try:
        root: Element = SafeXml.fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, SafeXml.ParseError, ValueError) as error:
        raise MalformedPush(f"not a WeChat XML push: {type(error).__name__}") from error

    def text(tag: str) -> str | None:
        node = root.find(tag)
        return node.text.strip() if node is not None and node.text is not None else None

    to_user, from_user, msg_type = text("ToUserName"), text("FromUserName"), text("MsgType")
    if not (to_user and from_user and msg_type):
        raise MalformedPush("ToUserName, FromUserName and MsgType are required")
    return Push(
        to_user=to_user,
        from_user=from_user,
        create_time=text("CreateTime") or "0",
        msg_type=msg_type.lower(),
        msg_id=text("MsgId"),
        content=text("Content"),
        recognition=text("Recognition"),
        event=(text("Event") or "").lower() or None,
    )


def _cdata(value: str) -> str:
    # "]]>" would end the section early: split it across two sections.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(push: Push, content: str, *, now: float) -> str:
    """The passive XML reply carrying one text message back to the sender."""
    return (
        "<xml>"
        f"<ToUserName>{_cdata(push.from_user)}</ToUserName>"
        f"<FromUserName>{_cdata(push.to_user)}</FromUserName>"
        f"<CreateTime>{int(now)}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        "</xml>"
    )


def render_messages(messages: list[dict[str, Any]]) -> str:
    """Bot messages as one WeChat text: texts in order, buttons as a numbered list."""
    parts: list[str] = []
    for message in messages:
        if message.get("text"):
            parts.append(str(message["text"]))
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if buttons:
            parts.append("\n".join(f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, 1)))
    return "\n\n".join(p for p in parts if p.strip())


class CustomerServiceError(Exception):
    """The customer-service message API refused or could not be reached."""


@dataclass
class CustomerServiceClient:
    """Sends messages outside the 5-second window; caches the access token."""

    app_id: str
    app_secret: str
    api_base: str = DEFAULT_API_BASE
    timeout_seconds: float = 5.0
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def access_token(self, *, refresh: bool = False) -> str:
        """A valid access token, fetched again when it is about to expire (or refused)."""
        async with self._lock:
            if not refresh and self._token and time.monotonic() < self._expires_at:
                return self._token
            params = {
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self.app_secret,
            }
            data = await self._call("GET", "/cgi-bin/token", params=params)
            if "access_token" not in data:
                raise CustomerServiceError(f"token refused: errcode {data.get('errcode')}")
            self._token = str(data["access_token"])
            lifetime = float(data.get("expires_in", 7200))
            self._expires_at = time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, 60)
            return self._token

    async def send_text(self, openid: str, content: str) -> None:
        """Send a text message to a follower; retries once with a fresh token."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        for attempt in (1, 2):
            token = await self.access_token(refresh=attempt == 2)
            data = await self._call(
                "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body
            )
            code = int(data.get("errcode", 0))
            if code == 0:
                return
            if code not in TOKEN_ERRORS:
                raise CustomerServiceError(f"custom/send refused: errcode {code}")
        raise CustomerServiceError("custom/send refused the fresh token too")

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(method, self.api_base.rstrip("/") + path, **kwargs) as reply,
            ):
                data = await reply.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise CustomerServiceError(f"{path}: {type(error).__name__}") from error
        if not isinstance(data, dict):
            raise CustomerServiceError(f"{path}: unexpected answer")
        return data


@dataclass(frozen=True)
class WeChatSettings:
    """What the channel needs; secrets from the environment, the rest from credentials."""

    token: str
    app_id: str
    app_secret: str
    api_base: str = DEFAULT_API_BASE
    timestamp_window: float = 300.0
    reply_budget: float = 4.5
    default_language: str = "zh"
    unsupported_reply: str = (
        "抱歉，我暂时只能读文字和语音消息，请用文字描述您的问题。\n"
        "Sorry, I can only read text and voice messages for now; please describe it in words."
    )
    unheard_reply: str = (
        "抱歉，没有听清您的语音，请再说一次或者打字告诉我。\n"
        "Sorry, I couldn't make out that voice message; please say it again or type it."
    )

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatSettings:
        config = credentials or {}
        env = os.environ
        return cls(
            token=str(config.get("token") or env.get("WECHAT_TOKEN") or ""),
            app_id=str(config.get("app_id") or env.get("WECHAT_APP_ID") or ""),
            app_secret=str(config.get("app_secret") or env.get("WECHAT_APP_SECRET") or ""),
            api_base=str(config.get("api_base") or env.get("WECHAT_API_BASE") or DEFAULT_API_BASE),
            timestamp_window=float(config.get("timestamp_window", 300)),
            reply_budget=float(config.get("reply_budget", 4.5)),
            default_language=str(config.get("default_language", "zh")),
            unsupported_reply=str(config.get("unsupported_reply") or cls.unsupported_reply),
            unheard_reply=str(config.get("unheard_reply") or cls.unheard_reply),
        )


class WeChatInput(InputChannel):
    """The WeChat official-account push as a Rasa input channel."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        return cls(WeChatSettings.from_credentials(credentials))

    def __init__(
        self,
        settings: WeChatSettings,
        *,
        deduper: Deduper | None = None,
        customer_service: CustomerServiceClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        redis_url = os.environ.get("REDIS_URL")
        self.deduper: Deduper = deduper or (
            RedisDeduper(redis_url, prefix="desk:wechat") if redis_url else MemoryDeduper()
        )
        self.customer_service = customer_service or (
            CustomerServiceClient(settings.app_id, settings.app_secret, settings.api_base)
            if settings.app_id and settings.app_secret
            else None
        )
        self.clock = clock
        self._background: set[asyncio.Task[Any]] = set()

    def _verified(self, request: Request) -> bool:
        args = request.args
        return signature_ok(
            self.settings.token,
            signature=args.get("signature", ""),
            timestamp=args.get("timestamp", ""),
            nonce=args.get("nonce", ""),
            now=self.clock(),
            window=self.settings.timestamp_window,
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """GET verification and POST pushes under /webhooks/wechat/webhook."""
        hook = Blueprint("wechat_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings.token else "not configured"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.settings.token:
                return response.text("wechat channel not configured", status=503)
            if not self._verified(request):
                return response.text("bad signature", status=403)
            return response.text(request.args.get("echostr", ""))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.settings.token:
                return response.text("wechat channel not configured", status=503)
            if not self._verified(request):
                return response.text("bad signature", status=403)
            body = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                return response.text("payload too large", status=413)
            try:
                push = parse_push(body)
            except MalformedPush as error:
                logger.info("wechat push refused: %s", error)
                return response.text("malformed push", status=400)
            if not await self.deduper.claim(push.dedupe_key):
                earlier = await self.deduper.reply_for(push.dedupe_key)
                return self._xml(earlier) if earlier else response.text("success")
            return await self._handle(push, on_new_message)

        return hook

    @staticmethod
    def _xml(body: str) -> HTTPResponse:
        return response.text(body, content_type="application/xml; charset=utf-8")

    async def _reply(self, push: Push, text: str) -> HTTPResponse:
        reply = text_reply(push, text, now=self.clock())
        await self.deduper.remember_reply(push.dedupe_key, reply)
        return self._xml(reply)

    async def _handle(
        self, push: Push, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        metadata: dict[str, Any] = {"wechat": {"to_user": push.to_user, "msg_type": push.msg_type}}
        if push.msg_type == "text" and push.content:
            text = push.content
        elif push.msg_type == "voice":
            if not push.recognition:
                return await self._reply(push, self.settings.unheard_reply)
            text = push.recognition
            metadata["transcript"] = True
        elif push.msg_type == "event" and push.event == "subscribe":
            # A new follower: greet them in the account's language.
            text = f'/greet{{"language": "{self.settings.default_language}"}}'
        elif push.msg_type == "event":
            return response.text("success")  # unsubscribe, menu views...: nothing to say
        else:
            return await self._reply(push, self.settings.unsupported_reply)

        collector = CollectingOutputChannel()
        task = asyncio.ensure_future(
            on_new_message(
                UserMessage(
                    text, collector, push.from_user, input_channel=CHANNEL, metadata=metadata
                )
            )
        )
        done, _ = await asyncio.wait({task}, timeout=self.settings.reply_budget)
        if task in done and task.exception() is None:
            content = render_messages(collector.messages)
            return await self._reply(push, content) if content else response.text("success")
        if task in done:
            logger.error("the bot failed on a wechat message: %s", type(task.exception()).__name__)
            return response.text("success")
        # Too slow for the passive reply: answer later through the customer-service API.
        follow_up = asyncio.ensure_future(self._send_later(task, collector, push.from_user))
        self._background.add(follow_up)
        follow_up.add_done_callback(self._background.discard)
        return response.text("success")

    async def _send_later(
        self, task: asyncio.Future[Any], collector: CollectingOutputChannel, openid: str
    ) -> None:
        try:
            await task
        except Exception as error:  # the customer must not wait on a crashed turn
            logger.error("the bot failed on a wechat message: %s", type(error).__name__)
            return
        content = render_messages(collector.messages)
        if not content:
            return
        if self.customer_service is None:
            logger.warning("a slow wechat reply was dropped: no app id/secret configured")
            return
        try:
            await self.customer_service.send_text(openid, content)
        except CustomerServiceError as error:
            logger.error("wechat customer-service send failed: %s", error)
