"""Rasa's conversations under the retention schedule, from the API's side: SQL and Redis."""

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, select

from tests.support_service.factories import make_settings
from ticketing import conversation_store
from ticketing.conversation_store import RedisConversations, SqlConversations
from ticketing.privacy import Vault

DAY = 86_400
NOW = 1_800_000_000.0
RETENTION = 30 * DAY


def rasa_events_table(metadata: MetaData) -> Table:
    """Rasa 3.6's SQLTrackerStore table (rasa/core/tracker_store.py, SQLEvent)."""
    return Table(
        "events",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("sender_id", String(255), nullable=False, index=True),
        Column("type_name", String(255), nullable=False),
        Column("timestamp", Float),
        Column("intent_name", String(255)),
        Column("action_name", String(255)),
        Column("data", Text),
    )


class TestSql:
    def test_events_older_than_the_retention_are_deleted(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'conversations.db'}"
        engine = create_engine(url)
        events = rasa_events_table(MetaData())
        events.metadata.create_all(engine)
        ages = {"old": 31 * DAY, "edge": 30 * DAY + 1, "recent": 29 * DAY, "new": 0}
        with engine.begin() as connection:
            for sender, age in ages.items():
                connection.execute(
                    events.insert().values(
                        sender_id=sender, type_name="user", timestamp=NOW - age, data="k1:sealed"
                    )
                )
        store = SqlConversations(url)
        try:
            assert store.due(retention_seconds=RETENTION, now=NOW).events_deleted == 2
            assert store.purge(retention_seconds=RETENTION, now=NOW).events_deleted == 2
            assert store.purge(retention_seconds=RETENTION, now=NOW).events_deleted == 0
        finally:
            store.close()
        with engine.connect() as connection:
            left = set(connection.execute(select(events.c.sender_id)).scalars())
        engine.dispose()
        assert left == {"recent", "new"}

    def test_before_rasa_created_its_table_there_is_nothing_to_do(self, tmp_path: Path) -> None:
        store = SqlConversations(f"sqlite:///{tmp_path / 'none.db'}")
        try:
            result = store.purge(retention_seconds=RETENTION, now=NOW)
        finally:
            store.close()
        assert (result.store, result.events_deleted) == ("sql", 0)


class TestFromSettings:
    def test_the_store_follows_the_settings(self, tmp_path: Path) -> None:
        vault = Vault({"k1": os.urandom(32)}, b"")
        demo_db = f"sqlite:///{tmp_path / 'desk.db'}"
        named = make_settings(demo_db, conversation_store=f"sqlite:///{tmp_path / 'c.db'}")
        assert isinstance(conversation_store.from_settings(named, vault), SqlConversations)
        # The demo: Rasa's SQLite file beside the desk's (scripts/desk.py puts both in .run).
        demo = make_settings(demo_db, redis_url=None)
        assert conversation_store.default_url(demo) == f"sqlite:///{tmp_path / 'conversations.db'}"
        # PostgreSQL without Redis: Rasa's events table in the desk's own database.
        on_postgres = make_settings(
            "postgresql+psycopg://h/db?options=-csearch_path%3Ds1", redis_url=None
        )
        store = conversation_store.from_settings(on_postgres, vault)
        assert isinstance(store, SqlConversations)
        store.close()
        assert conversation_store.store_url(on_postgres) == on_postgres.database_url
        on_redis = make_settings(demo_db, redis_url="redis://127.0.0.1:1/0")
        store = conversation_store.from_settings(on_redis, vault)
        assert isinstance(store, RedisConversations)
        store.close()
        assert not (tmp_path / "conversations.db").exists()

    @pytest.mark.parametrize(
        ("store", "database", "says"),
        [
            ("mysql://h/db", "postgresql+psycopg://h/db", "'mysql' URL"),
            ("conversations.db", "sqlite:////tmp/desk.db", "'conversations.db' URL"),
            ("sqlite:///relative.db", "sqlite:////tmp/desk.db", "absolute file path"),
            ("sqlite://", "sqlite:////tmp/desk.db", "absolute file path"),
            ("sqlite:////var/c.db", "postgresql+psycopg://h/db", "database server"),
        ],
    )
    def test_an_inconsistent_store_is_a_clear_error_at_start(
        self, store: str, database: str, says: str
    ) -> None:
        settings = make_settings(database, redis_url=None, conversation_store=store)
        with pytest.raises(conversation_store.ConversationStoreMisconfigured, match=says):
            conversation_store.from_settings(settings, Vault({"k1": os.urandom(32)}, b""))

    @pytest.mark.parametrize(
        "env",
        [
            {"DATABASE_URL": "sqlite:////srv/desk/desk.db"},
            {"DATABASE_URL": "postgresql+psycopg://u:p@db:5432/desk?options=-csearch_path%3Ds"},
            {"DATABASE_URL": "sqlite:////srv/desk/desk.db", "REDIS_URL": "redis://r:6379/2"},
            {"DATABASE_URL": "postgresql://db/desk", "REDIS_URL": "redis://r:6379/2"},
            {
                "DATABASE_URL": "postgresql://db/desk",
                "DESK_CONVERSATION_STORE": "postgresql://other/conversations",
            },
        ],
    )
    def test_rasas_endpoints_and_the_api_choose_the_same_store(self, env: dict[str, str]) -> None:
        """scripts/desk.py writes Rasa's tracker store by the rule the API reads it by."""
        import importlib.util

        path = Path(__file__).resolve().parents[2] / "scripts" / "desk.py"
        spec = importlib.util.spec_from_file_location("desk_script_rule", path)
        assert spec and spec.loader
        desk = importlib.util.module_from_spec(spec)
        import sys

        sys.modules[spec.name] = desk
        spec.loader.exec_module(desk)
        settings = make_settings(
            env["DATABASE_URL"],
            redis_url=env.get("REDIS_URL"),
            conversation_store=env.get("DESK_CONVERSATION_STORE"),
        )
        chosen = conversation_store.store_url(settings)
        assert chosen is not None
        from ticketing.settings import normalise_database_url

        assert normalise_database_url(desk.conversation_store_url(env)) == chosen


