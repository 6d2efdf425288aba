"""Queries on satisfaction ratings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import SatisfactionRating


def get_for_ticket(session: Session, ticket_id: int) -> SatisfactionRating | None:
    """The rating of a ticket, if it has one."""
    return session.scalar(
        select(SatisfactionRating).where(SatisfactionRating.ticket_id == ticket_id)
    )


def list_for_customer(session: Session, customer_id: int) -> list[SatisfactionRating]:
    """A customer's ratings, newest first."""
    return list(
        session.scalars(
            select(SatisfactionRating)
            .where(SatisfactionRating.customer_id == customer_id)
            .order_by(SatisfactionRating.created_at.desc())
        )
    )


def add(session: Session, rating: SatisfactionRating) -> SatisfactionRating:
    """Insert a rating."""
    session.add(rating)
    session.flush()
    return rating
