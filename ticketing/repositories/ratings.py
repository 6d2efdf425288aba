"""Queries on satisfaction ratings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import SatisfactionRating, Ticket
from ticketing.repositories.tickets import TicketFilter, conditions


def get_for_ticket(session: Session, ticket_id: int) -> SatisfactionRating | None:
    """The rating of a ticket, if it has one."""
    return session.scalar(
        select(SatisfactionRating).where(SatisfactionRating.ticket_id == ticket_id)
    )


def list_for_tickets(session: Session, flt: TicketFilter) -> list[SatisfactionRating]:
    """The ratings of the tickets matching the filter, newest first."""
    return list(
        session.scalars(
            select(SatisfactionRating)
            .join(Ticket, Ticket.id == SatisfactionRating.ticket_id)
            .where(*conditions(flt))
            .order_by(SatisfactionRating.created_at.desc())
        )
    )


def add(session: Session, rating: SatisfactionRating) -> SatisfactionRating:
    """Insert a rating."""
    session.add(rating)
    session.flush()
    return rating
