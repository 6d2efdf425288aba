"""Queries on the audit log: appending and reading only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import AuditEntry


def add(session: Session, entry: AuditEntry) -> AuditEntry:
    """Append an entry."""
    session.add(entry)
    session.flush()
    return entry


def search(
    session: Session,
    *,
    customer_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Entries newest first, optionally narrowed."""
    query = select(AuditEntry)
    if customer_id is not None:
        query = query.where(AuditEntry.customer_id == customer_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)))
