"""The chat widget's channel: Rasa's socket.io protocol, with the desk's trust rules.

The widget speaks Rasa's ``socketio`` protocol (``session_request`` /
``session_confirm``, ``user_uttered`` / ``bot_uttered``), so this connector keeps its
name and events. What it changes:

- **The conversation is the socket's session.** A socket asks for a session once
  (``session_request``); its messages then belong to that session's conversation,
  ``web:<session id>``. A ``session_id`` inside a message that differs from the
  socket's own is refused, and client metadata never reaches the bot (a browser
  cannot claim to be a phone call or set a transcript flag).
- **A repeat is recognised.** The widget sends a message again when the connection
  dropped before Rasa acknowledged it, with the same ``metadata.message_id``; a
  message id already handled for that session within an hour is acknowledged and
  not processed again (no second ticket). The ids live in Redis when ``REDIS_URL`` is
  set, so another Rasa instance recognises the repeat too; a repeat of a message whose
  instance died while answering it is answered once that instance's claim lapses
  (``CLAIM_SECONDS``).
- **Pushes reach the customer on any instance.** With ``REDIS_URL``, the socket.io
  server uses python-socketio's Redis manager: an agent's reply triggered on one
  Rasa instance is emitted to the session's room on whichever instance holds the
  widget's connection (long-polling also needs sticky sessions at the balancer).
- **A ticket card travels with its text.** An action's message about a ticket carries
  the number and status as data (Rasa's ``custom``, see ``actions.conversation.
  ticket_card``); Rasa's socket.io output would emit it apart from the text, so this one
  sends it in the same ``bot_uttered`` as the text (its last paragraph), and the widget
  draws the card under it. Progress pushes carry ``custom`` the same way.
- **Nothing the desk sends is missed.** Every message the desk starts (an agent's
  reply through Rasa's ``trigger_intent``, a progress notice through ``POST
  /webhooks/socketio/push``, see :mod:`bot.channels.pushes`) is kept in the session's
  mailbox with a sequence number (``push_seq``) before it is emitted. A widget that
  was closed or offline asks ``fetch_missed`` with the last ``push_seq`` it showed
  when it reconnects or opens, and gets every later one, in order; it shows each once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.channels import customer_text
from bot.channels.admission import busy_reply, turn_gate
from bot.channels.conversation import WEB, conversation_id, split_conversation_id
from bot.channels.pushes import DeskPush, add_push_route
from bot.channels.responses import in_script, replies_of_turn, script_for_turn
from bot.channels.store import (
    ChannelStore,
    MemoryStore,
    RedisStore,
    answer_once,
    conversation_tag,
)
from bot.tracker_store import ConversationSettings, ConversationUnreadable
from ticketing import jsonlog

logger = logging.getLogger(__name__)

# What a session id and a message id may look like (the widget sends 32 hex digits).
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
MAX_MESSAGE_CHARACTERS = 20_000
# How long a handled message id is remembered (the widget re-sends after reconnecting).
REPEAT_WINDOW_SECONDS = 3600
# How long a message being answered stays claimed by the instance answering it: a repeat
# waits that long for the answer, then (that instance died) answers it itself. Longer than
# a turn's budget; as long as Rasa's conversation lock (TICKET_LOCK_LIFETIME) in the
# scaled desk, which the repeat would wait for anyway.
CLAIM_SECONDS = float(os.environ.get("DESK_MESSAGE_CLAIM_SECONDS", "15"))
# The Redis channel the socket.io servers of all Rasa instances share.
PUBSUB_CHANNEL = "desk:socketio"
# How long a first connection waits for this instance's pub/sub listener to subscribe.
PUBSUB_READY_SECONDS = 5.0
# How long the desk's messages wait in a session's mailbox for the widget, and how many.
MAILBOX_SECONDS = 14 * 24 * 3600
MAILBOX_SIZE = 200
# Messages a fetch returns at most (the widget asks again from the last one it got).
FETCH_LIMIT = 100


class Mailbox:
    """What the desk sent each widget session, numbered 1, 2, 3 ... per session.

    In Redis when ``REDIS_URL`` is set (numbers from INCR, so every Rasa instance agrees),
    in this process otherwise. In Redis each message is sealed with the desk's data keys
    (it may quote what the customer typed), the keys carry the conversation's tag, not
    the session id, and they expire within the conversations' retention.
    """

    _ADD = """
    local seq = redis.call('INCR', KEYS[1])
    redis.call('ZADD', KEYS[2], seq, ARGV[1])
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[3]) - 1)
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    redis.call('EXPIRE', KEYS[2], ARGV[2])
    return seq
    """

    def __init__(
        self, redis_url: str | None, *, sealing: ConversationSettings | None = None
    ) -> None:
        self._redis: Any | None = None
        self._sealing: ConversationSettings | None = None
        self._seconds = MAILBOX_SECONDS
        if redis_url:
            import redis.asyncio as redis_asyncio

            self._sealing = sealing or ConversationSettings.from_environment()
            self._seconds = min(MAILBOX_SECONDS, self._sealing.retention_seconds)
            self._redis = redis_asyncio.Redis.from_url(redis_url)
        self._memory: dict[str, list[tuple[float, dict[str, Any]]]] = {}

    @staticmethod
    def keys(session_id: str) -> tuple[str, str]:
        """The session's sequence counter and its messages in Redis."""
        tag = conversation_tag(conversation_id(WEB, session_id))
        return f"desk:web:mailbox-seq:{tag}", f"desk:web:mailbox:{tag}"

    async def add(self, session_id: str, message: dict[str, Any]) -> dict[str, Any]:
        """Keep a message for the session; returns it with its ``push_seq``."""
        if self._redis is not None and self._sealing is not None:
            # Sealed with a fresh nonce: a member of its own even when two messages read
            # the same.
            raw = self._sealing.key_ring.seal(json.dumps({"message": message}, ensure_ascii=False))
            seq = int(
                await self._redis.eval(
                    self._ADD,
                    2,
                    *self.keys(session_id),
                    raw,
                    self._seconds,
                    MAILBOX_SIZE,
                )
            )
            return {**message, "push_seq": seq}
        now = time.monotonic()
        kept = [(at, m) for at, m in self._memory.get(session_id, []) if now - at < MAILBOX_SECONDS]
        seq = kept[-1][1]["push_seq"] + 1 if kept else 1
        stored = {**message, "push_seq": seq}
        self._memory[session_id] = [*kept, (now, stored)][-MAILBOX_SIZE:]
        return stored

    async def since(self, session_id: str, after: int) -> list[dict[str, Any]]:
        """The session's messages numbered after ``after``, oldest first."""
        if self._redis is not None and self._sealing is not None:
            ring = self._sealing.key_ring
            rows = await self._redis.zrangebyscore(
                self.keys(session_id)[1],
                f"({after}",
                "+inf",
                start=0,
                num=FETCH_LIMIT,
                withscores=True,
            )
            # ConversationUnreadable (naming the key id) when a key left the ring.
            return [
                {**json.loads(ring.open(row))["message"], "push_seq": int(seq)}
                for row, seq in rows
            ]
        now = time.monotonic()
        return [
            m
            for at, m in self._memory.get(session_id, [])
            if m["push_seq"] > after and now - at < MAILBOX_SECONDS
        ][:FETCH_LIMIT]


