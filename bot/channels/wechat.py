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
access token is cached and refreshed. The same API carries messages the desk starts
(``output_channel=latest`` on Rasa's HTTP API), within WeChat's 48-hour window. Outside
it (WeChat answers 45015) a message the desk starts goes as a template message when a
template id is configured (``template_id``; the template's fields are ``first`` (the
text), ``keyword1`` (the ticket number) and ``remark``). Progress notices arrive on
``POST /webhooks/wechat/push`` (:mod:`bot.channels.pushes`).

Configuration comes from ``credentials.yml``, where the secrets are ``${ENV_VAR}``
references that Rasa fills in. With an empty token the channel answers 503 to
everything. Only the plaintext message mode is supported, not the encrypted (AES) mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import aiohttp
import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException
from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import plain_text
from bot.channels.conversation import WECHAT, conversation_id, split_conversation_id
from bot.channels.pushes import DeskPush, add_push_route
from bot.channels.responses import (
    agent_of,
    conversation_language,
    in_script,
    render,
    script_for_turn,
)
from bot.channels.store import ChannelStore, conversation_tag, store_for
from ticketing import jsonlog

logger = logging.getLogger(__name__)

CHANNEL = WECHAT
DEFAULT_API_BASE = "https://api.weixin.qq.com"
MAX_BODY_BYTES = 64 * 1024
# WeChat refuses text messages over 2048 bytes; stay under it.
MAX_TEXT_BYTES = 2000
# WeChat waits 5 s for an answer; the passive reply must leave before that.
MAX_REPLY_BUDGET = 4.8
# WeChat tokens live 7200 s; renew a little before they run out.
TOKEN_MARGIN_SECONDS = 300
# invalid credential, invalid access token, access token expired
TOKEN_ERRORS = {40001, 40014, 42001}
# The follower has not written in 48 hours (45015), or the window's quota is spent (45047):
# only a template message may reach them.
OUTSIDE_WINDOW = {45015, 45047}
# WeChat keeps a template field's value short; longer texts are cut with an ellipsis.
MAX_TEMPLATE_FIELD = 200
# How long a numbered list of choices can be answered with its number.
CHOICES_TTL_SECONDS = 600
_CHOICE = re.compile(r"^\s*(\d{1,2})\s*[.、。]?\s*$")


def signature_of(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's request signature: sha1 of the sorted token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def signature_ok(
    token: str, *, signature: str, timestamp: str, nonce: str, now: float, window: float
) -> bool:
    """A matching signature over a timestamp within ``window`` seconds of now."""
    if not (token and signature and timestamp.isdigit() and nonce):
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
        """The follower's conversation tag and the MsgId (messages) or the time (events,
        which have no MsgId); the tag lets erasure find the answer kept for a retry."""
        sent = self.msg_id or f"{self.create_time}:{self.event or self.msg_type}"
        return f"{conversation_tag(conversation_id(CHANNEL, self.from_user))}:{sent}"


class MalformedPush(ValueError):
    """The body is not a WeChat push we can read."""


class EncryptedPush(MalformedPush):
    """A push in the encrypted (AES) mode, which this channel does not support."""


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
    if not msg_type and text("Encrypt"):
        raise EncryptedPush("encrypted (AES) pushes are not supported; use plaintext mode")
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
        for link in (message.get("image"), message.get("attachment")):
            if isinstance(link, str) and link:
                parts.append(link)
    return "\n\n".join(p for p in parts if p.strip())


