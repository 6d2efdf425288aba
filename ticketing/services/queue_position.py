"""Where a waiting customer stands: their ticket's place in its queue.

While a ticket waits for an agent, the customer may ask where they stand:
:func:`queue_position` counts the unassigned tickets of the same queue that an agent
will take first (earliest first-response deadline first, as the console sorts them).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ticketing.enums import TicketStatus
from ticketing.models import Ticket
from ticketing.repositories import queues as queues_repo

# Statuses in which a ticket waits in its queue for an agent to pick it up.
WAITING_STATUSES = (TicketStatus.NEW, TicketStatus.ESCALATED)


@dataclass(frozen=True)
class QueuePosition:
    """Where a ticket stands: its place among the waiting tickets of its queue, or the
    agent who holds it."""

    status: TicketStatus
    queue: str
    queue_names: dict[str, str]
    position: int | None
    waiting: int
    assignee: str | None


def queue_position(session: Session, *, ticket: Ticket) -> QueuePosition:
    """The ticket's place in its queue (1 = next), None when it is not waiting."""
    waiting = queues_repo.waiting_count(
        session, queue_id=ticket.queue_id, statuses=WAITING_STATUSES
    )
    is_waiting = ticket.status in WAITING_STATUSES and ticket.assignee_id is None
    position = None
    if is_waiting:
        ahead = queues_repo.waiting_ahead(session, ticket=ticket, statuses=WAITING_STATUSES)
        position = ahead + 1
    return QueuePosition(
        status=ticket.status,
        queue=ticket.queue.key,
        queue_names={"en": ticket.queue.name_en, "zh": ticket.queue.name_zh},
        position=position,
        waiting=waiting,
        assignee=ticket.assignee.display_name if ticket.assignee else None,
    )
