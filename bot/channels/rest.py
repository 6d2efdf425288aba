"""The public REST channel: ``POST /webhooks/rest/webhook`` with ``{"sender", "message"}``.

Rasa's own ``RestInput`` takes ``input_channel`` and ``metadata`` from the request
body, so anyone could claim to be a phone call with a carrier-verified caller number,
or a WeChat follower. This connector keeps the same contract and answers (a JSON list
of the bot's messages) but believes nothing the client says about itself: the channel
is always ``rest``, client metadata is dropped, and the conversation id comes from
:func:`bot.channels.conversation.conversation_id`, so a REST sender can never resume
a WeChat, voice or widget conversation. The message text is never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import customer_text
from bot.channels.admission import busy_reply, turn_gate
from bot.channels.conversation import REST, conversation_id
from bot.channels.responses import agent_of, in_script, script_for_turn

logger = logging.getLogger(__name__)

MAX_SENDER_LENGTH = 200
MAX_MESSAGE_CHARACTERS = 20_000


class BadRestMessage(ValueError):
    """The request is not ``{"sender": str, "message": str}`` within the limits."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_rest_body(body: Any) -> tuple[str, str]:
    """The sender and the message text of a REST request body, or BadRestMessage."""
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
    return sender, text


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

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """``GET /webhooks/rest/`` (health) and ``POST /webhooks/rest/webhook``."""
        hook = Blueprint("desk_rest_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # Sanic raises InvalidUsage on a body that is not JSON
                return _error(400, "bad_request", "the body must be JSON")
            try:
                sender, text = parse_rest_body(body)
            except BadRestMessage as error:
                return _error(error.status, "bad_request", str(error))
            collector = CollectingOutputChannel()
            conversation = conversation_id(REST, sender)
            script = await script_for_turn(agent_of(request), conversation, text)
            message = UserMessage(
                customer_text(text),
                collector,
                conversation,
                input_channel=REST,
                metadata=None,
            )
            try:
                taken_in = await turn_gate().run(lambda: _answer(on_new_message, message))
            except asyncio.CancelledError:
                logger.error("a REST message timed out before the bot answered")
                taken_in = True
            if not taken_in:
                # Saturated: the message was not processed; the customer may send it again.
                busy = await busy_reply(agent_of(request), conversation, text, output_channel=REST)
                return response.json([in_script(busy, script)] if busy else [])
            return response.json([in_script(m, script) for m in collector.messages])

        return hook
