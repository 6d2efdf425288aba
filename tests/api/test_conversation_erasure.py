"""Erasing a customer (POST /customers/{id}/erase) reaches their conversations with the bot:
Rasa's tracker store (Redis or SQL) and every key the channels keep for them in Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.orm import Session

from tests.support_service.database import empty_database
from tests.support_service.factories import STAFF_PASSWORD, make_settings, make_staff
from tests.ticketing.test_conversation_store import rasa_events_table
from ticketing.conversations import channel_key_tag
from ticketing.models import AuditEntry
from ticketing.settings import Settings

REDIS_URL = os.environ.get("REDIS_URL")


def admin_headers(client: TestClient, session: Session) -> dict[str, str]:
    make_staff(session, "admin", role="admin", presence="offline")
    token = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": STAFF_PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def new_customer(client: TestClient, sender: str) -> int:
    """A customer the bot met on the REST channel as ``sender`` (its conversation id)."""
    from tests.support_service.factories import ticket_payload

    body = ticket_payload(customer={"external_id": sender, "display_name": "李雷"})
    response = client.post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["customer_id"])


def erase(client: TestClient, session: Session, customer_id: int) -> None:
    response = client.post(
        f"/api/v1/customers/{customer_id}/erase",
        json={"reason": "PIPL erasure request #7"},
        headers=admin_headers(client, session),
    )
    assert response.status_code == 200, response.text


def audit_details(session: Session, customer_id: int) -> dict[str, object]:
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "erase_conversations", AuditEntry.customer_id == customer_id
        )
    ).one()
    return dict(entry.details)


@pytest.fixture
def red() -> Iterator[redis.Redis]:
    if not REDIS_URL:
        pytest.skip("needs the Redis of REDIS_URL")
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


class TestOnRedis:
    def test_the_tracker_and_every_channel_key_of_the_customer_go_and_nobody_elses(
        self,
        anonymous_client: TestClient,
        client: TestClient,
        session: Session,
        settings: Settings,
        red: redis.Redis,
    ) -> None:
        sender = f"erase-{uuid.uuid4().hex[:8]}"
        other = f"keep-{uuid.uuid4().hex[:8]}"
        customer_id = new_customer(client, sender)
        prefix = settings.conversation_key_prefix
        mine, theirs = channel_key_tag(sender), channel_key_tag(other)
        doomed = [
            f"{prefix}:tracker:{sender}",
            f"desk:rest:data:kept:{mine}",
            f"desk:rest:reply:{mine}:m1",
            f"desk:rest:data:started:{mine}:m1",
        ]
        kept = [f"{prefix}:tracker:{other}", f"desk:rest:data:kept:{theirs}"]
        for key in doomed + kept:
            red.set(key, "k1:sealed", ex=600)
        try:
            erase(anonymous_client, session, customer_id)
            assert red.exists(*doomed) == 0
            assert red.exists(*kept) == len(kept)
        finally:
            red.delete(*doomed, *kept)
        details = audit_details(session, customer_id)
        assert details == {
            "conversations": 1,
            "conversations_deleted": 1,
            "events_deleted": 0,
            "channel_keys_deleted": 3,
        }
        assert sender not in str(details)


class TestOnSql:
    """Rasa's SQL tracker store (DESK_CONVERSATION_STORE names it): a schema of its own on
    the PostgreSQL server of the tests, a SQLite file beside a SQLite desk."""

    @pytest.fixture
    def conversations_url(self, tmp_path: Path) -> Iterator[str]:
        with empty_database(tmp_path, label="conv") as url:
            yield url

    @pytest.fixture
    def settings(self, database_url: str, conversations_url: str) -> Settings:
        return make_settings(database_url, conversation_store=conversations_url)

    def test_every_event_of_the_customers_conversations_goes(
        self,
        anonymous_client: TestClient,
        client: TestClient,
        session: Session,
        conversations_url: str,
    ) -> None:
        engine = create_engine(conversations_url)
        events = rasa_events_table(MetaData())
        events.metadata.create_all(engine)
        sender = f"erase-{uuid.uuid4().hex[:8]}"
        with engine.begin() as connection:
            for who in (sender, sender, "somebody-else"):
                connection.execute(
                    events.insert().values(
                        sender_id=who, type_name="user", timestamp=1.0, data="k1:sealed"
                    )
                )
        customer_id = new_customer(client, sender)
        erase(anonymous_client, session, customer_id)
        with engine.connect() as connection:
            left = list(connection.execute(select(events.c.sender_id)).scalars())
        engine.dispose()
        assert left == ["somebody-else"]
        assert audit_details(session, customer_id)["events_deleted"] == 2
