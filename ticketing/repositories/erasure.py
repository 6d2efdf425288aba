"""Queries of an erasure: what a customer wrote, overwritten where it is stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from ticketing.enums import AuthorType
from ticketing.models import SatisfactionRating, Ticket, TicketMessage


def ticket_ids_of(customer_id: int) -> Select[Any]:
    """The ids of a customer's tickets, as a subquery."""
    return select(Ticket.id).where(Ticket.customer_id == customer_id)


def overwrite_texts(session: Session, *, customer_id: int, placeholder: str) -> None:
    """Replace what the customer wrote (their messages, their tickets' subjects,
    descriptions and contact, their ratings' comments) with ``placeholder`` or nothing.
    Tickets get a new version, so an agent editing one sees it changed."""
    session.execute(
        update(TicketMessage)
        .where(
            TicketMessage.ticket_id.in_(ticket_ids_of(customer_id)),
            TicketMessage.author_type == AuthorType.CUSTOMER,
        )
        .values(body=placeholder, body_enc=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Ticket)
        .where(Ticket.customer_id == customer_id)
        .values(
            description=placeholder,
            description_enc=None,
            subject=placeholder,
            subject_enc=None,
            contact_enc=None,
            version=Ticket.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(SatisfactionRating)
        .where(SatisfactionRating.customer_id == customer_id)
        .values(comment=None, comment_enc=None)
        .execution_options(synchronize_session=False)
    )
