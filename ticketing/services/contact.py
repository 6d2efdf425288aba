"""The customer's contact preferences, applied to what the desk pushes to them.

``Customer.contact_preferences`` (edited through the profile API):

- ``notifications``: false opts out of progress notices (assigned, waiting on you,
  resolved, late). An agent's reply and the resolution of their request still reach
  them: those answer what they asked.
- ``channels``: when not empty, the only channels the desk may push notices on.
- ``quiet_hours``: ``[start, end]`` in the customer's time zone (default 22:00-08:00):
  nothing is pushed then unless the ticket is urgent; it waits until the end.
- ``time_zone``: an IANA name (default from ``notices.yml``).

A customer who wrote on the ticket in the last ``active_minutes`` is in the conversation
right now: nothing that answers them is held back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy.orm import Session

from ticketing.enums import Priority
from ticketing.models import Customer, Ticket
from ticketing.repositories import tickets as tickets_repo

NOTICES_PATH = Path(__file__).resolve().parents[1] / "notices.yml"


@lru_cache(maxsize=1)
def notice_config() -> dict[str, Any]:
    """``ticketing/notices.yml``, read once."""
    with NOTICES_PATH.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("texts"), dict):
        raise ValueError(f"{NOTICES_PATH}: a mapping with 'texts' is required")
    return data


@dataclass(frozen=True)
class Decision:
    """What to do with one push: send at ``send_at`` (now, or when quiet hours end), or
    not at all (``skipped`` says why)."""

    send_at: datetime
    held: bool = False
    skipped: str | None = None
    # Sent now whatever the hour (the customer is writing, or the ticket is urgent): what
    # the ticket has held for quiet hours goes now too, ahead of it.
    releases: bool = False


def time_zone(preferences: dict[str, Any]) -> ZoneInfo:
    """The customer's time zone (the desk's default when unset or unknown)."""
    name = preferences.get("time_zone") or notice_config()["default_time_zone"]
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(str(notice_config()["default_time_zone"]))


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(preferences: dict[str, Any], now: datetime) -> datetime | None:
    """When the customer's quiet hours end, if ``now`` is inside them; else None."""
    window = preferences.get("quiet_hours") or notice_config()["default_quiet_hours"]
    start, end = _clock(str(window[0])), _clock(str(window[1]))
    if start == end:
        return None
    zone = time_zone(preferences)
    local = now.astimezone(zone)
    moment = local.time().replace(second=0, microsecond=0)
    inside = (start <= moment or moment < end) if start > end else (start <= moment < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, zone)
    if ends <= local:
        ends = datetime.combine(local.date() + timedelta(days=1), end, zone)
    return ends


def opted_out(preferences: dict[str, Any], channel: str) -> bool:
    """Whether the customer refuses progress notices on this channel."""
    if preferences.get("notifications") is False:
        return True
    allowed = preferences.get("channels") or []
    return bool(allowed) and channel not in allowed


def customer_active(session: Session, ticket: Ticket, now: datetime) -> bool:
    """Whether the customer wrote on this ticket in the last ``active_minutes``."""
    since = now - timedelta(minutes=int(notice_config()["active_minutes"]))
    last = tickets_repo.last_customer_message_at(session, ticket.id)
    return last is not None and last >= since


def decide(
    session: Session, *, ticket: Ticket, channel: str, notice: bool, now: datetime
) -> Decision:
    """Apply the customer's preferences to one push (``notice``: a progress notice, which
    opting out stops; otherwise an answer to the customer, which only waits)."""
    customer = session.get(Customer, ticket.customer_id)
    preferences: dict[str, Any] = dict(customer.contact_preferences or {}) if customer else {}
    if customer_active(session, ticket, now):
        return Decision(send_at=now, releases=True)
    if notice and opted_out(preferences, channel):
        return Decision(send_at=now, skipped="the customer opted out of notices")
    if ticket.priority is Priority.URGENT:
        return Decision(send_at=now, releases=True)
    until = quiet_until(preferences, now)
    if until is not None:
        return Decision(send_at=until, held=True)
    return Decision(send_at=now)
