"""Queries on the stored routing policy (one row at most)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import RoutingPolicyDocument


def current_version(session: Session) -> int | None:
    """The stored policy's version, or None when the packaged one applies."""
    return session.scalar(select(RoutingPolicyDocument.version).order_by(RoutingPolicyDocument.id))


def current_stamp(session: Session) -> tuple[int, datetime] | None:
    """The stored policy's version and save time (what a worker's parsed copy is keyed by)."""
    row = session.execute(
        select(RoutingPolicyDocument.version, RoutingPolicyDocument.updated_at)
        .order_by(RoutingPolicyDocument.id)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None
