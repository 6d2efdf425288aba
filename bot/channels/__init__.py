"""Custom Rasa input channels: the WeChat official account and the phone gateway."""

from __future__ import annotations


def plain_text(text: str) -> str:
    """A customer's words, never read by Rasa as a command (``/intent{...}`` or ``/restart``).

    Rasa treats a message starting with "/" as an intent with entities; on a public
    channel that would let anyone set slots or restart the conversation. A leading
    full-width slash reads the same to a person and is plain text to Rasa.
    """
    stripped = text.strip()
    return "／" + stripped[1:] if stripped.startswith("/") else stripped
