"""The public REST channel: ``POST /webhooks/rest/webhook`` with ``{"sender", "message"}``.

Rasa's own ``RestInput`` takes ``input_channel`` and ``metadata`` from the request
body, so anyone could claim to be a phone call with a carrier-verified caller number,
or a WeChat follower. This connector keeps the same contract and answers (a JSON list
of the bot's messages) but believes nothing the client says about itself: the channel
is always ``rest``, client metadata is dropped, and the conversation id comes from
:func:`bot.channels.conversation.conversation_id`, so a REST sender can never resume
a WeChat, voice or widget conversation. The message text is never logged.

An optional ``"message_id"`` (the client's own, 1-80 of ``A-Za-z0-9_.:-``) makes a
message safe to send again: within an hour, a repeat gets the answer the first one got
(from any Rasa instance: the ids and answers live in Redis when ``REDIS_URL`` is set),
and a repeat of a message whose instance died while answering it is answered once that
claim lapses (``CLAIM_SECONDS``). Without it, every request is a new message.

When the Rasa process is saturated, a message may get "busy, send it again" instead of
an answer (``bot/channels/admission.py``); it was then not processed.

The answer is the bot's texts (with buttons and images) as today: the ticket card an
action sends with a message about a ticket (a ``custom`` payload) is the chat widget's,
and is left out here.

A REST client cannot be called back, so progress notices from the desk (``POST
/webhooks/rest/push``, :mod:`bot.channels.pushes`) wait for the sender's next message
and come first in its answer, in order, each once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import customer_text
from bot.channels.admission import busy_reply, turn_gate
from bot.channels.conversation import REST, conversation_id
from bot.channels.pushes import DeskPush, add_push_route
from bot.channels.responses import agent_of, in_script, replies_of_turn, script_for_turn
from bot.channels.store import (
    ChannelStore,
    StillAnswering,
    answer_once,
    conversation_tag,
    store_for,
)
from bot.tracker_store import ConversationUnreadable
from ticketing import jsonlog

logger = logging.getLogger(__name__)

MAX_SENDER_LENGTH = 200
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
# A message id is remembered, with the answer given, for an hour.
REPEAT_WINDOW_SECONDS = 3600
# How long a message being answered stays claimed by the Rasa instance answering it (see
# bot/channels/widget.py): a repeat waits for that answer, or answers once the claim lapses.
CLAIM_SECONDS = float(os.environ.get("DESK_MESSAGE_CLAIM_SECONDS", "15"))
MAX_MESSAGE_CHARACTERS = 20_000
# How long a notice waits for the REST sender's next message.
KEPT_SECONDS = 14 * 24 * 3600


class TextCollector(CollectingOutputChannel):
    """Collects a turn's answer for the REST client, without custom payloads."""

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """A ticket card is drawn by the widget only; REST clients get the text."""


def _without_custom(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "custom"}


