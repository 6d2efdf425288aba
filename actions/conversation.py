"""The conversation an action works in: the helpers every action module shares.

Who the actions are talking to (the conversation's channel, sender and caller number)
comes from the conversation id, which only the desk's channel connectors create
(``bot/channels/conversation.py``): ``wechat:<openid>`` only after a signed WeChat push,
``voice:<call id>`` only after a signed gateway turn, ``web:<session>`` from the widget's
socket, a plain sender from the public REST channel. Nothing a client can put in a
message body (an ``input_channel``, metadata) decides who the customer is.

An action module imports what it shares with others from here (or from the other helper
modules), never from another action module: the customer's language,
the transcript and the details they told (as lines under a ticket's description), a
ticket number in their message, the desk client acting for them, and the ticket card
sent with a message about one ticket. Ticket request keys are in
``actions.ticket_requests``, the API's data in ``actions.desk_api``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker

from actions.dates import parse_date
from actions.desk_api import DeskApiClient, Ticket
from actions.labels import detail_label
from actions.parsing import parse_ticket_number
from actions.settings import ActionSettings
from bot.channels.conversation import (
    DESK_CHANNEL_OF_INPUT,
    VOICE,
    Conversation,
    split_conversation_id,
)

# Rasa's text for intents triggered from outside (POST /conversations/{id}/trigger_intent).
EXTERNAL_PREFIX = "EXTERNAL: "
# The longest text the API takes as a description or a message.
MAX_DESCRIPTION = 4000
_TRANSCRIPT_TURNS = 20
# The order_number slot's value when the customer said they have none.
NO_ORDER_NUMBER = "none"
# The contact slot's value when the customer would rather not leave one.
NO_CONTACT = "none"
# The ticket_number slot's value after two answers that named no ticket.
UNKNOWN_TICKET = "unknown"
# What the customer reported: unchanged since a creation that got no answer, asking
# again is the same report (actions.ticket_requests).
REPORT_SLOTS = (
    "problem_description",
    "category",
    "ticket_category",
    "order_number",
    "product",
    "incident_date",
    "contact",
)


class UntrustedTracker(Exception):
    """A tracker whose channel facts disagree with its conversation id."""


def conversation_of(tracker: Tracker) -> Conversation:
    """The desk channel and the customer's sender id of this conversation."""
    return split_conversation_id(tracker.sender_id or "")


def conversation_channel(tracker: Tracker) -> str:
    """The desk's name for the channel this conversation came in on."""
    return conversation_of(tracker).channel


def conversation_sender(tracker: Tracker) -> str:
    """The sender id as the channel knows the customer (openid, call id, session, REST sender)."""
    return conversation_of(tracker).sender


def caller_number(tracker: Tracker) -> str | None:
    """On a phone call, the caller's number as the carrier gave it (verified).

    Believed only in a ``voice:`` conversation, from a message the voice connector
    delivered (it checks the gateway's signature and sets the metadata itself).
    """
    if conversation_channel(tracker) != VOICE:
        return None
    for event in reversed(tracker.events):
        if event.get("event") == "user" and not _external(event):
            if event.get("input_channel") != VOICE:
                return None
            number = (event.get("metadata") or {}).get("caller_number")
            return str(number) if number else None
    return None


def check_channel_facts(tracker: Tracker) -> None:
    """Refuse a tracker whose customer messages came in on another channel than its id says.

    Rasa's connectors write the input channel of every message; a message from the
    public REST channel inside a ``voice:`` conversation (or the other way round) means
    the tracker was made up or tampered with, and no action should run on it.
    """
    expected = conversation_channel(tracker)
    for event in tracker.events:
        if event.get("event") != "user" or _external(event):
            continue
        channel = event.get("input_channel")
        if channel is None:
            continue  # Rasa's own HTTP API (the desk's relay, tests) sets none
        if DESK_CHANNEL_OF_INPUT.get(channel) != expected:
            raise UntrustedTracker(
                f"a {channel!r} message in a {expected!r} conversation"
            )


def _external(event: dict) -> bool:
    return str(event.get("text") or "").startswith(EXTERNAL_PREFIX)


def conversation_language(tracker: Tracker) -> str:
    """The customer's language as the bot last detected it (English by default)."""
    return "zh" if tracker.get_slot("language") == "zh" else "en"


def desk_client(settings: ActionSettings, tracker: Tracker) -> DeskApiClient:
    """The API client acting for this conversation's customer."""
    return DeskApiClient.from_settings(
        settings, channel=conversation_channel(tracker), sender=conversation_sender(tracker)
    )


def mentioned_ticket(tracker: Tracker) -> str | None:
    """The ticket number in the customer's latest message (entity or text), if any."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "ticket_number":
            number = parse_ticket_number(str(entity.get("value") or ""))
            if number:
                return number
    return parse_ticket_number(str(tracker.latest_message.get("text") or ""))


def transcript(tracker: Tracker, *, turns: int = _TRANSCRIPT_TURNS) -> list[dict[str, Any]]:
    """The last customer and bot messages of the conversation, oldest first."""
    lines: list[dict[str, Any]] = []
    for event in tracker.events:
        if event.get("event") not in ("user", "bot") or not event.get("text"):
            continue
        if str(event["text"]).startswith(EXTERNAL_PREFIX):
            continue  # an intent the desk triggered (an agent's reply), not the customer
        author = "customer" if event["event"] == "user" else "bot"
        lines.append({"author_type": author, "body": event["text"][:MAX_DESCRIPTION]})
    return lines[-turns:]


def local_today(settings: ActionSettings, at: float | None = None) -> date:
    """Today's date where the desk is (what "yesterday" is relative to), or the date at
    the epoch second ``at``."""
    zone = ZoneInfo(settings.timezone)
    return (datetime.now(zone) if at is None else datetime.fromtimestamp(at, zone)).date()


def ticket_details(
    *,
    language: str,
    today: date,
    order_number: str | None = None,
    product: str | None = None,
    day: str | None = None,
    name: str | None = None,
    contact: str | None = None,
    contact_as_given: str | None = None,
) -> str:
    """Lines naming what the customer told: their name, the order number, the product,
    the day (as an ISO date), a contact (read back only) or one kept as written; or ''."""
    lines: list[str] = []
    if name:
        lines.append(f"{detail_label('name', language)}: {name}")
    if contact:
        lines.append(f"{detail_label('contact', language)}: {contact}")
    if contact_as_given and contact_as_given != NO_CONTACT:
        lines.append(f"{detail_label('contact_as_given', language)}: {contact_as_given}")
    if order_number and order_number != NO_ORDER_NUMBER:
        lines.append(f"{detail_label('order_number', language)}: {order_number}")
    if product:
        lines.append(f"{detail_label('product', language)}: {product}")
    found = parse_date(day, today=today) if day else None
    if found:
        lines.append(f"{detail_label('date', language)}: {found.isoformat()}")
    return "\n".join(lines)


def ticket_card(ticket: Ticket) -> dict[str, str]:
    """The structured part of a message about one ticket: its number and status as the
    desk answered them (``utter_message(json_message=...)``, Rasa's ``custom``).

    The chat widget draws a ticket card from it under the message's text
    (``bot/channels/widget.py`` sends both in one message); WeChat, the phone and REST
    send the text only. The desk's progress pushes carry ``ticket`` the same way.
    """
    return {"ticket": ticket.number, "status": ticket.status}
