"""Queries on idempotency keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.models import IdempotencyKey


def get(session: Session, *, key: str, principal: str) -> IdempotencyKey | None:
    """The record of this principal's key, if any."""
    return session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.key == key, IdempotencyKey.principal == principal
        )
    )


def claim(session: Session, record: IdempotencyKey) -> bool:
    """Insert the key in a savepoint; False if another request already holds it.

    On PostgreSQL a concurrent INSERT of the same key waits for the other transaction
    and then fails, so the loser can read the winner's committed record afterwards.
    """
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        return False
    return True
