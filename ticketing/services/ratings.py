"""Customer satisfaction: one rating (1-5) per resolved ticket."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.enums import TicketStatus
from ticketing.errors import Conflict, ValidationFailed
from ticketing.events import DeskEvent
from ticketing.models import SatisfactionRating, Ticket
from ticketing.repositories import ratings as ratings_repo

MAX_COMMENT_CHARS = 2000


class AlreadyRated(Conflict):
    code = "already_rated"


class NotResolved(Conflict):
    code = "not_resolved"


def rate(
    session: Session, *, ticket: Ticket, score: int, comment: str | None = None
) -> SatisfactionRating:
    """Record the customer's rating of a resolved or closed ticket; a second one is refused."""
    if not 1 <= score <= 5:
        raise ValidationFailed("a rating is a whole number from 1 to 5", field="score")
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise NotResolved(f"{ticket.number} is {ticket.status}; it can be rated once resolved")
    if ratings_repo.get_for_ticket(session, ticket.id) is not None:
        raise AlreadyRated(f"{ticket.number} has already been rated")
    rating = SatisfactionRating(
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        score=score,
        comment=(comment or "").strip()[:MAX_COMMENT_CHARS] or None,
    )
    try:
        # The unique constraint settles two ratings sent at the same moment.
        with session.begin_nested():
            ratings_repo.add(session, rating)
    except IntegrityError:
        raise AlreadyRated(f"{ticket.number} has already been rated") from None
    events.record(session, DeskEvent("ticket.rated", ticket.number, {"score": score}))
    return rating
