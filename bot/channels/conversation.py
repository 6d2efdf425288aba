"""Which conversation a message belongs to: a fact of the connector, never of the payload.

Rasa keys a conversation by one string, its sender id. If every channel used the
sender as its customers know it, a REST client could send ``"sender": "<a WeChat
openid>"`` and continue that WeChat customer's conversation (its slots, its handoff,
its tickets). So the desk's connectors name each conversation ``<channel>:<sender>``
(``web:``, ``wechat:``, ``voice:``), and the connector of a channel is the only code
that creates ids with its prefix: the WeChat connector after checking the push's
signature, the voice connector after checking the gateway's HMAC, the socket.io
connector for widget sessions.

The REST channel is the public contract (``{"sender", "message"}``), so its ids stay the
sender as given; a REST sender that starts with a reserved prefix is namespaced again
(``rest:wechat:o123``), so it can never reach another channel's conversation.

The actions derive the channel and the customer's sender id from the conversation id
with :func:`split_conversation_id`; the ticketing API builds the same ids for the relay
(``ticketing.conversations``). ``tests/data/conversation_ids.json`` holds the examples
both sides are tested against.
"""

from __future__ import annotations

from typing import NamedTuple

REST = "rest"
WEB = "web"
WECHAT = "wechat"
VOICE = "voice"
# The desk's channel names that own a prefix; "rest" is the prefix of REST senders that
# would otherwise look like one of them.
PREFIXED_CHANNELS = (WEB, WECHAT, VOICE, REST)
# Rasa's input channel names -> the desk's channel names.
DESK_CHANNEL_OF_INPUT = {"rest": REST, "socketio": WEB, "wechat": WECHAT, "voice": VOICE}


class Conversation(NamedTuple):
    """The desk's channel and the sender id as that channel knows the customer."""

    channel: str
    sender: str


def conversation_id(channel: str, sender: str) -> str:
    """The Rasa conversation id of ``sender`` on the desk channel ``channel``."""
    if channel == REST:
        return f"{REST}:{sender}" if _has_prefix(sender) else sender
    if channel not in PREFIXED_CHANNELS:
        raise ValueError(f"not a conversation channel: {channel!r}")
    return f"{channel}:{sender}"


def split_conversation_id(value: str) -> Conversation:
    """The channel and sender of a Rasa conversation id (inverse of :func:`conversation_id`)."""
    channel, separator, sender = value.partition(":")
    if separator and channel in PREFIXED_CHANNELS:
        return Conversation(channel, sender)
    return Conversation(REST, value)


def _has_prefix(sender: str) -> bool:
    channel, separator, _ = sender.partition(":")
    return bool(separator) and channel in PREFIXED_CHANNELS