def choices_of(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The buttons of the bot's last message that had any, as {title, payload}."""
    for message in reversed(messages):
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if buttons:
            return [
                {
                    "title": str(b.get("title", "")),
                    "payload": str(b.get("payload") or b.get("title", "")),
                }
                for b in buttons
            ]
    return []


def chosen_payload(text: str, choices: list[dict[str, str]]) -> str | None:
    """The payload a customer picked by typing a choice's number or its title."""
    match = _CHOICE.match(text)
    if match and 1 <= int(match.group(1)) <= len(choices):
        return choices[int(match.group(1)) - 1]["payload"]
    wanted = text.strip().casefold()
    return next((c["payload"] for c in choices if c["title"].strip().casefold() == wanted), None)


def split_text(content: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Cut a text into WeChat-sized messages, at paragraph or line ends where possible."""
    chunks: list[str] = []
    current = ""
    for piece in re.split(r"(?<=\n)", content):
        while len(piece.encode()) > limit:  # one very long line: cut it by characters
            cut = len(piece.encode()[:limit].decode(errors="ignore"))
            if current:
                chunks.append(current)
                current = ""
            chunks.append(piece[:cut])
            piece = piece[cut:]
        if len((current + piece).encode()) > limit:
            chunks.append(current)
            current = ""
        current += piece
    if current.strip():
        chunks.append(current)
    return [c.strip() for c in chunks if c.strip()]


class CustomerServiceError(Exception):
    """The customer-service message API refused or could not be reached."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class CustomerServiceClient:
    """Sends messages outside the 5-second window; caches the access token.

    WeChat keeps one valid access token per official account: fetching a new one
    retires the old one within minutes. So with a ``shared`` store (Redis, when
    REDIS_URL is set) every Rasa instance uses the one token kept there, and only the
    instance holding the fetch claim asks WeChat for a new one; the others wait for it.
    """

    app_id: str
    app_secret: str
    api_base: str = DEFAULT_API_BASE
    timeout_seconds: float = 5.0
    shared: ChannelStore | None = None
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def access_token(self, *, refresh: bool = False, refused: str | None = None) -> str:
        """A valid access token, fetched again when it is about to expire or was refused.

        ``refused`` is the token WeChat just turned down: when several sends hit the
        refusal at once, only the first fetches a new token and the others use it.
        """
        async with self._lock:
            if refresh:
                refused = self._token
            usable = self._token and time.time() < self._expires_at
            if usable and (refused is None or self._token != refused):
                return str(self._token)
            if self.shared is None:
                return await self._fetch_token()
            return await self._shared_token(refused)

    async def _shared_token(self, refused: str | None) -> str:
        """The token of the shared store, fetched by one instance when missing or refused."""
        key = f"token:{self.app_id}"
        deadline = time.monotonic() + 2 * self.timeout_seconds + 1
        while True:
            kept = await self.shared.get(key) if self.shared else None
            if kept:
                token, expires_at = json.loads(kept)
                if token != refused and time.time() < expires_at:
                    self._token, self._expires_at = str(token), float(expires_at)
                    return self._token
            assert self.shared is not None
            if await self.shared.claim(key, ttl_seconds=2 * self.timeout_seconds):
                try:
                    token = await self._fetch_token()
                    await self.shared.put(
                        key,
                        json.dumps([token, self._expires_at]),
                        ttl_seconds=max(self._expires_at - time.time(), 1),
                    )
                    return token
                finally:
                    await self.shared.release(key)
            if time.monotonic() >= deadline:
                raise CustomerServiceError("no access token: another instance is fetching it")
            await asyncio.sleep(0.1)

    async def _fetch_token(self) -> str:
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
        self._expires_at = time.time() + max(lifetime - TOKEN_MARGIN_SECONDS, 60)
        return self._token

    async def send_text(self, openid: str, content: str) -> None:
        """Send a text message to a follower; retries once with a fresh token."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        refused: str | None = None
        for _attempt in (1, 2):
            token = await self.access_token(refused=refused)
            data = await self._call(
                "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body
            )
            code = int(data.get("errcode", 0))
            if code == 0:
                return
            if code not in TOKEN_ERRORS:
                # 45015: the follower has not written in 48 hours; WeChat forbids the send.
                raise CustomerServiceError(f"custom/send refused: errcode {code}", code=code)
            refused = token
        raise CustomerServiceError("custom/send refused the fresh token too")

    async def send_template(self, openid: str, template_id: str, fields: dict[str, str]) -> None:
        """Send a template message (allowed outside the 48-hour window)."""
        body = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in fields.items()},
        }
        refused: str | None = None
        for _attempt in (1, 2):
            token = await self.access_token(refused=refused)
            data = await self._call(
                "POST", "/cgi-bin/message/template/send", params={"access_token": token}, json=body
            )
            code = int(data.get("errcode", 0))
            if code == 0:
                return
            if code not in TOKEN_ERRORS:
                raise CustomerServiceError(f"template/send refused: errcode {code}", code=code)
            refused = token
        raise CustomerServiceError("template/send refused the fresh token too")

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


class WeChatCollector(CollectingOutputChannel):
    """Collects the bot's answer to a push (named ``wechat`` for channel variations)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL


class WeChatOutput(OutputChannel):
    """Sends the bot's messages through the customer-service API (desk-initiated messages)."""

    def __init__(self, client: CustomerServiceClient, template_id: str = "") -> None:
        self.client = client
        self.template_id = template_id

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Send one bot message as WeChat text (buttons as a numbered list)."""
        await self.send_notice(recipient_id, render_messages([message]))

    async def send_notice(self, recipient_id: str, content: str, ticket_number: str = "") -> str:
        """Send a text the desk starts: a customer-service message inside the 48-hour
        window, a template message outside it; returns which one went."""
        openid = split_conversation_id(recipient_id).sender
        try:
            for chunk in split_text(content):
                await self.client.send_text(openid, chunk)
        except CustomerServiceError as error:
            if error.code not in OUTSIDE_WINDOW or not self.template_id:
                raise
            fields = {"first": _cut(content), "keyword1": ticket_number, "remark": ""}
            await self.client.send_template(openid, self.template_id, fields)
            return "template"
        return "customer_service"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a text."""
        await self.send_response(recipient_id, {"text": text})


def _cut(text: str, limit: int = MAX_TEMPLATE_FIELD) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(config: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    raw = config.get(key)
    try:
        value = float(default if raw is None or raw == "" else raw)
    except (TypeError, ValueError):
        raise ValueError(f"wechat channel: {key} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"wechat channel: {key} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class WeChatSettings:
    """What the channel needs, from its section of credentials.yml."""

    token: str
    app_id: str = ""
    app_secret: str = ""
    api_base: str = DEFAULT_API_BASE
    # The template for messages the desk starts outside the 48-hour window ("" = none).
    template_id: str = ""
    timestamp_window: float = 300.0
    reply_budget: float = 4.5
    # The account's language: new followers are greeted in it.
    default_language: str = "zh"
    welcome_intent: str = "greet"
    # Domain responses for what the bot cannot read, and for a voice message WeChat
    # could not transcribe.
    unsupported_response: str = "utter_cannot_read_message"
    unheard_response: str = "utter_voice_not_understood"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatSettings:
        """Read and check the settings; ValueError names what is wrong."""
        config = credentials or {}
        api_base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        if not api_base.startswith(("https://", "http://")):
            raise ValueError(f"wechat channel: api_base must be an http(s) URL, got {api_base!r}")
        return cls(
            token=str(config.get("token") or ""),
            app_id=str(config.get("app_id") or ""),
            app_secret=str(config.get("app_secret") or ""),
            api_base=api_base,
            template_id=str(config.get("template_id") or ""),
            timestamp_window=_number(config, "timestamp_window", 300, 1, 3600),
            reply_budget=_number(config, "reply_budget", 4.5, 0.1, MAX_REPLY_BUDGET),
            default_language=str(config.get("default_language") or "zh"),
            welcome_intent=str(config.get("welcome_intent") or "greet"),
            unsupported_response=str(
                config.get("unsupported_response") or "utter_cannot_read_message"
            ),
            unheard_response=str(config.get("unheard_response") or "utter_voice_not_understood"),
        )


def _choices_key(openid: str) -> str:
    """Where the choices of the follower's last answer are kept."""
    return f"choices:{conversation_tag(conversation_id(CHANNEL, openid))}"


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
        store: ChannelStore | None = None,
        customer_service: CustomerServiceClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store or store_for(os.environ.get("REDIS_URL"), prefix="desk:wechat")
        self.customer_service = customer_service or (
            CustomerServiceClient(
                settings.app_id,
                settings.app_secret,
                settings.api_base,
                # One token for all instances (the store is Redis when REDIS_URL is set).
                shared=self.store,
            )
            if settings.app_id and settings.app_secret
            else None
        )
        self.clock = clock
        self._background: set[asyncio.Task[Any]] = set()
        if not settings.token:
            logger.warning("the wechat channel has no token: it answers 503 until one is set")

    def get_output_channel(self) -> OutputChannel | None:
        """The customer-service API, for messages the desk sends first (e.g. an agent's)."""
        if self.customer_service is None:
            return None
        return WeChatOutput(self.customer_service, self.settings.template_id)

    async def _push(self, push: DeskPush, text: str) -> str:
        """A progress notice through the customer-service API (or a template message)."""
        output = self.get_output_channel()
        if not isinstance(output, WeChatOutput):
            raise RuntimeError("no WeChat app id and secret: the customer-service API is off")
        return await output.send_notice(push.conversation_id, text, push.ticket_number)

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

        add_push_route(hook, channel=CHANNEL, store=self.store, deliver=self._push)

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
            except EncryptedPush as error:
                logger.error("wechat push refused: %s", error)
                return response.text(str(error), status=501)
            except MalformedPush as error:
                logger.info("wechat push refused: %s", error)
                return response.text("malformed push", status=400)
            if not await self.store.claim(push.dedupe_key):
                # A retry: the first answer again if there was one; otherwise the push is
                # still being answered (or went the customer-service way), so say nothing.
                earlier = await self.store.reply_for(push.dedupe_key)
                return self._xml(earlier) if earlier else response.text("success")
            return await self._handle(push, request, on_new_message)

        return hook

    @staticmethod
    def _xml(body: str) -> HTTPResponse:
        return response.text(body, content_type="application/xml; charset=utf-8")

    async def _passive(self, push: Push, text: str) -> HTTPResponse:
        reply = text_reply(push, text, now=self.clock())
        await self.store.remember_reply(push.dedupe_key, reply)
        return self._xml(reply)

    async def _say(self, push: Push, request: Request, response_name: str) -> HTTPResponse:
        """Answer with a domain response in the conversation's language, without the bot."""
        agent = agent_of(request)
        conversation = conversation_id(CHANNEL, push.from_user)
        language = await conversation_language(agent, conversation)
        message = await render(
            agent,
            response_name,
            sender_id=conversation,
            language=language or self.settings.default_language,
            output_channel=CHANNEL,
        )
        content = render_messages([message]) if message else ""
        return await self._passive(push, content) if content else response.text("success")

    async def _handle(
        self,
        push: Push,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        metadata: dict[str, Any] = {"wechat": {"to_user": push.to_user, "msg_type": push.msg_type}}
        metadata[jsonlog.METADATA_KEY] = jsonlog.begin(
            conversation=conversation_id(CHANNEL, push.from_user)
        )
        if push.msg_type == "text" and push.content:
            text = await self._with_choice(push.from_user, plain_text(push.content))
        elif push.msg_type == "voice":
            if not push.recognition:
                return await self._say(push, request, self.settings.unheard_response)
            text = plain_text(push.recognition)
            metadata["transcript"] = True
        elif push.msg_type == "event" and push.event == "subscribe":
            # A new follower: greet them in the account's language.
            language = json.dumps({"language": self.settings.default_language})
            text = f"/{self.settings.welcome_intent}{language}"
        elif push.msg_type == "event":
            return response.text("success")  # unsubscribe, menu views...: nothing to say
        else:
            # Images, locations, links, videos, files: nothing the bot can read.
            return await self._say(push, request, self.settings.unsupported_response)

        collector = WeChatCollector()
        script = await script_for_turn(
            agent_of(request), conversation_id(CHANNEL, push.from_user), text
        )
        task = asyncio.ensure_future(
            on_new_message(
                UserMessage(
                    text,
                    collector,
                    conversation_id(CHANNEL, push.from_user),
                    input_channel=CHANNEL,
                    metadata=metadata,
                )
            )
        )
        done, _ = await asyncio.wait({task}, timeout=self.settings.reply_budget)
        if task not in done:
            # Too slow for the passive reply: the answer goes through the
            # customer-service API once the bot is done.
            self._spawn(self._send_later(task, collector, push.from_user, script))
            return response.text("success")
        if task.exception() is not None:
            logger.error("the bot failed on a wechat message: %s", type(task.exception()).__name__)
            return response.text("success")
        chunks = await self._render(push.from_user, collector.messages, script)
        if not chunks:
            return response.text("success")
        if len(chunks) == 1:
            return await self._passive(push, chunks[0])
        if self.customer_service is None:
            logger.warning("a long wechat reply was cut: no app id/secret configured")
            return await self._passive(push, chunks[0])
        # Too long for one message: all parts go through the customer-service API.
        self._spawn(self._deliver(push.from_user, chunks))
        return response.text("success")

    def _spawn(self, work: Awaitable[None]) -> None:
        # Keep a reference until done: the event loop holds tasks only weakly.
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _with_choice(self, openid: str, text: str) -> str:
        """The text, or the payload of the choice it picks from the bot's last list."""
        if len(text) > 40:  # a sentence, not a pick from a list
            return text
        saved = await self.store.take(_choices_key(openid))
        if saved is None:
            return text
        choices = json.loads(saved)
        return chosen_payload(text, choices) or text

    async def _render(
        self, openid: str, messages: list[dict[str, Any]], script: str | None = None
    ) -> list[str]:
        """The answer as WeChat texts in the customer's script; remembers its choices so "2"
        picks the second (and a typed title matches as the customer saw it)."""
        messages = [in_script(m, script) for m in messages]
        choices = choices_of(messages)
        if choices:
            await self.store.put(
                _choices_key(openid), json.dumps(choices), ttl_seconds=CHOICES_TTL_SECONDS
            )
        else:
            await self.store.take(_choices_key(openid))  # older choices no longer apply
        return split_text(render_messages(messages))

    async def _send_later(
        self,
        task: asyncio.Future[Any],
        collector: CollectingOutputChannel,
        openid: str,
        script: str | None,
    ) -> None:
        try:
            await task
        except Exception as error:  # the customer must not wait on a crashed turn
            logger.error("the bot failed on a wechat message: %s", type(error).__name__)
            return
        await self._deliver(openid, await self._render(openid, collector.messages, script))

    async def _deliver(self, openid: str, chunks: list[str]) -> None:
        """Send texts through the customer-service API, in order."""
        if not chunks:
            return
        if self.customer_service is None:
            logger.warning("a slow wechat reply was dropped: no app id/secret configured")
            return
        try:
            for chunk in chunks:
                await self.customer_service.send_text(openid, chunk)
        except CustomerServiceError as error:
            logger.error("wechat customer-service send failed: %s", error)
