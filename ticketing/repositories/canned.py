"""Queries on the stored canned replies (one row at most)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import CannedReplies


def get(session: Session, *, lock: bool = False) -> CannedReplies | None:
    """The stored replies, their row locked when asked (PostgreSQL)."""
    query = select(CannedReplies).order_by(CannedReplies.id).limit(1)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def add(session: Session, row: CannedReplies) -> CannedReplies:
    """Insert the stored replies."""
    session.add(row)
    session.flush()
    return row
