"""Rasa's conversations, as the retention schedule sees them from the API's side.

The bot's tracker stores (``bot/tracker_store.py``, in the bot's environment) seal each
conversation with ``DESK_DATA_KEYS`` and forget it after
``DESK_CONVERSATION_RETENTION_DAYS``: on Redis every save sets the key's expiry; in SQL
nothing deletes old events unless someone runs a purge. The retention schedule applies
the same rule from the API's scheduler, so it runs once across instances with the rest:

- **SQL** (``events``, Rasa's table): events older than the retention are deleted, the
  same ``DELETE`` as ``python -m bot.tracker_store purge``.
- **Redis** (``<prefix>:tracker:<conversation id>``): a key without an expiry (stored
  before the desk's store, or by a plain Rasa store) gets one counted from its last
  event, or is deleted when that is already past; a key whose expiry lies further out
  than the retention (the retention was shortened) gets the retention.

The stored values are sealed exactly as ``ticketing.privacy.Vault`` seals (the bot's
ring is a copy of it), so the vault opens them to find the last event's time.

**Erasure** of a customer (:func:`forget`) removes their conversations: the Redis
tracker keys or the SQL store's events of each conversation id, and every key the bot's
channels keep in Redis for them (answers kept for retries, kept notices, next-turn
texts, the widget's mailbox), which carry the conversation's tag
(:func:`ticketing.conversations.channel_key_tag`) in their names.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import redis
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    make_url,
)
from sqlalchemy import inspect as sa_inspect

from ticketing.conversations import channel_key_tag
from ticketing.db import is_sqlite
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.settings import Settings, normalise_database_url

logger = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
# Rasa's SQLTrackerStore table (rasa/core/tracker_store.py: SQLEvent), the columns used.
_EVENTS = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("timestamp", Float),
)


@dataclass(frozen=True)
class ConversationPurge:
    """What one purge of the conversation store did (counts only)."""

    store: str
    conversations_deleted: int = 0
    events_deleted: int = 0
    expiries_set: int = 0

    def as_details(self) -> dict[str, object]:
        """The counts, for the audit entry."""
        return {
            "store": self.store,
            "conversations_deleted": self.conversations_deleted,
            "events_deleted": self.events_deleted,
            "expiries_set": self.expiries_set,
        }


class ConversationStore(Protocol):
    """A tracker store the retention schedule can apply its period to."""

    name: str

    def purge(self, *, retention_seconds: int, now: float | None = None) -> ConversationPurge:
        """Apply the retention; what was done."""
        ...

    def due(self, *, retention_seconds: int, now: float | None = None) -> ConversationPurge:
        """What a purge would do now, without doing it."""
        ...

    def forget(self, conversation_ids: Collection[str]) -> ConversationPurge:
        """Remove these conversations now (erasure); what was removed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class SqlConversations:
    """Rasa's SQL tracker store (a SQLite file in the demo, PostgreSQL in production)."""

    name = "sql"

    def __init__(self, url: str) -> None:
        url = normalise_database_url(url)
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if is_sqlite(url):
            kwargs["connect_args"] = {"timeout": 10}
        self._engine = create_engine(url, **kwargs)

    def _has_events(self) -> bool:
        # Rasa creates the table when it first starts; before that there is nothing to do
        # (and a SQLite file that is not there yet is not created by looking).
        database = self._engine.url.database
        if is_sqlite(str(self._engine.url)) and database and not Path(database).exists():
            return False
        return sa_inspect(self._engine).has_table("events")

    def purge(self, *, retention_seconds: int, now: float | None = None) -> ConversationPurge:
        """Delete the events older than the retention, in one statement."""
        if not self._has_events():
            return ConversationPurge(self.name)
        cutoff = (time.time() if now is None else now) - retention_seconds
        with self._engine.begin() as connection:
            result = connection.execute(delete(_EVENTS).where(_EVENTS.c.timestamp < cutoff))
        return ConversationPurge(self.name, events_deleted=int(result.rowcount or 0))

    def due(self, *, retention_seconds: int, now: float | None = None) -> ConversationPurge:
        """How many events are older than the retention."""
        if not self._has_events():
            return ConversationPurge(self.name)
        from sqlalchemy import func, select

        cutoff = (time.time() if now is None else now) - retention_seconds
        with self._engine.connect() as connection:
            count = connection.execute(
                select(func.count()).select_from(_EVENTS).where(_EVENTS.c.timestamp < cutoff)
            ).scalar_one()
        return ConversationPurge(self.name, events_deleted=int(count))

    def forget(self, conversation_ids: Collection[str]) -> ConversationPurge:
        """Delete every event of these conversations, in one statement."""
        if not conversation_ids or not self._has_events():
            return ConversationPurge(self.name)
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(_EVENTS).where(_EVENTS.c.sender_id.in_(sorted(conversation_ids)))
            )
        return ConversationPurge(self.name, events_deleted=int(result.rowcount or 0))

    def close(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()


def _last_event_at(serialised: str) -> float | None:
    try:
        events = json.loads(serialised).get("events") or []
    except (ValueError, AttributeError):
        return None
    stamps = [
        e["timestamp"]
        for e in events
        if isinstance(e, dict) and isinstance(e.get("timestamp"), int | float)
    ]
    return float(max(stamps)) if stamps else None


class RedisConversations:
    """Rasa's Redis tracker store: keys ``<prefix>:tracker:<conversation id>``."""

    name = "redis"

    def __init__(self, client: redis.Redis, *, key_prefix: str, vault: Vault) -> None:
        self._redis = client
        self._prefix = key_prefix
        self._pattern = f"{key_prefix}:tracker:*"
        self._vault = vault

    def _open(self, stored: bytes) -> str | None:
        text = stored.decode(errors="replace")
        if text.lstrip().startswith("{"):
            return text  # Stored before the desk sealed conversations.
        try:
            return self._vault.decrypt(text)
        except DecryptionFailed:
            return None

    def _plan(self, retention_seconds: int, now: float) -> list[tuple[bytes, int | None]]:
        """(key, new expiry or None to delete) for every key the retention changes."""
        plan: list[tuple[bytes, int | None]] = []
        for key in self._redis.scan_iter(match=self._pattern, count=500):
            ttl = int(self._redis.ttl(key))  # type: ignore[arg-type]
            if ttl == -2:
                continue  # expired meanwhile
            if ttl > retention_seconds:
                plan.append((key, retention_seconds))
                continue
            if ttl != -1:
                continue  # expires within the retention already
            stored = self._redis.get(key)
            if stored is None:
                continue
            opened = self._open(stored)  # type: ignore[arg-type]
            # Unreadable (a key missing from the ring): never deleted on a guess; it gets
            # the full retention from now.
            last = _last_event_at(opened) if opened is not None else None
            remaining = retention_seconds if last is None else int(last + retention_seconds - now)
            plan.append((key, remaining if remaining > 0 else None))
        return plan

    def purge(self, *, retention_seconds: int, now: float | None = None) -> ConversationPurge:
        """Give every conversation an expiry within the retention; delete those past it."""
        now = time.time() if now is None else now
        deleted = expiries = 0
        for key, expiry in self._plan(retention_seconds, now):
            if expiry is None:
                deleted += int(self._redis.delete(key))  # type: ignore[arg-type]
            else:
                # LT: only ever shortens (a save meanwhile set the full retention anyway);
                # a key that has no expiry counts as infinite, so LT sets one.
                expiries += int(self._redis.expire(key, expiry, lt=True))  # type: ignore[arg-type]
        return ConversationPurge(self.name, conversations_deleted=deleted, expiries_set=expiries)

    def due(self, *, retention_seconds: int, now: float | None = None) -> ConversationPurge:
        """What a purge would do now."""
        plan = self._plan(retention_seconds, time.time() if now is None else now)
        return ConversationPurge(
            self.name,
            conversations_deleted=sum(1 for _, e in plan if e is None),
            expiries_set=sum(1 for _, e in plan if e is not None),
        )

    def forget(self, conversation_ids: Collection[str]) -> ConversationPurge:
        """Delete these conversations' trackers."""
        keys = [f"{self._prefix}:tracker:{c}" for c in sorted(conversation_ids)]
        deleted = int(self._redis.delete(*keys)) if keys else 0  # type: ignore[arg-type]
        return ConversationPurge(self.name, conversations_deleted=deleted)

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


# The root of every key the bot's channels keep (bot/channels: desk:web:..., desk:rest:...).
CHANNEL_KEY_ROOT = "desk"


def forget_channel_keys(client: redis.Redis, conversation_ids: Collection[str]) -> int:
    """Delete every key the bot's channels keep for these conversations; how many.

    One SCAN over the channels' keys, matching the conversations' tags as whole parts of
    the key name (a tag is fixed-length, so no conversation's tag is part of another's).
    """
    tags = {channel_key_tag(c) for c in conversation_ids}
    if not tags:
        return 0
    doomed = [
        key
        for key in client.scan_iter(match=f"{CHANNEL_KEY_ROOT}:*c*", count=1000)
        if tags.intersection(key.decode(errors="replace").split(":"))
    ]
    deleted = 0
    for start in range(0, len(doomed), 500):
        deleted += int(client.delete(*doomed[start : start + 500]))  # type: ignore[arg-type]
    return deleted


@dataclass(frozen=True)
class ConversationErasure:
    """What erasing a customer removed from the conversation stores (counts only)."""

    conversations: int
    conversations_deleted: int
    events_deleted: int
    channel_keys_deleted: int

    def as_details(self) -> dict[str, object]:
        """The counts, for the audit entry."""
        return {
            "conversations": self.conversations,
            "conversations_deleted": self.conversations_deleted,
            "events_deleted": self.events_deleted,
            "channel_keys_deleted": self.channel_keys_deleted,
        }


def forget(
    store: ConversationStore | None,
    channel_redis: redis.Redis | None,
    conversation_ids: Collection[str],
) -> ConversationErasure:
    """Remove these conversations from Rasa's store and the channels' Redis state."""
    removed = store.forget(conversation_ids) if store is not None else None
    keys = forget_channel_keys(channel_redis, conversation_ids) if channel_redis else 0
    return ConversationErasure(
        conversations=len(conversation_ids),
        conversations_deleted=removed.conversations_deleted if removed else 0,
        events_deleted=removed.events_deleted if removed else 0,
        channel_keys_deleted=keys,
    )


class ConversationStoreMisconfigured(ValueError):
    """DESK_CONVERSATION_STORE names a store the desk cannot share between its processes."""


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def default_url(settings: Settings) -> str | None:
    """Where Rasa keeps conversations when DESK_CONVERSATION_STORE is unset (the same rule
    ``scripts/desk.py`` writes into Rasa's endpoints): the Redis of REDIS_URL; else the
    desk's own PostgreSQL database (Rasa's ``events`` table beside the desk's tables);
    else ``conversations.db`` beside the desk's SQLite file; None for an in-memory one."""
    if settings.redis_url:
        return settings.redis_url
    if not is_sqlite(settings.database_url):
        return normalise_database_url(settings.database_url)
    database = make_url(settings.database_url).database
    if database and database != ":memory:":
        return f"sqlite:///{Path(database).parent / 'conversations.db'}"
    return None


def store_url(settings: Settings) -> str | None:
    """The conversation store's URL: DESK_CONVERSATION_STORE when set (checked), else
    :func:`default_url`. ConversationStoreMisconfigured says what is inconsistent."""
    url = settings.conversation_store
    if not url:
        return default_url(settings)
    if url.startswith(_REDIS_SCHEMES):
        return url
    try:
        parsed = make_url(normalise_database_url(url))
    except Exception:
        parsed = None
    backend = parsed.get_backend_name() if parsed is not None else None
    if backend not in ("sqlite", "postgresql"):
        raise ConversationStoreMisconfigured(
            "DESK_CONVERSATION_STORE must be a redis:// (rediss://, unix://) URL or an "
            "SQLAlchemy URL of PostgreSQL or SQLite, where Rasa's tracker store keeps the "
            f"conversations; got a {(url.split(':', 1)[0] or 'scheme-less')!r} URL"
        )
    if backend == "sqlite":
        assert parsed is not None
        path = parsed.database
        if not path or path == ":memory:" or not Path(path).is_absolute():
            raise ConversationStoreMisconfigured(
                "DESK_CONVERSATION_STORE: a SQLite conversation store needs an absolute file "
                "path (sqlite:////var/lib/desk/conversations.db); in memory or relative, "
                "Rasa and the API would each see their own"
            )
        if not is_sqlite(settings.database_url):
            raise ConversationStoreMisconfigured(
                "DESK_CONVERSATION_STORE names a SQLite file while DATABASE_URL is a "
                "database server: every host of the desk must reach the conversations. Unset "
                "it (they go to the desk's database, or to REDIS_URL's Redis) or name a "
                "PostgreSQL or Redis URL"
            )
    return normalise_database_url(url)


def from_settings(settings: Settings, vault: Vault) -> ConversationStore | None:
    """The conversation store :func:`store_url` names (None: an in-memory demo database)."""
    url = store_url(settings)
    if not url:
        return None
    if url.startswith(_REDIS_SCHEMES):
        return RedisConversations(
            redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5),
            key_prefix=settings.conversation_key_prefix,
            vault=vault,
        )
    return SqlConversations(url)
