"""Queries on idempotency keys."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from ticketing.models import IdempotencyKey
from ticketing.repositories.upsert import insert_unless_taken


def get(session: Session, *, key: str, principal: str) -> IdempotencyKey | None:
    """The record of this principal's key, if any."""
    return session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.key == key, IdempotencyKey.principal == principal
        )
    )


def claim(session: Session, *, key: str, principal: str, request_hash: str) -> int | None:
    """Insert the key (one statement); its id, or None if another request already holds it.

    ``INSERT ... ON CONFLICT DO NOTHING``: on PostgreSQL a concurrent INSERT of the same
    key waits for the other transaction and then inserts nothing, so the loser can read
    the winner's committed record afterwards. No savepoint, no error to recover from.
    """
    return insert_unless_taken(
        session,
        IdempotencyKey,
        {"key": key, "principal": principal, "request_hash": request_hash},
        conflict=("key", "principal"),
    )


def settle(session: Session, *, claim_id: int, ticket_id: int) -> None:
    """Point a claimed key at the ticket its request created (a Core UPDATE: no ORM
    bulk-update bookkeeping, as no loaded object holds the claim)."""
    table = cast(Table, IdempotencyKey.__table__)
    session.connection().execute(
        update(table).where(table.c.id == claim_id).values(ticket_id=ticket_id)
    )