class _TurnedAway(Exception):
    """The gate found no place for the message in time: it was not processed."""


class WidgetOutput(SocketIOOutput):
    """Emits to the room of the widget session behind a ``web:`` conversation id, in the
    customer's Chinese script when the turn has one."""

    def __init__(
        self,
        sio: AsyncServer,
        bot_message_evt: str,
        script: str | None = None,
        *,
        mailbox: Mailbox | None = None,
    ) -> None:
        super().__init__(sio, bot_message_evt)
        self.script = script
        # Set for messages the desk starts: kept for a widget that is not connected.
        self.mailbox = mailbox
        # While a message with a custom payload is being split into emits: those emits.
        self._held: list[Any] | None = None

    @classmethod
    def name(cls) -> str:
        return "socketio"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """As Rasa's socket.io output, except that a custom payload (a ticket card) goes
        in the same emit as the text it belongs to, not in one of its own."""
        custom = message.get("custom")
        if not (isinstance(custom, dict) and custom and message.get("text")):
            await super().send_response(recipient_id, message)
            return
        held: list[Any] = []
        self._held = held
        try:
            await super().send_response(
                recipient_id, {k: v for k, v in message.items() if k != "custom"}
            )
        finally:
            self._held = None
        texts = [i for i, m in enumerate(held) if isinstance(m, dict) and m.get("text")]
        for index, part in enumerate(held):
            if texts and index == texts[-1]:
                part = {**part, "custom": custom}
            await self._send_message(recipient_id, part)

    async def _send_message(self, socket_id: str, response: Any) -> None:
        if self._held is not None:
            self._held.append(response)
            return
        if isinstance(response, dict):
            response = in_script(response, self.script)
        session_id = split_conversation_id(socket_id).sender
        if self.mailbox is not None and isinstance(response, dict):
            response = await self.mailbox.add(session_id, response)
        await super()._send_message(session_id, response)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """Custom payloads go to the session's room like every other message."""
        await self._send_message(recipient_id, json_message)


