"""The desk's Rasa input channels: REST, the chat widget, WeChat and the phone gateway."""

from __future__ import annotations


def plain_text(text: str) -> str:
    """A customer's words, never read by Rasa as a command (``/intent{...}`` or ``/restart``).

    Rasa treats a message starting with "/" as an intent with entities; on a public
    channel that would let anyone set slots or restart the conversation. A leading
    full-width slash reads the same to a person and is plain text to Rasa.
    """
    stripped = text.strip()
    return "／" + stripped[1:] if stripped.startswith("/") else stripped


# Intents only the desk itself triggers (through Rasa's HTTP API): an agent's reply, a
# resolution, a handback. Typed as a "/intent{...}" command on a public channel they
# would let a customer put words in an agent's mouth or close a handoff.
DESK_ONLY_INTENTS = frozenset({"agent_reply", "ticket_resolved", "handed_back"})


def customer_text(text: str) -> str:
    """A message from a channel with buttons (REST, the widget).

    Button payloads (``/affirm``, ``/rate_service{"rating": "5"}``) stay commands, as the
    bot's buttons need; a command for an intent only the desk triggers becomes plain text.
    """
    stripped = text.strip()
    if stripped.startswith("/"):
        intent = stripped[1:].split("{", 1)[0].split("@", 1)[0].strip()
        if intent in DESK_ONLY_INTENTS:
            return plain_text(stripped)
    return text
