"""The desk's encrypted tracker stores on Redis, SQLite and PostgreSQL.

Redis runs when REDIS_URL is set, PostgreSQL when DATABASE_URL names one (CI sets both);
SQLite always. Each test uses its own Redis key prefix or database schema and removes it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    RedisTrackerStore,
    SQLTrackerStore,
    TrackerStore,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from bot.tracker_store import (
    PURGE_LOCK_ID,
    ConversationUnreadable,
    DataKeyMissing,
    DataKeyRing,
    EncryptedRedisTrackerStore,
    EncryptedSQLTrackerStore,
    main,
    parse_data_keys,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICE_PYTHON = ROOT / ".venv" / "bin" / "python"

PHONE = "13800138000"
EMAIL = "li.lei@example.com"
ID_NUMBER = "11010519491231002X"
PERSONAL = (PHONE, EMAIL, ID_NUMBER)
DAY = 86_400


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh one-key ring in DESK_DATA_KEYS; tests rotate by setting it again."""
    ring = {"k1": new_key()}
    monkeypatch.setenv("DESK_DATA_KEYS", f"k1:{ring['k1']}")
    monkeypatch.delenv("DESK_CONVERSATION_RETENTION_DAYS", raising=False)
    return ring


def conversation(
    domain: Domain, sender: str, *, start: float | None = None
) -> DialogueStateTracker:
    """A bilingual conversation in which the customer gives a phone, an e-mail and an ID."""
    t0 = time.time() - 60 if start is None else start
    events: list[Event] = [
        ActionExecuted("action_session_start", timestamp=t0),
        SessionStarted(timestamp=t0 + 0.1),
        ActionExecuted("action_listen", timestamp=t0 + 0.2),
        UserUttered(
            f"我的宽带断了，电话 {PHONE}，身份证 {ID_NUMBER}",
            {"name": "report_problem", "confidence": 0.97},
            [{"entity": "phone", "value": PHONE, "start": 9, "end": 20}],
            timestamp=t0 + 1,
            metadata={"caller": PHONE},
        ),
        SlotSet("contact", PHONE, timestamp=t0 + 2),
        BotUttered(f"好的，我们会打 {PHONE} 联系您", {"ticket": "SD-100001"}, timestamp=t0 + 3),
        ActionExecuted("action_listen", timestamp=t0 + 4),
        UserUttered(
            f"or write to {EMAIL}",
            {"name": "give_contact", "confidence": 0.91},
            [{"entity": "email", "value": EMAIL}],
            timestamp=t0 + 5,
        ),
        SlotSet("contact", EMAIL, timestamp=t0 + 6),
        ActionExecuted("action_listen", timestamp=t0 + 7),
    ]
    return DialogueStateTracker.from_events(sender, events, slots=domain.slots)


def as_dicts(tracker: DialogueStateTracker | None) -> list[dict[str, Any]]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        pytest.skip("REDIS_URL is not set (CI sets it)")
    return url


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url.startswith("postgres"):
        pytest.skip("DATABASE_URL names no PostgreSQL server (CI sets it)")
    # The bot environment's SQLAlchemy 1.4 talks to PostgreSQL through psycopg2.
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if "+" in scheme or scheme == "postgres" else url


