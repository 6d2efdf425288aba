"""A ticket's history: the one audited write every change of a ticket's fields goes through.

Rules decide what changes (the lifecycle, assignment, the SLA scan, edits, the thread);
this module writes it: the new values on the ticket and one history entry per changed
field, with who changed it and when. It imports no other service, so every service and
worker can write through it without importing "up".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ticketing.models import Ticket, TicketEvent, utcnow
from ticketing.repositories import tickets as tickets_repo


def record(
    session: Session,
    *,
    ticket_id: int,
    actor: str,
    field: str,
    old: object,
    new: object,
    now: datetime,
) -> TicketEvent:
    """Add one history entry (for a change written another way, like a claim's UPDATE)."""
    return tickets_repo.add_event(
        session,
        TicketEvent(
            ticket_id=ticket_id,
            actor=actor,
            field=field,
            old_value=_history_value(old),
            new_value=_history_value(new),
            created_at=now,
        ),
    )


def change_fields(
    session: Session,
    *,
    ticket: Ticket,
    actor: str,
    changes: dict[str, object],
    now: datetime | None = None,
) -> list[TicketEvent]:
    """Apply field changes to a ticket, one history event per changed field.

    Transition rules (who may move a ticket where) live in the lifecycle service and in
    ``access``; this is the audited write they all go through.
    """
    now = now or utcnow()
    entries: list[TicketEvent] = []
    for field, new in changes.items():
        old = getattr(ticket, field)
        if old == new:
            continue
        setattr(ticket, field, new)
        entries.append(
            record(
                session, ticket_id=ticket.id, actor=actor, field=field, old=old, new=new, now=now
            )
        )
    if entries:
        # The flush checks the version read against the row (the mapper's version_id_col).
        ticket.version += 1
        ticket.updated_at = now
        session.flush()
    return entries


def _history_value(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
