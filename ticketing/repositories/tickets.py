"""Queries on tickets, their messages and their history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import flag_modified

from ticketing.models import Ticket, TicketEvent, TicketMessage, ticket_number


def get_by_number(session: Session, number: str) -> Ticket | None:
    """A ticket by its public number, with its queue and message thread loaded."""
    return session.scalar(
        select(Ticket)
        .where(Ticket.number == number)
        .options(joinedload(Ticket.queue), selectinload(Ticket.messages))
        .execution_options(populate_existing=True)
    )


def get_by_id(session: Session, ticket_id: int) -> Ticket | None:
    """A ticket by id, with its queue and message thread loaded."""
    return session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(joinedload(Ticket.queue), selectinload(Ticket.messages))
        .execution_options(populate_existing=True)
    )


def add(session: Session, ticket: Ticket) -> Ticket:
    """Insert a ticket and give it its number, derived from the id in the same transaction."""
    session.add(ticket)
    session.flush()
    ticket.number = ticket_number(ticket.id)
    # Part of the insert, not a change: write updated_at explicitly so onupdate stays out.
    ticket.updated_at = ticket.created_at
    flag_modified(ticket, "updated_at")
    session.flush()
    return ticket


def add_message(session: Session, message: TicketMessage) -> TicketMessage:
    """Append a message to a ticket's thread."""
    session.add(message)
    return message


def add_event(session: Session, event: TicketEvent) -> TicketEvent:
    """Record a change in a ticket's history."""
    session.add(event)
    return event
