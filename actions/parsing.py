"""Recognise contacts and ticket numbers in what a customer typed."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
# Mainland mobile numbers, optionally with +86 and with spaces or dashes between digits
# ("139 1234 5678", "+86 138-0013-8000").
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8})(?!\d)")
_TICKET = re.compile(r"(?i)(?<![a-z0-9])sd[\s-]?(\d{6,9})(?!\d)")


def parse_contact(text: str) -> str | None:
    """Return the e-mail address or 11-digit mobile number in ``text``, or None."""
    email = _EMAIL.search(text)
    if email:
        return email.group(1).lower()
    mobile = _MOBILE.search(text)
    if mobile:
        return re.sub(r"\D", "", mobile.group(1))
    return None


def is_email(contact: str) -> bool:
    """Whether a parsed contact is an e-mail address (otherwise it is a phone number)."""
    return "@" in contact


def parse_ticket_number(text: str) -> str | None:
    """Return the ticket number in ``text`` in its canonical form ``SD-100001``, or None."""
    match = _TICKET.search(text)
    return f"SD-{match.group(1)}" if match else None
