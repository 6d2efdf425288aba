"""Progress pushed by the desk: ``POST /webhooks/<channel>/push`` on every connector.

The desk's relay (``ticketing/relay.py``) delivers progress notices ("your ticket has
been assigned", "we're late, here is the new time") to the channel the customer used:

    POST /webhooks/{socketio,wechat,voice,rest}/push
    Authorization: Bearer <JWT signed with DESK_RASA_JWT_SECRET, HS256, short-lived>
    {"push_id": 42, "conversation_id": "wechat:o123", "text": "...",
     "ticket_number": "SD-100042", "notice": "assigned",
     "sms_to": "+8613912345678"}          (phone conversations only, optional)
    -> 200 {"status": "sent" | "duplicate", "via": "..."}

The notice is said by the channel, not by the dialogue: it never enters the
conversation's history, so no model retraining is needed for new wordings. The text
comes from the desk already in the customer's language; a customer who writes
Traditional Chinese reads it in Traditional (the conversation's script, as for every
reply). The relay delivers at least once; a ``push_id`` already handled is answered
``duplicate`` and not sent again. The token is the one Rasa's HTTP API accepts, so
the route is as closed as ``/conversations``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.conversation import split_conversation_id
from bot.channels.responses import agent_of, in_script
from bot.channels.store import ChannelStore, conversation_tag
from bot.nlu.script import conversation_script

logger = logging.getLogger(__name__)

SECRET_ENV = "DESK_RASA_JWT_SECRET"
MAX_TEXT_CHARACTERS = 2000
NOTICES = frozenset({"assigned", "reply", "waiting", "resolved", "late"})
_TICKET = re.compile(r"^SD-\d{1,12}$")
_PHONE = re.compile(r"^\+?\d{3,20}$")


class BadPush(ValueError):
    """The body is not a push; the message names the field."""


@dataclass(frozen=True)
class DeskPush:
    """One progress notice for one conversation."""

    push_id: int
    conversation_id: str
    text: str
    ticket_number: str
    notice: str
    # For a caller: the number to send the notice to by SMS (from the desk's profile).
    sms_to: str | None = None

    @property
    def sender(self) -> str:
        """The customer's id on the channel (session, openid, call id, REST sender)."""
        return split_conversation_id(self.conversation_id).sender

    @property
    def channel(self) -> str:
        """The desk channel the conversation id names."""
        return split_conversation_id(self.conversation_id).channel


def parse_push(body: Any, *, channel: str) -> DeskPush:
    """Validate a push body for the connector of ``channel``; BadPush says what is wrong."""
    if not isinstance(body, dict):
        raise BadPush("the body must be a JSON object")
    push_id = body.get("push_id")
    if isinstance(push_id, bool) or not isinstance(push_id, int) or push_id < 1:
        raise BadPush("push_id: a positive integer")
    conversation = body.get("conversation_id")
    if not isinstance(conversation, str) or not 1 <= len(conversation) <= 200:
        raise BadPush("conversation_id: a string of 1 to 200 characters")
    if split_conversation_id(conversation).channel != channel:
        raise BadPush(f"conversation_id: not a {channel} conversation")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARACTERS:
        raise BadPush(f"text: a non-empty string of at most {MAX_TEXT_CHARACTERS} characters")
    number = body.get("ticket_number")
    if not isinstance(number, str) or not _TICKET.match(number):
        raise BadPush("ticket_number: SD- and digits")
    notice = body.get("notice")
    if notice not in NOTICES:
        raise BadPush(f"notice: one of {', '.join(sorted(NOTICES))}")
    sms_to = body.get("sms_to")
    if sms_to is not None and (not isinstance(sms_to, str) or not _PHONE.match(sms_to)):
        raise BadPush("sms_to: a phone number")
    return DeskPush(push_id, conversation, text.strip(), number, str(notice), sms_to)


def token_ok(request: Request, secret: str) -> bool:
    """Whether the request carries a valid, unexpired HS256 JWT signed with ``secret``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return False
    return True


async def in_customer_script(agent: Any | None, push: DeskPush) -> str:
    """The push's text in the conversation's Chinese script (Traditional when they write it)."""
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return push.text
    try:
        tracker = await store.retrieve(push.conversation_id)
    except Exception as error:  # a tracker store outage must not stop the push
        logger.warning("could not read the conversation's script: %s", type(error).__name__)
        return push.text
    script = conversation_script(tracker.events) if tracker is not None else None
    return str(in_script({"text": push.text}, script)["text"])


Deliver = Callable[[DeskPush, str], Awaitable[str]]


def add_push_route(hook: Blueprint, *, channel: str, store: ChannelStore, deliver: Deliver) -> None:
    """Add ``POST /push`` to a connector's blueprint; ``deliver(push, text)`` sends it and
    returns how ("socket", "template", "sms" ...)."""

    @hook.route("/push", methods=["POST"])
    async def push(request: Request) -> HTTPResponse:
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            return _error(503, "not_configured", f"{SECRET_ENV} is not set")
        if not token_ok(request, secret):
            return _error(401, "unauthorized", "a valid bearer token is required")
        try:
            body = request.json
        except Exception:  # Sanic raises InvalidUsage on a body that is not JSON
            return _error(400, "bad_request", "the body must be JSON")
        try:
            item = parse_push(body, channel=channel)
        except BadPush as error:
            return _error(422, "invalid_push", str(error))
        # The relay's ids are one desk's; with the conversation in the key, desks (or test
        # runs on fresh schemas) sharing one Redis cannot take each other's for repeats.
        key = f"push:{conversation_tag(item.conversation_id)}:{item.push_id}"
        if not await store.claim(key):
            return response.json({"status": "duplicate"})
        text = await in_customer_script(agent_of(request), item)
        try:
            via = await deliver(item, text)
        except Exception as error:
            await store.release(key)  # the relay tries again later
            logger.warning("push %d failed: %s", item.push_id, error)
            return _error(502, "not_delivered", str(error)[:200])
        return response.json({"status": "sent", "via": via})


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)