class Backend:
    """One storage engine under test: builds stores on it and reads back what it holds raw."""

    name: str

    def store(self, domain: Domain) -> TrackerStore:
        raise NotImplementedError

    def plain_store(self, domain: Domain) -> TrackerStore:
        """Rasa's own store on the same storage: what the desk wrote before this change."""
        raise NotImplementedError

    def raw(self) -> list[str]:
        """Everything stored, as text: Redis keys and values, or every column of every row."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class RedisBackend(Backend):
    name = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, decode_responses=True)
        kw = self.client.connection_pool.connection_kwargs
        self.kwargs = {"port": kw.get("port", 6379), "db": kw.get("db", 0)}
        self.host = kw.get("host", "127.0.0.1")
        self.prefix = f"desktest{uuid.uuid4().hex[:10]}"

    def store(self, domain: Domain) -> EncryptedRedisTrackerStore:
        return EncryptedRedisTrackerStore(
            domain, host=self.host, key_prefix=self.prefix, **self.kwargs
        )

    def plain_store(self, domain: Domain) -> RedisTrackerStore:
        return RedisTrackerStore(domain, host=self.host, key_prefix=self.prefix, **self.kwargs)

    def stored_keys(self) -> list[str]:
        return list(self.client.scan_iter(match=f"{self.prefix}:*"))

    def raw(self) -> list[str]:
        return [f"{key} {self.client.get(key)}" for key in self.stored_keys()]

    def close(self) -> None:
        for key in self.stored_keys():
            self.client.delete(key)
        self.client.close()


class SQLBackend(Backend):
    def __init__(self, name: str, url: str, schema: str | None = None) -> None:
        self.name = name
        self.url = url
        self.schema = schema
        self.engine = sa.create_engine(url)

    def store(self, domain: Domain) -> EncryptedSQLTrackerStore:
        return EncryptedSQLTrackerStore(domain, host=self.url)

    def plain_store(self, domain: Domain) -> SQLTrackerStore:
        return SQLTrackerStore(domain, host=self.url)

    def raw(self) -> list[str]:
        with self.engine.connect() as connection:
            if self.schema:
                connection.execute(sa.text(f'SET search_path TO "{self.schema}"'))
            rows = connection.execute(sa.text("SELECT * FROM events")).fetchall()
        return [" ".join(str(value) for value in row) for row in rows]

    def close(self) -> None:
        if self.schema:
            with self.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                )
        self.engine.dispose()


@pytest.fixture(params=["redis", "sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    made: Backend
    if request.param == "redis":
        made = RedisBackend(redis_url())
    elif request.param == "sqlite":
        made = SQLBackend("sqlite", f"sqlite:///{tmp_path / 'conversations.db'}")
    else:
        url = postgres_url()
        schema = f"trk_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        # Rasa's SQL store puts its table in the schema this variable names.
        monkeypatch.setenv("POSTGRESQL_SCHEMA", schema)
        made = SQLBackend("postgresql", url, schema)
    try:
        yield made
    finally:
        made.close()


def assert_no_personal_data(raw: list[str]) -> None:
    assert raw, "nothing stored: the scan would prove nothing"
    for value in PERSONAL:
        leaking = [text[:80] for text in raw if value in text]
        assert not leaking, f"{value} stored in plaintext: {leaking}"


# --- the key ring, on both sides ------------------------------------------------------


def test_a_sealed_value_names_its_key_and_opens_again() -> None:
    ring = DataKeyRing(parse_data_keys(f"k1:{new_key()}"))
    sealed = ring.seal(f"call {PHONE}")
    assert sealed.startswith("k1:")
    assert PHONE not in sealed
    assert ring.open(sealed) == f"call {PHONE}"
    assert ring.seal("same") != ring.seal("same"), "a fresh nonce per value"


def test_an_altered_value_or_a_wrong_key_is_an_error_never_garbage() -> None:
    ring = DataKeyRing(parse_data_keys(f"k1:{new_key()}"))
    sealed = ring.seal("hello")
    flipped = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(ConversationUnreadable, match="does not authenticate with data key 'k1'"):
        ring.open(flipped)
    impostor = DataKeyRing(parse_data_keys(f"k1:{new_key()}"))
    with pytest.raises(ConversationUnreadable, match="'k1'"):
        impostor.open(sealed)
    with pytest.raises(DataKeyMissing, match="'k0'"):
        ring.open("k0:" + sealed.split(":", 1)[1])


def test_a_value_that_is_neither_sealed_nor_a_tracker_is_an_error() -> None:
    ring = DataKeyRing(parse_data_keys(f"k1:{new_key()}"))
    with pytest.raises(
        ConversationUnreadable, match="neither sealed by the desk nor a Rasa tracker"
    ):
        ring.open("garbage")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "k1",
        ":abc",
        "k1:not base64!",
        "k1:" + base64.b64encode(b"short").decode(),
        "k1:{a},k1:{a}",
    ],
)
def test_malformed_key_rings_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="DESK_DATA_KEYS"):
        parse_data_keys(value.replace("{a}", new_key()))


@pytest.mark.skipif(not SERVICE_PYTHON.exists(), reason="the service environment is not installed")
def test_the_api_and_the_bot_read_one_key_ring_the_same_way() -> None:
    """ticketing.privacy (service env) and this module (bot env) agree, both ways."""
    ring = f"k2:{new_key()}, k1:{new_key()}"
    bot_ring = DataKeyRing(parse_data_keys(ring))
    malformed = ["", "k1", ":abc", "k1:bad base64!", "k1:" + base64.b64encode(b"x" * 16).decode()]
    script = """
