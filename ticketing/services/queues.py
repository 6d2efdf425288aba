"""Queues as the routing policy defines them."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.models import Queue
from ticketing.repositories import queues as queues_repo
from ticketing.routing import QueueDefinition


def ensure_queue(session: Session, definition: QueueDefinition) -> Queue:
    """The queue of a definition, created if missing and renamed if the policy renamed it."""
    queue = queues_repo.get_by_key(session, definition.key)
    if queue is None:
        try:
            with session.begin_nested():
                return queues_repo.add(
                    session,
                    Queue(
                        key=definition.key, name_en=definition.name_en, name_zh=definition.name_zh
                    ),
                )
        except IntegrityError:
            queue = queues_repo.get_by_key(session, definition.key)
            if queue is None:
                raise
    if (queue.name_en, queue.name_zh) != (definition.name_en, definition.name_zh):
        queue.name_en, queue.name_zh = definition.name_en, definition.name_zh
    return queue