class _WidgetBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint, telling the channel which app (and so which agent) it
    serves."""

    def __init__(self, channel: WidgetInput, sio: AsyncServer, path: str) -> None:
        super().__init__(sio, path, "socketio_webhook", __name__)
        self.ctx.channel = channel  # Sanic allows no attributes of our own on a blueprint

    def register(self, app: Any, options: dict[str, Any]) -> None:
        self.ctx.channel._app = app
        super().register(app, options)


def _channel_store(redis_url: str | None) -> ChannelStore:
    if redis_url:
        return RedisStore(redis_url, prefix="desk:web", ttl_seconds=REPEAT_WINDOW_SECONDS)
    return MemoryStore(ttl_seconds=REPEAT_WINDOW_SECONDS)


class WidgetInput(SocketIOInput):
    """Rasa's socket.io channel for the desk's chat widget (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redis_url = os.environ.get("REDIS_URL") or None
        self.store = _channel_store(self.redis_url)
        self.mailbox = Mailbox(self.redis_url)
        self._pubsub_ready = False
        self._app: Any | None = None  # set when the blueprint is registered

    @property
    def _agent(self) -> Any | None:
        """The Rasa agent of the app this channel serves (None before the model loads)."""
        return getattr(getattr(self._app, "ctx", None), "agent", None)

    def get_output_channel(self) -> OutputChannel | None:
        """The socket.io server, for messages the desk sends first (an agent's reply)."""
        if self.sio is None:
            return None
        return WidgetOutput(self.sio, self.bot_message_evt, mailbox=self.mailbox)

    async def _push(self, push: DeskPush, text: str) -> str:
        """A progress notice: into the mailbox, then to the session's room if connected."""
        output = self.get_output_channel()
        if not isinstance(output, WidgetOutput):
            raise RuntimeError("the socket.io server is not running")
        # One message: the text, and what it is about as data the widget may render.
        await output._send_message(
            push.conversation_id,
            {"text": text, "custom": {"ticket": push.ticket_number, "notice": push.notice}},
        )
        return "socket"

    def _server(self) -> AsyncServer:
        manager = None
        if self.redis_url:
            import socketio

            manager = socketio.AsyncRedisManager(self.redis_url, channel=PUBSUB_CHANNEL)
        # CORS is left to the Rasa app (its --cors origins cover /socket.io as well).
        return AsyncServer(async_mode="sanic", cors_allowed_origins=[], client_manager=manager)

    async def _wait_for_pubsub(self, sio: AsyncServer) -> None:
        """With Redis: wait once until this instance listens on the shared channel.

        python-socketio starts its listener on the first connection; every emit goes
        through Redis, so a reply sent before the listener subscribed would be lost.
        """
        if self._pubsub_ready or not self.redis_url:
            return
        manager = sio.manager
        deadline = asyncio.get_running_loop().time() + PUBSUB_READY_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            pubsub = getattr(manager, "pubsub", None)
            if pubsub is not None and pubsub.subscribed:
                [(_, listeners)] = await manager.redis.pubsub_numsub(PUBSUB_CHANNEL)
                if listeners:
                    self._pubsub_ready = True
                    return
            await asyncio.sleep(0.02)
        logger.warning("the socket.io pub/sub listener is not subscribed yet; replies may wait")

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The socket.io endpoint at ``socketio_path`` and its events."""
        sio = self._server()
        hook = _WidgetBlueprint(self, sio, self.socketio_path or "/socket.io")
        self.sio = sio
        namespace = self.namespace

        @hook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        add_push_route(hook, channel=WEB, store=self.store, deliver=self._push)

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None) -> bool:
            await self._wait_for_pubsub(sio)
            return True

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = (
                requested
                if isinstance(requested, str) and _SESSION_ID.match(requested)
                else uuid.uuid4().hex
            )
            await sio.save_session(sid, {"session_id": session_id}, namespace=namespace)
            sio.enter_room(sid, session_id, namespace=namespace)
            # To this socket, which is on this instance: never through the pub/sub queue.
            await sio.emit(
                "session_confirm", session_id, room=sid, namespace=namespace, ignore_queue=True
            )

        @sio.on("fetch_missed", namespace=namespace)
        async def fetch_missed(sid: str, data: Any) -> dict[str, Any]:
            """The desk's messages after ``after`` (the last push_seq the widget showed)."""
            session = await sio.get_session(sid, namespace=namespace)
            session_id = session.get("session_id") if session else None
            if not session_id:
                return {"error": "session_request first"}
            after = data.get("after", 0) if isinstance(data, dict) else None
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                return {"error": "after: an integer >= 0"}
            try:
                return {"messages": await self.mailbox.since(session_id, after)}
            except ConversationUnreadable as error:
                logger.error("a widget mailbox is unreadable: %s", error)
                return {"error": "the kept messages cannot be opened (a data key is missing)"}

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any) -> dict[str, Any] | None:
            session = await sio.get_session(sid, namespace=namespace)
            session_id = session.get("session_id") if session else None
            if not session_id:
                return {"error": "session_request first"}
            if not isinstance(data, dict):
                return {"error": "a message is an object"}
            claimed = data.get("session_id")
            if claimed is not None and claimed != session_id:
                logger.warning("a widget message named another session; refused")
                return {"error": "not this socket's session"}
            text = data.get("message")
            if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARACTERS:
                return {
                    "error": f"message: a string of at most {MAX_MESSAGE_CHARACTERS} characters"
                }
            metadata = data.get(self.metadata_key or "metadata")
            message_id = metadata.get("message_id") if isinstance(metadata, dict) else None
            if not (isinstance(message_id, str) and _MESSAGE_ID.match(message_id)):
                message_id = None
            conversation = conversation_id(WEB, session_id)
            rid = jsonlog.begin(conversation=conversation)
            # Only what this connector checked; the rest of the client's metadata is
            # dropped. The request id follows the message into the other processes' logs.
            checked: dict[str, Any] = {jsonlog.METADATA_KEY: rid}
            if message_id:
                checked["message_id"] = message_id

            async def answer() -> str:
                script = await script_for_turn(self._agent, conversation, text)
                message = UserMessage(
                    customer_text(text),
                    WidgetOutput(sio, self.bot_message_evt, script),
                    conversation,
                    input_channel=self.name(),
                    # The widget's id, so a retry on another instance is the same
                    # message (the ticket actions key their idempotency on it).
                    message_id=f"web-{message_id}" if message_id else None,
                    metadata=checked,
                )
                if not await turn_gate().run(lambda: on_new_message(message)):
                    raise _TurnedAway  # not processed (a claim on its id is released)
                return "handled"

            async def replay() -> str | None:
                assert message_id is not None
                given = await replies_of_turn(self._agent, conversation, f"web-{message_id}")
                if given is None:
                    return None
                script = await script_for_turn(self._agent, conversation, text)
                output = WidgetOutput(sio, self.bot_message_evt, script)
                for message in given:
                    await output.send_response(conversation, message)
                return "handled"

            try:
                if message_id:
                    # A repeat of a handled message is acknowledged only; one sent again
                    # after the instance answering it died is answered here (or given the
                    # answer that instance's finished turn had given).
                    await answer_once(
                        self.store,
                        f"{conversation_tag(conversation)}:{message_id}",
                        answer,
                        claim_seconds=CLAIM_SECONDS,
                        replay=replay,
                    )
                else:
                    await answer()
            except _TurnedAway:
                # Saturated: not processed, so the same message may be sent again.
                busy = await busy_reply(self._agent, conversation, text, output_channel=WEB)
                if busy:
                    script = await script_for_turn(self._agent, conversation, text)
                    output = WidgetOutput(sio, self.bot_message_evt, script)
                    await output.send_response(conversation, busy)
                return {"error": "busy", "retry": True}
            except Exception as error:  # a failed turn may be sent again
                logger.error("the bot failed on a widget message: %s", type(error).__name__)
                return {"error": "the assistant could not answer this message"}
            return None

        return hook
