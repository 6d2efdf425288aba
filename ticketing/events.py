"""Ticket events for live pages and other consumers.

Services *record* events on the session they work in; the events are *published* only
after that session commits (a rolled-back change announces nothing). Publishing goes
to a Redis stream when Redis is configured, so every API worker and the agent consoles
connected to any of them see the same events in the same order; without Redis, to an
in-process bus that serves one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import redis
import redis.asyncio as redis_asyncio
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from ticketing.models import utcnow

logger = logging.getLogger(__name__)

STREAM_KEY = "desk:events"
STREAM_MAX_LENGTH = 10_000
_PENDING = "desk_pending_events"

# The event types the desk publishes; consumers may rely on these names.
EVENT_TYPES = frozenset(
    {
        "ticket.created",
        "ticket.updated",
        "ticket.assigned",
        "ticket.escalated",
        "ticket.replied",
        "ticket.resolved",
        "ticket.closed",
        "ticket.reopened",
        "ticket.rated",
        "sla.warning",
        "sla.breached",
        "agent.presence",
    }
)


@dataclass(frozen=True)
class DeskEvent:
    """Something that happened on the desk. ``data`` holds ids and states, never personal data."""

    type: str
    ticket_number: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")

    def to_json(self) -> str:
        """The event as one JSON document."""
        payload = asdict(self)
        payload["at"] = self.at.isoformat()
        return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeskEvent:
        """Parse what ``to_json`` wrote."""
        payload = json.loads(raw)
        return cls(
            type=payload["type"],
            ticket_number=payload.get("ticket_number"),
            data=payload.get("data") or {},
            at=datetime.fromisoformat(payload["at"]),
        )


@dataclass(frozen=True)
class Delivered:
    """An event as a consumer reads it, with the id to resume after."""

    id: str
    event: DeskEvent


class EventBus(Protocol):
    """Where committed events go and where live consumers read them."""

    def publish(self, event: DeskEvent) -> str:
        """Append an event; returns its id."""
        ...

    def read(self, *, after: str | None, limit: int = 100, wait_ms: int = 0) -> list[Delivered]:
        """Events after the given id (the newest ones when None), waiting up to wait_ms."""
        ...

    async def read_async(
        self, *, after: str | None, limit: int = 100, wait_ms: int = 0
    ) -> list[Delivered]:
        """As ``read``, waiting on the event loop: a live page holds no thread while it waits."""
        ...

    def last_id(self) -> str:
        """The id of the newest event so far, to read on from without missing any."""
        ...


class InProcessBus:
    """A bounded, ordered event log in this process (no Redis)."""

    def __init__(self, max_length: int = STREAM_MAX_LENGTH) -> None:
        self._events: deque[tuple[int, DeskEvent]] = deque(maxlen=max_length)
        self._next_id = 1
        self._changed = threading.Condition()
        # Readers waiting on an event loop: woken from the publishing thread.
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def publish(self, event: DeskEvent) -> str:
        """Append an event and wake waiting readers (threads and event loops)."""
        with self._changed:
            event_id = self._next_id
            self._next_id += 1
            self._events.append((event_id, event))
            self._changed.notify_all()
            waiters = list(self._waiters)
        for loop, flag in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                loop.call_soon_threadsafe(flag.set)
        return str(event_id)

    async def read_async(
        self, *, after: str | None, limit: int = 100, wait_ms: int = 0
    ) -> list[Delivered]:
        """Events with ids above ``after``, waiting on the event loop, not in a thread."""
        flag = asyncio.Event()
        waiter = (asyncio.get_running_loop(), flag)
        with self._changed:
            start = int(after) if after and after.isdigit() else self._next_id - 1
            found = self._after(start, limit)
            if found or wait_ms <= 0:
                return found
            # Registered under the lock: a publish from now on sets the flag.
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flag.wait(), wait_ms / 1000)
        finally:
            with self._changed:
                self._waiters.discard(waiter)
        with self._changed:
            return self._after(start, limit)

    def read(self, *, after: str | None, limit: int = 100, wait_ms: int = 0) -> list[Delivered]:
        """Events with ids above ``after``; with None, only events published from now on."""
        with self._changed:
            start = int(after) if after and after.isdigit() else self._next_id - 1
            found = self._after(start, limit)
            if not found and wait_ms > 0:
                self._changed.wait(timeout=wait_ms / 1000)
                found = self._after(start, limit)
            return found

    def last_id(self) -> str:
        """The id of the newest event published so far ("0" when none)."""
        with self._changed:
            return str(self._next_id - 1)

    def _after(self, start: int, limit: int) -> list[Delivered]:
        return [Delivered(str(i), e) for i, e in self._events if i > start][:limit]


class RedisStreamBus:
    """Events in a Redis stream shared by every process of the desk."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        key: str = STREAM_KEY,
        async_client: redis_asyncio.Redis | None = None,
    ) -> None:
        self._client = client
        self._key = key
        # For live pages: XREAD BLOCK on the event loop (redis-py's asyncio client).
        self._async_client = async_client

    def publish(self, event: DeskEvent) -> str:
        """XADD the event, keeping the stream bounded."""
        event_id = self._client.xadd(
            self._key, {"event": event.to_json()}, maxlen=STREAM_MAX_LENGTH, approximate=True
        )
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    def read(self, *, after: str | None, limit: int = 100, wait_ms: int = 0) -> list[Delivered]:
        """XREAD after an id; ``$`` (only new events) when None."""
        streams: Any = self._client.xread(
            {self._key: after or "$"}, count=limit, block=wait_ms or None
        )
        return _delivered(streams)

    async def read_async(
        self, *, after: str | None, limit: int = 100, wait_ms: int = 0
    ) -> list[Delivered]:
        """XREAD BLOCK through the asyncio client; no thread waits on Redis."""
        if self._async_client is None:
            raise RuntimeError("this bus was built without an asyncio Redis client")
        streams: Any = await self._async_client.xread(
            {self._key: after or "$"}, count=limit, block=wait_ms or None
        )
        return _delivered(streams)

    def last_id(self) -> str:
        """The id of the newest entry in the stream ("0-0" when it is empty)."""
        return _redis_last_id(self._client, self._key)