import json, sys
from ticketing.privacy import Vault
from ticketing.settings import parse_data_keys
given = json.load(sys.stdin)
vault = Vault(parse_data_keys(given["ring"]), b"\\0" * 32)
refused = []
for value in given["malformed"]:
    try:
        parse_data_keys(value)
        refused.append(False)
    except ValueError:
        refused.append(True)
print(json.dumps({
    "opened": vault.decrypt(given["sealed"]),
    "sealed": vault.encrypt(given["plaintext"]),
    "active": vault.active_key_id,
    "refused": refused,
}))
"""
    given = {
        "ring": ring,
        "sealed": bot_ring.seal(f"电话 {PHONE}"),
        "plaintext": f"mail {EMAIL}",
        "malformed": malformed,
    }
    done = subprocess.run(
        [str(SERVICE_PYTHON), "-c", script],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["opened"] == f"电话 {PHONE}"
    assert answer["active"] == bot_ring.active_key_id == "k2"
    assert answer["sealed"].startswith("k2:")
    assert bot_ring.open(answer["sealed"]) == f"mail {EMAIL}"
    bot_refused = []
    for value in malformed:
        try:
            parse_data_keys(value)
            bot_refused.append(False)
        except ValueError:
            bot_refused.append(True)
    assert answer["refused"] == bot_refused == [True] * len(malformed)


# --- the stores --------------------------------------------------------------------------


def test_nothing_personal_is_stored_in_plaintext_and_the_tracker_comes_back_whole(
    backend: Backend, domain: Domain, keys: dict[str, str]
) -> None:
    store = backend.store(domain)
    original = conversation(domain, "web-session-1")
    run(store.save(original))

    assert_no_personal_data(backend.raw())
    back = run(store.retrieve_full_tracker("web-session-1"))
    assert as_dicts(back) == as_dicts(original)
    assert back.get_slot("contact") == EMAIL
    # The latest session, as Rasa cuts it (the SQL store leaves out the session's first action).
    latest = as_dicts(run(backend.store(domain).retrieve("web-session-1")))
    assert len(latest) >= len(original.events) - 1
    assert latest == as_dicts(original)[-len(latest) :]


def test_a_later_turn_is_sealed_too(backend: Backend, domain: Domain, keys: dict[str, str]) -> None:
    store = backend.store(domain)
    tracker = conversation(domain, "wechat-openid-7")
    run(store.save(tracker))
    tracker = run(store.retrieve("wechat-openid-7"))
    tracker.update(UserUttered(f"my id is {ID_NUMBER}", {"name": "inform", "confidence": 0.8}))
    run(store.save(tracker))

    assert_no_personal_data(backend.raw())
    back = run(store.retrieve("wechat-openid-7"))
    assert back.latest_message.text == f"my id is {ID_NUMBER}"
    assert len(back.events) == len(tracker.events)


def test_the_plaintext_scan_would_have_found_them(backend: Backend, domain: Domain) -> None:
    """The scan above can fail: Rasa's own store leaves all three readable."""
    run(backend.plain_store(domain).save(conversation(domain, "before")))
    raw = " ".join(backend.raw())
    assert all(value in raw for value in PERSONAL)


