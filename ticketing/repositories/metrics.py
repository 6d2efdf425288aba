"""Queries behind ``/metrics``: counts the desk's database holds for every worker alike."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketing.enums import TicketStatus
from ticketing.models import Queue, RelayDelivery, Ticket, TicketEvent

# The SLA marks the scheduler sets once per ticket and clock: (clock, kind, column).
_SLA_MARKS = (
    ("first_response", "warning", Ticket.first_response_warned_at),
    ("resolution", "warning", Ticket.resolution_warned_at),
    ("first_response", "breach", Ticket.first_response_breached_at),
    ("resolution", "breach", Ticket.resolution_breached_at),
)


def tickets_opened(session: Session) -> list[tuple[str, str, int]]:
    """(queue key, channel, tickets ever opened), for the ticket's current queue."""
    rows = session.execute(
        select(Queue.key, Ticket.channel, func.count(Ticket.id))
        .join(Queue, Ticket.queue_id == Queue.id)
        .group_by(Queue.key, Ticket.channel)
    ).all()
    return [(key, str(channel), int(count)) for key, channel, count in rows]


def resolutions(session: Session) -> list[tuple[str, str, int]]:
    """(queue key, channel, times a ticket became resolved), from the append-only history.

    Counted from history, not ``resolved_at``: a reopened ticket's resolution still counts,
    so the figure only grows.
    """
    rows = session.execute(
        select(Queue.key, Ticket.channel, func.count(TicketEvent.id))
        .join(Ticket, TicketEvent.ticket_id == Ticket.id)
        .join(Queue, Ticket.queue_id == Queue.id)
        .where(TicketEvent.field == "status", TicketEvent.new_value == str(TicketStatus.RESOLVED))
        .group_by(Queue.key, Ticket.channel)
    ).all()
    return [(key, str(channel), int(count)) for key, channel, count in rows]


def sla_marks(session: Session) -> list[tuple[str, str, str, int]]:
    """(queue key, clock, warning|breach, tickets marked); each mark is set once."""
    result: list[tuple[str, str, str, int]] = []
    for clock, kind, column in _SLA_MARKS:
        rows = session.execute(
            select(Queue.key, func.count(Ticket.id))
            .join(Queue, Ticket.queue_id == Queue.id)
            .where(column.is_not(None))
            .group_by(Queue.key)
        ).all()
        result.extend((key, clock, kind, int(count)) for key, count in rows)
    return result


def relay_deliveries(session: Session) -> tuple[int, int]:
    """(deliveries still to deliver, deliveries given up) in the relay's outbox."""
    pending = session.scalar(
        select(func.count(RelayDelivery.id)).where(
            RelayDelivery.delivered_at.is_(None), RelayDelivery.failed_at.is_(None)
        )
    )
    failed = session.scalar(
        select(func.count(RelayDelivery.id)).where(RelayDelivery.failed_at.is_not(None))
    )
    return int(pending or 0), int(failed or 0)
