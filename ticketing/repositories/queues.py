"""Queries on queues: the queues themselves and the tickets waiting in them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from ticketing.enums import TicketStatus
from ticketing.models import Queue, Ticket


def get_by_key(session: Session, key: str) -> Queue | None:
    """The queue with this key, if it exists."""
    return session.scalar(select(Queue).where(Queue.key == key))


def list_by_keys(session: Session, keys: list[str]) -> list[Queue]:
    """The queues with these keys (missing keys are skipped)."""
    return list(session.scalars(select(Queue).where(Queue.key.in_(keys)).order_by(Queue.id)))


def add(session: Session, queue: Queue) -> Queue:
    """Insert a queue."""
    session.add(queue)
    session.flush()
    return queue


def list_all(session: Session) -> list[Queue]:
    """Every queue, in the order they were created."""
    return list(session.scalars(select(Queue).order_by(Queue.id)))


def waiting_count(session: Session, *, queue_id: int, statuses: Sequence[TicketStatus]) -> int:
    """How many unassigned tickets of this queue wait in one of these statuses."""
    return (
        session.scalar(select(func.count()).select_from(Ticket).where(_waiting(queue_id, statuses)))
        or 0
    )


def waiting_ahead(session: Session, *, ticket: Ticket, statuses: Sequence[TicketStatus]) -> int:
    """How many of the queue's waiting tickets an agent takes before this one: an earlier
    first-response deadline, or the same one and an older ticket."""
    ahead = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(
            _waiting(ticket.queue_id, statuses),
            or_(
                Ticket.first_response_due_at < ticket.first_response_due_at,
                and_(
                    Ticket.first_response_due_at == ticket.first_response_due_at,
                    Ticket.id < ticket.id,
                ),
            ),
        )
    )
    return ahead or 0


def _waiting(queue_id: int, statuses: Sequence[TicketStatus]) -> ColumnElement[bool]:
    return and_(
        Ticket.queue_id == queue_id,
        Ticket.status.in_(statuses),
        Ticket.assignee_id.is_(None),
    )