def _delivered(streams: Any) -> list[Delivered]:
    delivered: list[Delivered] = []
    for _key, entries in streams or []:
        for raw_id, fields in entries:
            event_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            raw = fields.get(b"event") or fields.get("event")
            delivered.append(Delivered(event_id, DeskEvent.from_json(raw)))
    return delivered


def _redis_last_id(client: redis.Redis, key: str) -> str:
    newest: Any = client.xrevrange(key, count=1)
    if not newest:
        return "0-0"
    raw_id = newest[0][0]
    return raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)


def record(session: Session, event: DeskEvent) -> None:
    """Queue an event to be published when this session commits."""
    # Make sure a transaction is under way, so that its rollback discards the event.
    session.connection()
    session.info.setdefault(_PENDING, []).append(event)


def pending(session: Session) -> list[DeskEvent]:
    """The events recorded on a session and not yet published (for tests and logs)."""
    return list(session.info.get(_PENDING, []))


def install_publisher(sessions: sessionmaker[Session], bus: EventBus) -> None:
    """Publish each session's recorded events after it commits; drop them on rollback."""

    @sa_event.listens_for(sessions, "after_commit")
    def _publish(session: Session) -> None:
        events = session.info.pop(_PENDING, [])
        for item in events:
            try:
                bus.publish(item)
            except redis.RedisError as error:
                # The change is committed; a live page missing one event catches up on
                # its next reload. Never fail the request after the commit.
                logger.warning("could not publish %s: %s", item.type, error)

    # A savepoint's rollback keeps the outer transaction's events.
    @sa_event.listens_for(sessions, "after_soft_rollback")
    def _discard(session: Session, previous_transaction: Any) -> None:
        if not previous_transaction.nested:
            session.info.pop(_PENDING, None)
