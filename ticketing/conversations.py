"""Rasa's conversation ids, as the desk's channel connectors name them.

The bot's connectors key each conversation by channel and sender
(``bot/channels/conversation.py``): ``web:<widget session>``, ``wechat:<openid>``,
``voice:<call id>``, and for the public REST channel the sender as given (namespaced as
``rest:<sender>`` when it would look like another channel's id). The API stores that id
on a ticket the bot opens or escalates, so the relay delivers an agent's reply into the
right conversation. The two environments share no code, so both sides are tested
against the same examples (``tests/data/conversation_ids.json``).
"""

from __future__ import annotations

import hashlib

REST = "rest"
# The channels whose conversation ids carry their name as a prefix; "rest" is the prefix
# of REST senders that would otherwise look like one of them.
PREFIXED_CHANNELS = ("web", "wechat", "voice", REST)


def rasa_conversation_id(channel: str, sender: str) -> str:
    """The Rasa conversation id of ``sender`` on the desk channel ``channel``."""
    if channel == REST:
        prefix, separator, _ = sender.partition(":")
        return f"{REST}:{sender}" if separator and prefix in PREFIXED_CHANNELS else sender
    if channel not in PREFIXED_CHANNELS:
        raise ValueError(f"not a conversation channel: {channel!r}")
    return f"{channel}:{sender}"


def channel_key_tag(conversation_id: str) -> str:
    """How the bot's channels name a conversation in their Redis keys (``c`` and 24 hex
    digits of its SHA-256; ``bot.channels.store.conversation_tag``): erasure finds every key
    a channel keeps for the conversation by it."""
    return "c" + hashlib.sha256(conversation_id.encode()).hexdigest()[:24]
