"""Queries of a profile merge: what moves from the merged customer to the survivor."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from ticketing.models import Identity, SatisfactionRating, Ticket


def move_records(session: Session, *, from_id: int, to_id: int) -> None:
    """Hand one customer's identities, tickets and ratings to another (tickets get a new
    version, so an agent editing one sees it changed)."""
    session.execute(
        update(Identity)
        .where(Identity.customer_id == from_id)
        .values(customer_id=to_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Ticket)
        .where(Ticket.customer_id == from_id)
        .values(customer_id=to_id, version=Ticket.version + 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(SatisfactionRating)
        .where(SatisfactionRating.customer_id == from_id)
        .values(customer_id=to_id)
        .execution_options(synchronize_session=False)
    )