class BadRestMessage(ValueError):
    """The request is not ``{"sender": str, "message": str}`` within the limits."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_rest_body(body: Any) -> tuple[str, str, str | None]:
    """The sender, the message text and the optional message id of a REST request body,
    or BadRestMessage."""
    if not isinstance(body, dict):
        raise BadRestMessage('the body must be a JSON object {"sender": ..., "message": ...}')
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip():
        raise BadRestMessage("sender: a non-empty string is required")
    if len(sender) > MAX_SENDER_LENGTH or any(ord(c) < 32 for c in sender):
        raise BadRestMessage(f"sender: at most {MAX_SENDER_LENGTH} printable characters")
    if not isinstance(text, str):
        raise BadRestMessage("message: a string is required")
    if len(text) > MAX_MESSAGE_CHARACTERS:
        raise BadRestMessage(f"message: at most {MAX_MESSAGE_CHARACTERS} characters", status=413)
    message_id = body.get("message_id")
    if message_id is not None and not (
        isinstance(message_id, str) and _MESSAGE_ID.match(message_id)
    ):
        raise BadRestMessage("message_id: 1 to 80 letters, digits or _.:-")
    return sender, text, message_id


class _TurnedAway(Exception):
    """The gate found no place for the message in time: it was not processed."""


async def _answer(
    on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage
) -> None:
    """One turn; a failure leaves the customer with what was said so far."""
    try:
        await on_new_message(message)
    except Exception as error:
        logger.exception("the bot failed on a REST message: %s", type(error).__name__)


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)


class DeskRestInput(InputChannel):
    """Rasa's REST contract, with the channel and the conversation set by the connector."""

    @classmethod
    def name(cls) -> str:
        return REST

    def __init__(self, store: ChannelStore | None = None) -> None:
        # Message ids with their answers, and the notices kept for a sender's next
        # message: in Redis when REDIS_URL is set (any instance).
        self.store = store or store_for(
            os.environ.get("REDIS_URL"), prefix="desk:rest", ttl_seconds=REPEAT_WINDOW_SECONDS
        )

    @staticmethod
    def _kept_key(conversation: str) -> str:
        return f"kept:{conversation_tag(conversation)}"

    async def _push(self, push: DeskPush, text: str) -> str:
        """Keep a notice for the sender's next answer, after those kept already."""
        key = self._kept_key(push.conversation_id)
        kept = json.loads(await self.store.take(key) or "[]")
        kept.append(
            {
                "recipient_id": push.sender,
                "text": text,
                "custom": {"ticket": push.ticket_number, "notice": push.notice},
            }
        )
        await self.store.put(key, json.dumps(kept, ensure_ascii=False), ttl_seconds=KEPT_SECONDS)
        return "next_message"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """``GET /webhooks/rest/`` (health) and ``POST /webhooks/rest/webhook``."""
        hook = Blueprint("desk_rest_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        add_push_route(hook, channel=REST, store=self.store, deliver=self._push)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # Sanic raises InvalidUsage on a body that is not JSON
                return _error(400, "bad_request", "the body must be JSON")
            try:
                sender, text, message_id = parse_rest_body(body)
            except BadRestMessage as error:
                return _error(error.status, "bad_request", str(error))
            conversation = conversation_id(REST, sender)
            rid = jsonlog.begin(request.headers.get(jsonlog.HEADER), conversation=conversation)

            async def answer() -> str:
                collector = TextCollector()
                script = await script_for_turn(agent_of(request), conversation, text)
                message = UserMessage(
                    customer_text(text),
                    collector,
                    conversation,
                    input_channel=REST,
                    # The client's id, so the same message sent again is the same turn
                    # (the ticket actions key their idempotency on it).
                    message_id=f"rest-{message_id}" if message_id else None,
                    # Only the connector's own: the request id that follows this message
                    # into the action server's and the API's logs.
                    metadata={jsonlog.METADATA_KEY: rid},
                )
                try:
                    if not await turn_gate().run(lambda: _answer(on_new_message, message)):
                        raise _TurnedAway  # not processed (a claim on its id is released)
                except asyncio.CancelledError:
                    logger.error("a REST message timed out before the bot answered")
                kept = json.loads(await self.store.take(self._kept_key(conversation)) or "[]")
                return json.dumps(kept + [in_script(m, script) for m in collector.messages])

            async def replay() -> str | None:
                given = await replies_of_turn(agent_of(request), conversation, f"rest-{message_id}")
                if given is None:
                    return None
                script = await script_for_turn(agent_of(request), conversation, text)
                answered = [{"recipient_id": sender, **_without_custom(m)} for m in given]
                return json.dumps([in_script(m, script) for m in answered])

            try:
                if not message_id:
                    return response.raw(
                        await answer(),
                        content_type="application/json",
                        headers={jsonlog.HEADER: rid},
                    )
                # Sent again (the instance that had it died, or the answer got lost): the
                # answer given the first time, never a second turn.
                replies = await answer_once(
                    self.store,
                    f"{conversation_tag(conversation)}:{message_id}",
                    answer,
                    claim_seconds=CLAIM_SECONDS,
                    replay=replay,
                )
            except StillAnswering:
                return _error(409, "still_answering", "this message is still being answered")
            except ConversationUnreadable as error:
                # A kept answer or notice sealed with a key the ring lacks: said, never
                # shown as ciphertext (the message names the key id, nothing else).
                logger.error("a REST message's kept state is unreadable: %s", error)
                return _error(500, "state_unreadable", str(error))
            except _TurnedAway:
                # Saturated: the customer may send it again (notices kept wait for that).
                agent = agent_of(request)
                busy = await busy_reply(agent, conversation, text, output_channel=REST)
                script = await script_for_turn(agent, conversation, text)
                return response.json(
                    [in_script(busy, script)] if busy else [], headers={jsonlog.HEADER: rid}
                )
            return response.raw(
                replies, content_type="application/json", headers={jsonlog.HEADER: rid}
            )

        return hook
