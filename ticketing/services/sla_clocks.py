"""SLA clocks: the arithmetic of a ticket's first-response and resolution clocks.

The clocks are timestamps on the ticket (dues and warning times at 80 %), fixed at
creation from ``routing.yml`` (:meth:`ticketing.routing.SlaPolicy.dues`). A pending
ticket's clocks pause: leaving ``pending`` pushes every running clock out by the
pause's length. This module reads and moves them and nothing else; the scan that
announces and escalates is :mod:`ticketing.services.sla_scan`.
"""

from __future__ import annotations

from datetime import datetime

from ticketing.enums import ACTIVE_STATUSES, TicketStatus
from ticketing.models import Ticket, utcnow
from ticketing.schemas import SlaState

CLOCK_FIELDS = (
    "first_response_due_at",
    "first_response_warning_at",
    "resolution_due_at",
    "resolution_warning_at",
)


def pause_changes(ticket: Ticket, *, to: TicketStatus, now: datetime) -> dict[str, object]:
    """The field changes that pause or resume the clocks when a ticket changes status."""
    if to is TicketStatus.PENDING and ticket.sla_paused_at is None:
        return {"sla_paused_at": now}
    if to is not TicketStatus.PENDING and ticket.sla_paused_at is not None:
        paused = now - ticket.sla_paused_at
        changes: dict[str, object] = {"sla_paused_at": None}
        for field in CLOCK_FIELDS:
            value = getattr(ticket, field)
            if value is not None:
                changes[field] = value + paused
        return changes
    return {}


def sla_state(ticket: Ticket, *, now: datetime | None = None) -> SlaState:
    """``ok``, ``warning`` (80 % of a target used) or ``breached``, for an active ticket."""
    if ticket.status not in ACTIVE_STATUSES:
        return "ok"
    moment = now or utcnow()
    waiting_first = ticket.first_responded_at is None
    if (
        waiting_first and ticket.first_response_due_at < moment
    ) or ticket.resolution_due_at < moment:
        return "breached"
    warn_first = ticket.first_response_warning_at
    warn_resolution = ticket.resolution_warning_at
    if (waiting_first and warn_first is not None and warn_first <= moment) or (
        warn_resolution is not None and warn_resolution <= moment
    ):
        return "warning"
    return "ok"
