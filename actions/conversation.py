"""Who the actions are talking to: the conversation's channel, sender and caller number.

Every fact here comes from the conversation id, which only the desk's channel
connectors create (``bot/channels/conversation.py``): ``wechat:<openid>`` only after a
signed WeChat push, ``voice:<call id>`` only after a signed gateway turn, ``web:<session>``
from the widget's socket, a plain sender from the public REST channel. Nothing a client
can put in a message body (an ``input_channel``, metadata) decides who the customer is.
"""

from __future__ import annotations

from rasa_sdk import Tracker

from bot.channels.conversation import (
    DESK_CHANNEL_OF_INPUT,
    VOICE,
    Conversation,
    split_conversation_id,
)

# Rasa's text for intents triggered from outside (POST /conversations/{id}/trigger_intent).
EXTERNAL_PREFIX = "EXTERNAL: "


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
            raise UntrustedTracker(f"a {channel!r} message in a {expected!r} conversation")


def _external(event: dict) -> bool:
    return str(event.get("text") or "").startswith(EXTERNAL_PREFIX)