REDIS_URL = os.environ.get("REDIS_URL")


@pytest.fixture
def red() -> Iterator[redis.Redis]:
    if not REDIS_URL:
        pytest.skip("needs the Redis of REDIS_URL")
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(red: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own, so nobody else's conversations are touched."""
    name = f"retention-test-{uuid.uuid4().hex[:8]}"
    yield name
    for key in red.scan_iter(match=f"{name}:*"):
        red.delete(key)


def tracker(last_event_at: float) -> str:
    """A Rasa tracker as the Redis store serialises it (the events that matter here)."""
    return json.dumps(
        {
            "sender_id": "web:abc",
            "events": [
                {"event": "action", "timestamp": last_event_at - 60, "name": "action_listen"},
                {"event": "user", "timestamp": last_event_at, "text": "我的电话 13912345678"},
            ],
        }
    )


class TestRedis:
    def test_the_retention_applies_to_every_conversation(
        self, red: redis.Redis, prefix: str
    ) -> None:
        vault = Vault({"k2": os.urandom(32), "k1": os.urandom(32)}, b"")
        retired = Vault({"gone": os.urandom(32)}, b"")
        now = time.time()

        def key(conversation: str) -> str:
            return f"{prefix}:tracker:{conversation}"

        red.set(key("old-sealed"), vault.encrypt(tracker(now - 31 * DAY)))
        red.set(key("old-plain"), tracker(now - 40 * DAY))
        red.set(key("recent"), vault.encrypt(tracker(now - 10 * DAY)))
        red.set(key("unreadable"), retired.encrypt(tracker(now - 90 * DAY)))
        red.set(key("too-long"), vault.encrypt(tracker(now)), ex=90 * DAY)
        red.set(key("fine"), vault.encrypt(tracker(now)), ex=RETENTION - 100)
        red.set(f"{prefix}:lock:web:abc", "not a tracker")
        store = RedisConversations(red, key_prefix=prefix, vault=vault)

        due = store.due(retention_seconds=RETENTION, now=now)
        assert (due.conversations_deleted, due.expiries_set) == (2, 3)
        result = store.purge(retention_seconds=RETENTION, now=now)
        assert (result.conversations_deleted, result.expiries_set) == (2, 3)

        assert red.exists(key("old-sealed"), key("old-plain")) == 0
        # 20 days left of the recent one's 30, counted from its last message.
        assert abs(red.ttl(key("recent")) - 20 * DAY) < 120
        # A conversation whose key is missing is never deleted on a guess.
        assert abs(red.ttl(key("unreadable")) - RETENTION) < 120
        assert abs(red.ttl(key("too-long")) - RETENTION) < 120
        assert RETENTION - 200 < red.ttl(key("fine")) <= RETENTION - 100
        assert red.ttl(f"{prefix}:lock:web:abc") == -1  # not a conversation: untouched

        again = store.purge(retention_seconds=RETENTION, now=now)
        assert (again.conversations_deleted, again.expiries_set) == (0, 0)
