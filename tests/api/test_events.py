"""Live events over SSE: stream tickets, who gets one, what a stream carries, resuming."""

import json
import random
import threading
from collections.abc import Iterator
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import JWT_ALGORITHM, JWT_ISSUER
from api.routers.events import STREAM_AUDIENCE
from tests.support_service.factories import (
    JWT_SECRET,
    SERVICE_TOKEN,
    STAFF_PASSWORD,
    make_settings,
    make_staff,
)
from ticketing.db import Database
from ticketing.events import DeskEvent
from ticketing.models import utcnow


@pytest.fixture
def app_client(
    clean_database: Database, database_url: str, session: Session
) -> Iterator[TestClient]:
    """The app with two-second streams (the test client reads a stream once it has ended)."""
    make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
    app = create_app(make_settings(database_url, event_stream_seconds=2))
    with TestClient(app) as test_client:
        yield test_client


def bearer(client: TestClient, username: str = "wang.fang") -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def stream_ticket(client: TestClient) -> str:
    response = client.post("/api/v1/events/ticket", headers=bearer(client))
    assert response.status_code == 200, response.text
    return str(response.json()["ticket"])


def frames(text: str, number: str | None = None) -> list[dict]:
    """The events in a stream's text; only one ticket's when a number is given.

    With REDIS_URL the stream is shared with anything else using that Redis, so tests
    look only at the tickets they made up.
    """
    found = [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ")
    ]
    return [f for f in found if number is None or f["ticket_number"] == number]


def made_up_number() -> str:
    return f"SD-9{random.randrange(10**8):08d}"


class Publisher:
    """Publishes events on the app's bus once a stream has connected, not after a guess.

    A stream starts from the bus's newest id (``last_id``) when it connects; the events
    go out after that call has returned, so the stream must carry them.
    """

    def __init__(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bus = client.app.state.events  # type: ignore[attr-defined]
        self.connected = threading.Event()
        self.published: list[str] = []
        newest = self.bus.last_id

        def last_id() -> str:
            found = newest()
            self.connected.set()
            return str(found)

        monkeypatch.setattr(self.bus, "last_id", last_id)

    def publish_when_connected(self, *events: DeskEvent, seconds: float = 10) -> threading.Thread:
        def run() -> None:
            if self.connected.wait(timeout=seconds):
                self.published.extend(self.bus.publish(event) for event in events)

        thread = threading.Thread(target=run)
        thread.start()
        return thread


class TestStreamTicket:
    def test_needs_a_staff_token(self, app_client: TestClient) -> None:
        assert app_client.post("/api/v1/events/ticket").status_code == 401
        as_bot = app_client.post(
            "/api/v1/events/ticket",
            headers={
                "Authorization": f"Bearer {SERVICE_TOKEN}",
                "X-Desk-Channel": "rest",
                "X-Desk-Sender": "someone",
            },
        )
        assert as_bot.status_code == 403

    def test_is_short_lived_and_opens_nothing_else(self, app_client: TestClient) -> None:
        response = app_client.post("/api/v1/events/ticket", headers=bearer(app_client))
        body = response.json()
        assert body["stream_url"].endswith(body["ticket"])
        lifetime = jwt.decode(body["ticket"], options={"verify_signature": False})
        assert lifetime["exp"] - lifetime["iat"] == 60
        # A stream ticket is not a Bearer token.
        misuse = app_client.get(
            "/api/v1/tickets", headers={"Authorization": f"Bearer {body['ticket']}"}
        )
        assert misuse.status_code == 401


class TestStream:
    def test_refuses_missing_wrong_expired_and_staff_tokens(self, app_client: TestClient) -> None:
        assert app_client.get("/api/v1/events/stream").status_code == 401
        staff_token = bearer(app_client)["Authorization"].removeprefix("Bearer ")
        now = utcnow()
        expired = jwt.encode(
            {
                "sub": "1",
                "role": "agent",
                "iss": JWT_ISSUER,
                "aud": STREAM_AUDIENCE,
                "iat": int((now - timedelta(minutes=5)).timestamp()),
                "exp": int((now - timedelta(minutes=4)).timestamp()),
            },
            JWT_SECRET,
            JWT_ALGORITHM,
        )
        for ticket in ("nonsense", staff_token, expired):
            response = app_client.get("/api/v1/events/stream", params={"ticket": ticket})
            assert response.status_code == 401, ticket
            assert response.json()["error"]["code"] == "invalid_stream_ticket"

    def test_malformed_last_event_id_is_422(self, app_client: TestClient) -> None:
        response = app_client.get(
            "/api/v1/events/stream",
            params={"ticket": stream_ticket(app_client)},
            headers={"Last-Event-ID": "1; DROP TABLE"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "Last-Event-ID"

    def test_carries_new_events_in_order_with_ids(
        self, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        bus = app_client.app.state.events  # type: ignore[attr-defined]
        number = made_up_number()
        bus.publish(DeskEvent("ticket.created", number, {"queue": "billing"}))  # before
        ticket = stream_ticket(app_client)
        publisher = Publisher(app_client, monkeypatch)
        writer = publisher.publish_when_connected(
            DeskEvent("ticket.assigned", number, {"agent": "wang.fang"}),
            DeskEvent("ticket.replied", number, {"public": True}),
        )
        response = app_client.get("/api/v1/events/stream", params={"ticket": ticket})
        writer.join(timeout=15)
        assert not writer.is_alive()
        assert publisher.connected.is_set(), "the stream never read the bus's newest id"
        assert len(publisher.published) == 2
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        received = frames(response.text, number)
        assert [f["type"] for f in received] == ["ticket.assigned", "ticket.replied"]
        assert f"id: {received[-1]['id']}" in response.text
        assert [f["id"] for f in received] == publisher.published
        assert "retry: " in response.text

    @pytest.mark.parametrize("how", ["header", "query"])
    def test_resumes_after_last_event_id(self, app_client: TestClient, how: str) -> None:
        bus = app_client.app.state.events  # type: ignore[attr-defined]
        number = made_up_number()
        first = bus.publish(DeskEvent("ticket.created", number))
        bus.publish(DeskEvent("ticket.replied", number, {"public": True}))
        bus.publish(DeskEvent("ticket.resolved", number))
        params = {"ticket": stream_ticket(app_client)}
        headers = {}
        if how == "header":
            headers["Last-Event-ID"] = first
        else:
            params["last_event_id"] = first
        response = app_client.get("/api/v1/events/stream", params=params, headers=headers)
        assert [f["type"] for f in frames(response.text, number)] == [
            "ticket.replied",
            "ticket.resolved",
        ]

    def test_a_deactivated_account_cannot_open_a_stream(
        self, app_client: TestClient, session: Session
    ) -> None:
        ticket = stream_ticket(app_client)
        from ticketing.repositories import agents as agents_repo

        agent = agents_repo.get_by_username(session, "wang.fang")
        assert agent is not None
        agent.active = False
        session.commit()
        response = app_client.get("/api/v1/events/stream", params={"ticket": ticket})
        assert response.status_code == 401
