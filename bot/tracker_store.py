"""The desk's tracker stores: Rasa's Redis and SQL stores, encrypted at rest and expiring.

Customers type phone numbers, e-mail addresses and ID numbers into the conversation,
and Rasa keeps every message in its tracker. These stores seal what they write with
the data keys the API's profile store uses (``DESK_DATA_KEYS``: ``id:base64key[,...]``,
the first one active; AES-GCM, the key id stored before the ciphertext exactly like
``ticketing/privacy.py``'s ``keyid:base64(nonce+ciphertext)``), open it on read with
whichever key it names, and forget conversations after a retention period:

- ``EncryptedRedisTrackerStore``: one sealed value per conversation; its key expires
  ``DESK_CONVERSATION_RETENTION_DAYS`` (default 30) after the last save.
- ``EncryptedSQLTrackerStore``: Rasa's ``events`` table, each event's ``data`` sealed
  (type, intent and action names and the timestamp stay readable for Rasa's queries);
  ``purge`` deletes the events older than the retention.

Configured in endpoints.yml (``scripts/desk.py`` writes it)::

    tracker_store:
      type: bot.tracker_store.EncryptedRedisTrackerStore
      url: 127.0.0.1
      ...

Trackers written in plaintext before these stores existed are still read (a sealed
value never starts with ``{``). On Redis the whole conversation is sealed again on its
next turn; in SQL only its new events are, and ``encrypt`` seals the old rows.
Maintenance, for the store an endpoints file names::

    python -m bot.tracker_store purge   [--endpoints .run/endpoints.yml] [--env-file .run/desk.env]
    python -m bot.tracker_store encrypt [--endpoints .run/endpoints.yml] [--env-file .run/desk.env]

``purge`` applies the retention (SQL: deletes old events; Redis: gives keys written
without an expiry one, or deletes them when already past it). ``encrypt`` seals what
is still plaintext and re-seals what an older key sealed, so a retired key can go.
Both are safe to run on several hosts at once.

This module runs in the bot environment and never imports ``ticketing``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rasa.core.tracker_store import RedisTrackerStore, SQLTrackerStore, TrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from redis.exceptions import WatchError

logger = logging.getLogger(__name__)

DATA_KEYS_VARIABLE = "DESK_DATA_KEYS"
RETENTION_VARIABLE = "DESK_CONVERSATION_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30.0
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
SECONDS_PER_DAY = 86_400
# Two hosts running `purge` at once on PostgreSQL: the second one skips (any constant).
PURGE_LOCK_ID = 0x6465736B  # "desk"


class ConversationUnreadable(Exception):
    """A stored conversation could not be opened: its key is missing, or it was altered."""


class DataKeyMissing(ConversationUnreadable):
    """The conversation was sealed with a data key that DESK_DATA_KEYS does not hold."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"a stored conversation is sealed with data key {key_id!r}, which "
            f"{DATA_KEYS_VARIABLE} does not hold; put that key back in the ring "
            "(after the active one) to read it"
        )


def _decode_key(value: str, *, name: str) -> bytes:
    # The same rule as ticketing.settings.decode_key: standard base64 of exactly 32 bytes.
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{name} is not valid base64") from error
    if len(key) != DATA_KEY_BYTES:
        raise ValueError(f"{name} must decode to {DATA_KEY_BYTES} bytes, not {len(key)}")
    return key


def parse_data_keys(value: str) -> dict[str, bytes]:
    """Parse ``id:base64key[,id:key...]`` (the first is active), as the API does."""
    ring: dict[str, bytes] = {}
    for item in value.split(","):
        key_id, sep, encoded = item.strip().partition(":")
        if not sep or not key_id:
            raise ValueError(f"{DATA_KEYS_VARIABLE} items must look like 'keyid:base64key'")
        if key_id in ring:
            raise ValueError(f"{DATA_KEYS_VARIABLE} repeats key id {key_id!r}")
        ring[key_id] = _decode_key(encoded, name=f"{DATA_KEYS_VARIABLE}[{key_id}]")
    if not ring:
        raise ValueError(f"{DATA_KEYS_VARIABLE} holds no key")
    return ring


