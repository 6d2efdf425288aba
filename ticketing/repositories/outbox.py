"""Queries on the relay outbox (``relay_deliveries``): what waits to reach a conversation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased

from ticketing.models import RelayDelivery


def add(session: Session, delivery: RelayDelivery) -> RelayDelivery:
    """Insert a delivery."""
    session.add(delivery)
    session.flush()
    return delivery


def release_held(session: Session, ticket_id: int, *, now: datetime) -> None:
    """Deliveries of this ticket held for later (never those waiting out a retry) go now."""
    session.execute(
        update(RelayDelivery)
        .where(
            RelayDelivery.ticket_id == ticket_id,
            RelayDelivery.delivered_at.is_(None),
            RelayDelivery.failed_at.is_(None),
            RelayDelivery.attempts == 0,
            RelayDelivery.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        # Loaded deliveries see the change (the relay may hold them in this session).
        .execution_options(synchronize_session="fetch")
    )


def due(session: Session, *, now: datetime, limit: int) -> list[RelayDelivery]:
    """Undelivered deliveries due by ``now``, each the oldest open one of its ticket,
    oldest first; claimed with SKIP LOCKED on PostgreSQL."""
    earlier = aliased(RelayDelivery)
    blocked = exists().where(
        earlier.ticket_id == RelayDelivery.ticket_id,
        earlier.id < RelayDelivery.id,
        earlier.delivered_at.is_(None),
        earlier.failed_at.is_(None),
    )
    query = (
        select(RelayDelivery)
        .where(
            RelayDelivery.delivered_at.is_(None),
            RelayDelivery.failed_at.is_(None),
            RelayDelivery.next_attempt_at <= now,
            ~blocked,
        )
        .order_by(RelayDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=RelayDelivery)
    return list(session.scalars(query))


def message_deliveries(session: Session, *, ticket_id: int) -> list[RelayDelivery]:
    """The ticket's deliveries that carry one of its messages."""
    return list(
        session.scalars(
            select(RelayDelivery).where(
                RelayDelivery.ticket_id == ticket_id, RelayDelivery.message_id.is_not(None)
            )
        )
    )
