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


# The queues this process has seen stored as a definition wants them: (key, English
# name, Chinese name) -> id. A memory, not the truth: whoever uses one checks it in the
# statement that relies on it (see tickets_repo.insert_opened) and comes back to
# ensure_queue when the row is gone or renamed (another instance, a restore).
_seen: dict[tuple[str, str, str], int] = {}


def remembered_queue(definition: QueueDefinition) -> Queue | None:
    """The queue this process last saw stored for the definition (not read: to check)."""
    queue_id = _seen.get((definition.key, definition.name_en, definition.name_zh))
    if queue_id is None:
        return None
    return Queue(
        id=queue_id, key=definition.key, name_en=definition.name_en, name_zh=definition.name_zh
    )


def remember(queue: Queue) -> None:
    """Note that this queue is stored as it is now."""
    _seen[(queue.key, queue.name_en, queue.name_zh)] = queue.id