class DataKeyRing:
    """The data keys of one process: seals with the active key, opens with the one named."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one data key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = next(iter(keys))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DataKeyRing:
        """The ring of DESK_DATA_KEYS; a clear error when it is unset or malformed."""
        value = (os.environ if environ is None else environ).get(DATA_KEYS_VARIABLE, "")
        if not value.strip():
            raise ValueError(
                f"{DATA_KEYS_VARIABLE} is not set: the encrypted tracker store and the "
                "channels' state in Redis need the data keys the API uses (scripts/desk.py "
                "passes them from .run/desk.env)"
            )
        return cls(parse_data_keys(value))

    def seal(self, plaintext: str) -> str:
        """``keyid:base64(nonce + ciphertext)``, the key id bound as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.active_key_id
        sealed = self._ciphers[key_id].encrypt(nonce, plaintext.encode(), key_id.encode())
        return f"{key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def is_current(self, stored: str) -> bool:
        """Whether a stored value is already sealed with the active key."""
        return stored.startswith(f"{self.active_key_id}:")

    def open(self, stored: str | bytes) -> str:
        """The plaintext of a sealed value; a plaintext JSON value (written before) as is."""
        text = stored.decode() if isinstance(stored, bytes) else stored
        key_id, sep, payload = text.partition(":")
        cipher = self._ciphers.get(key_id) if sep else None
        if cipher is None:
            if text.lstrip().startswith("{"):
                return text  # Written before the desk sealed conversations.
            if not sep:
                raise ConversationUnreadable(
                    "a stored conversation is neither sealed by the desk nor a Rasa tracker"
                )
            raise DataKeyMissing(key_id[:64])
        try:
            raw = base64.b64decode(payload, validate=True)
            plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], key_id.encode())
        except (InvalidTag, ValueError) as error:
            raise ConversationUnreadable(
                f"a stored conversation does not authenticate with data key {key_id!r}: "
                "the key with that id is not the one it was sealed with, or the data was altered"
            ) from error
        return plaintext.decode()


@dataclass(frozen=True)
class ConversationSettings:
    """What the encrypted stores read from the environment when they are built."""

    key_ring: DataKeyRing
    retention_days: float

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ConversationSettings:
        """DESK_DATA_KEYS and DESK_CONVERSATION_RETENTION_DAYS (default 30)."""
        env = os.environ if environ is None else environ
        raw = env.get(RETENTION_VARIABLE, "").strip()
        try:
            days = float(raw) if raw else DEFAULT_RETENTION_DAYS
        except ValueError as error:
            raise ValueError(f"{RETENTION_VARIABLE} must be a number of days") from error
        if not days > 0:
            raise ValueError(f"{RETENTION_VARIABLE} must be more than 0 days")
        return cls(key_ring=DataKeyRing.from_environment(env), retention_days=days)

    @property
    def retention_seconds(self) -> int:
        """The retention in whole seconds (Redis expiries are integers)."""
        return max(1, round(self.retention_days * SECONDS_PER_DAY))


def _last_event_timestamp(serialised: str) -> float | None:
    events = json.loads(serialised).get("events") or []
    stamps = [e.get("timestamp") for e in events if isinstance(e.get("timestamp"), int | float)]
    return max(stamps) if stamps else None


class EncryptedRedisTrackerStore(RedisTrackerStore):
    """Rasa's Redis tracker store, each conversation sealed and expiring after the retention."""

    def __init__(self, domain: Any = None, host: str | None = None, **kwargs: Any) -> None:
        self.settings = ConversationSettings.from_environment()
        # The retention decides the expiry; Rasa's own record_exp would contradict it.
        kwargs.pop("record_exp", None)
        super().__init__(
            domain,
            host=host or "localhost",
            record_exp=self.settings.retention_seconds,
            **kwargs,
        )

    def serialise_tracker(self, tracker: DialogueStateTracker) -> str:  # type: ignore[override]
        """The tracker as Rasa serialises it, sealed with the active data key."""
        return self.settings.key_ring.seal(RedisTrackerStore.serialise_tracker(tracker))

    def deserialise_tracker(
        self, sender_id: str, serialised_tracker: str | bytes
    ) -> DialogueStateTracker | None:
        """Open the sealed value (or read a plaintext one) and rebuild the tracker."""
        return super().deserialise_tracker(
            sender_id, self.settings.key_ring.open(serialised_tracker)
        )

    def _stored_keys(self) -> list[str]:
        return list(self.red.scan_iter(match=self.key_prefix + "*", count=500))

    def purge(self, now: float | None = None) -> int:
        """Give keys without an expiry one from their last event; delete those already past it.

        Keys written by this store always expire; this is for conversations stored before.
        Returns how many conversations were deleted.
        """
        now = time.time() if now is None else now
        retention = self.settings.retention_seconds
        deleted = 0
        for key in self._stored_keys():
            if self.red.ttl(key) != -1:  # -1: no expiry; -2: gone meanwhile
                continue
            stored = self.red.get(key)
            if stored is None:
                continue
            last = _last_event_timestamp(self.settings.key_ring.open(stored))
            remaining = retention if last is None else int(last + retention - now)
            if remaining <= 0:
                deleted += int(self.red.delete(key))
            else:
                self.red.expire(key, remaining, nx=True)
        return deleted

    def encrypt_stored(self) -> int:
        """Seal plaintext conversations and re-seal those of older keys; returns how many."""
        ring = self.settings.key_ring
        changed = 0
        for key in self._stored_keys():
            stored = self.red.get(key)
            if stored is None or ring.is_current(stored):
                continue
            sealed = ring.seal(ring.open(stored))
            # Only if nobody saved the conversation meanwhile; keep its expiry.
            with self.red.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    if pipe.get(key) != stored:
                        continue
                    pipe.multi()
                    pipe.set(key, sealed, keepttl=True)
                    pipe.execute()
                    changed += 1
                except WatchError:
                    continue  # Saved meanwhile, and so sealed with the active key already.
        return changed


