"""Queries on queues."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import Queue


def get_by_key(session: Session, key: str) -> Queue | None:
    """The queue with this key, if it exists."""
    return session.scalar(select(Queue).where(Queue.key == key))


def list_by_keys(session: Session, keys: list[str]) -> list[Queue]:
    """The queues with these keys (missing keys are skipped)."""
    return list(session.scalars(select(Queue).where(Queue.key.in_(keys)).order_by(Queue.id)))


def add(session: Session, queue: Queue) -> Queue:
    """Insert a queue."""
    session.add(queue)
    session.flush()
    return queue


def list_all(session: Session) -> list[Queue]:
    """Every queue, in the order they were created."""
    return list(session.scalars(select(Queue).order_by(Queue.id)))