def test_a_conversation_stored_in_plaintext_before_is_read_and_then_sealed(
    backend: Backend, domain: Domain, keys: dict[str, str]
) -> None:
    legacy = conversation(domain, "legacy-1")
    run(backend.plain_store(domain).save(legacy))

    store = backend.store(domain)
    assert as_dicts(run(store.retrieve_full_tracker("legacy-1"))) == as_dicts(legacy)
    assert store.encrypt_stored() > 0
    assert_no_personal_data(backend.raw())
    assert as_dicts(run(store.retrieve_full_tracker("legacy-1"))) == as_dicts(legacy)
    assert store.encrypt_stored() == 0, "a second pass finds nothing left to seal"


def test_after_rotation_old_conversations_open_with_the_old_key_id(
    backend: Backend, domain: Domain, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = conversation(domain, "voice-call-3")
    run(backend.store(domain).save(original))

    monkeypatch.setenv("DESK_DATA_KEYS", f"k2:{new_key()},k1:{keys['k1']}")
    rotated = backend.store(domain)
    assert as_dicts(run(rotated.retrieve_full_tracker("voice-call-3"))) == as_dicts(original)
    tracker = run(rotated.retrieve("voice-call-3"))
    tracker.update(UserUttered("thanks", {"name": "thank", "confidence": 0.9}))
    run(rotated.save(tracker))
    raw = backend.raw()
    assert any(" k2:" in f" {text}" for text in raw), "new writes use the active key"

    rotated.encrypt_stored()
    assert not any(" k1:" in f" {text}" for text in backend.raw())
    assert_no_personal_data(backend.raw())
    assert as_dicts(run(rotated.retrieve("voice-call-3"))) == as_dicts(tracker)


def test_a_missing_key_is_a_clear_error_naming_its_id(
    backend: Backend, domain: Domain, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(backend.store(domain).save(conversation(domain, "rest-9")))

    monkeypatch.setenv("DESK_DATA_KEYS", f"k2:{new_key()}")
    with pytest.raises(DataKeyMissing, match="data key 'k1'") as raised:
        run(backend.store(domain).retrieve("rest-9"))
    assert raised.value.key_id == "k1"

    monkeypatch.setenv("DESK_DATA_KEYS", f"k1:{new_key()}")  # same id, another key
    with pytest.raises(ConversationUnreadable, match="does not authenticate"):
        run(backend.store(domain).retrieve("rest-9"))


def test_bare_numbers_several_numbers_and_an_e_mail_in_a_url_are_sealed_too(
    backend: Backend, domain: Domain, keys: dict[str, str]
) -> None:
    store = backend.store(domain)
    tracker = DialogueStateTracker.from_events("odd-input", [], slots=domain.slots)
    for text in (
        PHONE,
        f"{PHONE} 或者 +86 139-0013-9000，身份证{ID_NUMBER}",
        f"https://example.com/unsubscribe?user={EMAIL}&ref=sms",
    ):
        tracker.update(UserUttered(text, {"name": "inform", "confidence": 0.4}))
    run(store.save(tracker))
    raw = backend.raw()
    assert_no_personal_data(raw)
    assert not any("139-0013-9000" in text for text in raw)
    back = run(store.retrieve("odd-input"))
    texts = [e.text for e in back.events if isinstance(e, UserUttered)]
    assert texts[0] == PHONE and len(texts) == 3


def test_a_500_kb_message_and_a_1000_event_conversation(
    backend: Backend, domain: Domain, keys: dict[str, str]
) -> None:
    store = backend.store(domain)
    paste = (f"log line {PHONE} {EMAIL} 错误 " * 20_000)[:500_000]
    big = conversation(domain, "paste")
    big.update(UserUttered(paste, {"name": "report_problem", "confidence": 0.5}))
    run(store.save(big))
    assert run(store.retrieve("paste")).latest_message.text == paste

    long = DialogueStateTracker.from_events("long", [], slots=domain.slots)
    start = time.time() - 2_000
    for i in range(500):
        long.update(
            UserUttered(f"message {i} {PHONE}", {"name": "inform"}, timestamp=start + 2 * i)
        )
        long.update(BotUttered(f"answer {i}", timestamp=start + 2 * i + 1))
    assert len(long.events) == 1_000
    began = time.monotonic()
    run(store.save(long))
    back = run(store.retrieve_full_tracker("long"))
    took = time.monotonic() - began
    assert as_dicts(back) == as_dicts(long)
    assert_no_personal_data(backend.raw())
    assert took < 30, f"1,000 events took {took:.1f} s"


# --- retention ---------------------------------------------------------------------------


def test_redis_keys_expire_after_the_retention_and_each_save_renews_it(
    domain: Domain, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_CONVERSATION_RETENTION_DAYS", "2")
    backend = RedisBackend(redis_url())
    try:
        store = backend.store(domain)
        tracker = conversation(domain, "ttl-1")
        run(store.save(tracker))
        (key,) = backend.stored_keys()
        assert 2 * DAY - 10 <= backend.client.ttl(key) <= 2 * DAY

        backend.client.expire(key, 60)
        tracker.update(UserUttered("still there?", {"name": "greet"}))
        run(store.save(tracker))
        assert backend.client.ttl(key) > 2 * DAY - 10
    finally:
        backend.close()


def test_the_default_retention_is_30_days(domain: Domain, keys: dict[str, str]) -> None:
    backend = RedisBackend(redis_url())
    try:
        run(backend.store(domain).save(conversation(domain, "ttl-default")))
        (key,) = backend.stored_keys()
        assert 30 * DAY - 10 <= backend.client.ttl(key) <= 30 * DAY
    finally:
        backend.close()


def test_purge_gives_redis_keys_written_without_expiry_one_or_deletes_them(
    domain: Domain, keys: dict[str, str]
) -> None:
    backend = RedisBackend(redis_url())
    try:
        plain = backend.plain_store(domain)  # Rasa's store: no expiry, as before this change
        run(plain.save(conversation(domain, "old", start=time.time() - 40 * DAY)))
        run(plain.save(conversation(domain, "recent", start=time.time() - 1 * DAY)))
        assert all(backend.client.ttl(key) == -1 for key in backend.stored_keys())

        store = backend.store(domain)
        assert store.purge() == 1
        (key,) = backend.stored_keys()
        assert key.endswith("recent")
        assert 29 * DAY - 100 <= backend.client.ttl(key) <= 29 * DAY + 60
        assert store.purge() == 0
    finally:
        backend.close()


def test_sql_purge_deletes_events_older_than_the_retention_once_across_hosts(
    domain: Domain, keys: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_CONVERSATION_RETENTION_DAYS", "30")
    backend = SQLBackend("sqlite", f"sqlite:///{tmp_path / 'conversations.db'}")
    try:
        store = backend.store(domain)
        old = conversation(domain, "old", start=time.time() - 31 * DAY)
        run(store.save(old))
        run(store.save(conversation(domain, "recent")))
        stored = len(backend.raw())

        hosts = [backend.store(domain) for _ in range(2)]
        counts: list[int] = []
        threads = [threading.Thread(target=lambda h=h: counts.append(h.purge())) for h in hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(counts) == [0, len(old.events)]
        assert len(backend.raw()) == stored - len(old.events)
        assert run(store.retrieve("old")) is None
        assert run(store.retrieve("recent")) is not None
    finally:
        backend.close()


def test_purge_on_postgresql_runs_once_while_another_host_holds_it(
    domain: Domain, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url()
    schema = f"trk_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    monkeypatch.setenv("POSTGRESQL_SCHEMA", schema)
    backend = SQLBackend("postgresql", url, schema)
    try:
        store = backend.store(domain)
        run(store.save(conversation(domain, "old", start=time.time() - 40 * DAY)))
        with admin.connect() as holder:
            holder.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": PURGE_LOCK_ID})
            assert store.purge() == 0, "another host is purging: this one skips"
            holder.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": PURGE_LOCK_ID})
        assert store.purge() > 0
        assert backend.raw() == []
    finally:
        backend.close()
        admin.dispose()


def test_the_retention_setting_is_checked(
    keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.tracker_store import ConversationSettings

    assert ConversationSettings.from_environment().retention_seconds == 30 * DAY
    for bad in ("0", "-3", "a month"):
        monkeypatch.setenv("DESK_CONVERSATION_RETENTION_DAYS", bad)
        with pytest.raises(ValueError, match="DESK_CONVERSATION_RETENTION_DAYS"):
            ConversationSettings.from_environment()


# --- configuration: endpoints.yml as scripts/desk.py writes it ------------------------------


@pytest.fixture(autouse=True)
def action_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """What scripts/desk.py gives Rasa: the endpoints file names ${DESK_ACTION_SECRET} and
    ${DESK_API_URL} (the responses' FAQ answers), which Rasa fills from its environment."""
    monkeypatch.setenv("DESK_ACTION_SECRET", "action-secret-for-tests")
    monkeypatch.setenv("DESK_API_URL", "http://127.0.0.1:8000")


def load_desk_script() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("desk_script", ROOT / "scripts" / "desk.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_desk_endpoints_for_sqlite_load_the_encrypted_sql_store(
    tmp_path: Path, domain: Domain, keys: dict[str, str]
) -> None:
    path = load_desk_script().write_endpoints(tmp_path, 5055, None)
    text = path.read_text()
    assert text.startswith("action_endpoint:")
    store = TrackerStore.create(read_endpoint_config(str(path), "tracker_store"), domain)
    assert isinstance(store, EncryptedSQLTrackerStore)
    assert str(store.engine.url).endswith(str(tmp_path / "conversations.db"))
    assert read_endpoint_config(str(path), "lock_store") is None


def test_desk_endpoints_for_redis_load_the_encrypted_store_and_the_redis_lock_store(
    tmp_path: Path, domain: Domain, keys: dict[str, str]
) -> None:
    path = load_desk_script().write_endpoints(tmp_path, 5055, "redis://:pw@127.0.0.1:6379/8")
    store = TrackerStore.create(read_endpoint_config(str(path), "tracker_store"), domain)
    assert isinstance(store, EncryptedRedisTrackerStore)
    connection = store.red.connection_pool.connection_kwargs
    assert (connection["host"], connection["port"], connection["db"]) == ("127.0.0.1", 6379, 8)
    assert connection["password"] == "pw"
    assert store.key_prefix == "desk:tracker:"
    assert store.record_exp == 30 * DAY
    lock_store = LockStore.create(read_endpoint_config(str(path), "lock_store"))
    assert isinstance(lock_store, RedisLockStore)


def test_desk_endpoints_on_postgresql_without_redis_keep_conversations_in_the_desks_database(
    tmp_path: Path, domain: Domain, keys: dict[str, str]
) -> None:
    """No DESK_CONVERSATION_STORE by hand: scripts/desk.py puts Rasa's events table in the
    desk's own PostgreSQL schema (the search_path of DATABASE_URL), sealed."""
    url = postgres_url()
    schema = f"trk_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    desk = load_desk_script()
    database = f"{os.environ['DATABASE_URL']}?options=-csearch_path%3D{schema}"
    chosen = desk.conversation_store_url({"DATABASE_URL": database})
    assert chosen == database
    path = desk.write_endpoints(tmp_path, 5055, None, chosen)
    backend = SQLBackend("postgresql", url, schema)
    try:
        store = TrackerStore.create(read_endpoint_config(str(path), "tracker_store"), domain)
        assert isinstance(store, EncryptedSQLTrackerStore)
        assert read_endpoint_config(str(path), "lock_store") is None
        run(store.save(conversation(domain, "web:pg")))
        assert run(store.retrieve("web:pg")) is not None
        rows = backend.raw()
        assert rows, "no events in the desk's schema"
        assert_no_personal_data(rows)
    finally:
        backend.close()  # drops the schema
        admin.dispose()


def test_a_desk_without_data_keys_does_not_start(
    tmp_path: Path, domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rasa falls back to an in-memory store only on import errors; this must not fall back."""
    monkeypatch.delenv("DESK_DATA_KEYS", raising=False)
    path = load_desk_script().write_endpoints(tmp_path, 5055, None)
    with pytest.raises(ValueError, match="DESK_DATA_KEYS is not set"):
        TrackerStore.create(read_endpoint_config(str(path), "tracker_store"), domain)


def test_the_command_purges_and_encrypts_the_store_of_an_endpoints_file(
    tmp_path: Path, domain: Domain, keys: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = load_desk_script().write_endpoints(tmp_path, 5055, None)
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    plain = SQLTrackerStore(domain, host=url)
    run(plain.save(conversation(domain, "old", start=time.time() - 45 * DAY)))
    run(plain.save(conversation(domain, "recent")))

    assert main(["purge", "--endpoints", str(path)]) == 0
    assert "10 events older than 30 days deleted" in capsys.readouterr().out
    assert main(["encrypt", "--endpoints", str(path)]) == 0
    assert "10 stored values sealed with key 'k1'" in capsys.readouterr().out
    assert_no_personal_data(SQLBackend("sqlite", url).raw())


def test_the_command_refuses_an_endpoints_file_without_the_desk_store(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.yml"
    path.write_text(f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {tmp_path / 'x.db'}\n")
    with pytest.raises(SystemExit, match="not one of the desk's encrypted tracker stores"):
        main(["purge", "--endpoints", str(path)])


def test_the_command_takes_the_keys_from_an_env_file_when_the_environment_lacks_them(
    tmp_path: Path,
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = load_desk_script().write_endpoints(tmp_path, 5055, None)
    env_file = tmp_path / "desk.env"
    env_file.write_text(f"DESK_DATA_KEYS=k7:{new_key()}\nDESK_CONVERSATION_RETENTION_DAYS=3\n")
    # Set first so that the teardown also removes what the env file put in.
    monkeypatch.setenv("DESK_DATA_KEYS", "unset")
    monkeypatch.setenv("DESK_CONVERSATION_RETENTION_DAYS", "unset")
    monkeypatch.delenv("DESK_DATA_KEYS")
    monkeypatch.delenv("DESK_CONVERSATION_RETENTION_DAYS")
    assert main(["purge", "--endpoints", str(path), "--env-file", str(env_file)]) == 0
    assert "0 events older than 3 days deleted" in capsys.readouterr().out
    assert os.environ["DESK_DATA_KEYS"].startswith("k7:")

    monkeypatch.setenv("DESK_CONVERSATION_RETENTION_DAYS", "5")  # the environment wins
    assert main(["purge", "--endpoints", str(path), "--env-file", str(env_file)]) == 0
    assert "older than 5 days" in capsys.readouterr().out


def test_under_rasa_a_missing_key_is_logged_by_id_and_the_stored_conversation_kept(
    backend: Backend,
    domain: Domain,
    keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`rasa run` wraps the store in FailSafeTrackerStore: what a customer's turn meets."""
    run(backend.store(domain).save(conversation(domain, "rest-10")))
    before = backend.raw()

    monkeypatch.setenv("DESK_DATA_KEYS", f"k2:{new_key()}")
    store = FailSafeTrackerStore(backend.store(domain))
    with caplog.at_level(logging.ERROR):
        tracker = run(store.get_or_create_tracker("rest-10"))
        tracker.update(UserUttered(f"call me on {PHONE}", {"name": "inform"}))
        run(store.save(tracker))
    assert "sealed with data key 'k1'" in caplog.text
    assert PHONE not in caplog.text
    assert backend.raw() == before, "the conversation sealed with k1 is left as it was"