def intent_name(event_data: dict[str, Any]) -> str | None:
    """The intent of a user event's data, as Rasa's SQL store indexes it."""
    return event_data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store with each event's data sealed; old events purged on demand."""

    def __init__(self, domain: Any = None, **kwargs: Any) -> None:
        # Read the keys before connecting: a desk without them must not start.
        self.settings = ConversationSettings.from_environment()
        super().__init__(domain, **kwargs)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        ring = self.settings.key_ring
        with self.session_scope() as session:
            rows = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions
            ).all()
            events = [json.loads(ring.open(row.data)) for row in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events this conversation does not have yet, each one's data sealed."""
        await self.stream_events(tracker)
        ring = self.settings.key_ring
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=intent_name(data),
                        action_name=data.get("name"),
                        data=ring.seal(json.dumps(data)),
                    )
                )
            session.commit()

    def purge(self, now: float | None = None) -> int:
        """Delete the events older than the retention; returns how many went.

        One DELETE in one transaction, so a second host running it at the same time
        deletes nothing twice; on PostgreSQL it skips at once while another one runs.
        """
        import sqlalchemy as sa

        cutoff = (time.time() if now is None else now) - self.settings.retention_seconds
        with self.session_scope() as session:
            if self.engine.dialect.name == "postgresql":
                locked = session.execute(
                    sa.text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": PURGE_LOCK_ID}
                ).scalar()
                if not locked:
                    logger.info("another host is purging conversations; skipped")
                    return 0
            deleted = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.timestamp < cutoff)
                .delete(synchronize_session=False)
            )
            session.commit()
        return int(deleted)

    def encrypt_stored(self, batch_size: int = 500) -> int:
        """Seal plaintext event data and re-seal that of older keys; returns how many rows.

        Rasa only ever inserts events, so rewriting a row's data races with nobody.
        """
        ring = self.settings.key_ring
        changed = 0
        last_id = 0
        while True:
            with self.session_scope() as session:
                rows = (
                    session.query(self.SQLEvent)
                    .filter(self.SQLEvent.id > last_id)
                    .order_by(self.SQLEvent.id)
                    .limit(batch_size)
                    .all()
                )
                if not rows:
                    return changed
                for row in rows:
                    if row.data is not None and not ring.is_current(row.data):
                        row.data = ring.seal(ring.open(row.data))
                        changed += 1
                last_id = rows[-1].id
                session.commit()


DeskTrackerStore = EncryptedRedisTrackerStore | EncryptedSQLTrackerStore


def load_store(endpoints_path: str) -> DeskTrackerStore:
    """The tracker store an endpoints file configures, built the way `rasa run` builds it."""
    import yaml
    from rasa.core.tracker_store import create_tracker_store
    from rasa.utils.endpoints import EndpointConfig

    # Only the tracker_store section: Rasa's reader would also expand the ${...} secrets of
    # the other sections (the action server's), which this command does not need.
    with open(endpoints_path, encoding="utf-8") as handle:
        section = (yaml.safe_load(handle) or {}).get("tracker_store")
    if not section:
        raise SystemExit(f"{endpoints_path} configures no tracker_store")
    config = EndpointConfig.from_dict(section)
    store: TrackerStore = create_tracker_store(config)
    if not isinstance(store, EncryptedRedisTrackerStore | EncryptedSQLTrackerStore):
        raise SystemExit(
            f"{endpoints_path} configures {type(store).__name__}, not one of the desk's "
            "encrypted tracker stores (bot.tracker_store.Encrypted...TrackerStore)"
        )
    return store


def load_env_file(path: str) -> None:
    """Settings from an env file, for variables the environment does not set (it wins)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                os.environ.setdefault(key.strip(), value.strip())


def main(argv: list[str] | None = None) -> int:
    """``purge`` or ``encrypt`` the conversations of the store an endpoints file names."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.tracker_store", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=("purge", "encrypt"))
    parser.add_argument("--endpoints", default=".run/endpoints.yml")
    parser.add_argument(
        "--env-file",
        help="KEY=VALUE lines (the demo's .run/desk.env) for settings the environment lacks",
    )
    args = parser.parse_args(argv)
    if args.env_file and os.path.exists(args.env_file):
        load_env_file(args.env_file)
    store = load_store(args.endpoints)
    kind = type(store).__name__
    if args.command == "purge":
        count = store.purge()
        unit = "conversations" if isinstance(store, EncryptedRedisTrackerStore) else "events"
        days = store.settings.retention_days
        print(f"[conversations] {kind}: {count} {unit} older than {days:g} days deleted")
    else:
        count = store.encrypt_stored()
        key_id = store.settings.key_ring.active_key_id
        print(f"[conversations] {kind}: {count} stored values sealed with key {key_id!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
