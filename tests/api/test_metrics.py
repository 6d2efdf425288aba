import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.orm import Session

from api.app import create_app
from tests.support_service.factories import (
    STAFF_PASSWORD,
    make_settings,
    make_staff,
    ticket_payload,
)
from ticketing.metrics import parse_networks
from ticketing.models import utcnow
from ticketing.services import sla_scan
from ticketing.settings import Settings


def staff_headers(client: TestClient, username: str) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sample's value (0 when the series is absent, as Prometheus would read it)."""
    found = [s.value for s in samples(text) if s.name == name and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else 0.0


@pytest.fixture
def admin(anonymous_client: TestClient, session: Session) -> dict[str, str]:
    make_staff(session, "admin", role="admin")
    return staff_headers(anonymous_client, "admin")


class TestAccess:
    def test_anonymous_is_401(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.get("/metrics")
        assert response.status_code == 401
        assert "desk_" not in response.text

    def test_bad_token_is_401(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401

    def test_agent_is_403(self, anonymous_client: TestClient, session: Session) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"])
        response = anonymous_client.get(
            "/metrics", headers=staff_headers(anonymous_client, "wang.fang")
        )
        assert response.status_code == 403

    def test_supervisor_and_bot_are_403(
        self, anonymous_client: TestClient, client: TestClient, session: Session
    ) -> None:
        make_staff(session, "zhao.min", role="supervisor")
        supervisor = staff_headers(anonymous_client, "zhao.min")
        assert anonymous_client.get("/metrics", headers=supervisor).status_code == 403
        assert client.get("/metrics").status_code == 403  # the bot's service token

    def test_admin_reads_prometheus_text(
        self, anonymous_client: TestClient, admin: dict[str, str]
    ) -> None:
        response = anonymous_client.get("/metrics", headers=admin)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {
            "desk_http_requests",
            "desk_http_request_duration_seconds",
            "desk_tickets_opened",
            "desk_tickets_resolved",
            "desk_sla_warnings",
            "desk_sla_breaches",
            "desk_queue_waiting_tickets",
            "desk_relay_backlog",
            "desk_metrics_database_up",
        } <= names
        assert value(response.text, "desk_metrics_database_up") == 1.0

    def test_an_allowed_scraper_needs_no_token(
        self, clean_database: object, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DESK_METRICS_ALLOW", "192.0.2.7, 10.1.0.0/16")
        app = create_app(settings)
        with TestClient(app, client=("10.1.2.3", 40000)) as scraper:
            allowed = scraper.get("/metrics")
        with TestClient(app, client=("10.2.0.1", 40000)) as stranger:
            refused = stranger.get("/metrics")
        assert allowed.status_code == 200
        assert value(allowed.text, "desk_metrics_database_up") == 1.0
        assert refused.status_code == 401

    def test_no_scraper_is_allowed_by_default(
        self, clean_database: object, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("DESK_METRICS_ALLOW", raising=False)
        with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as local:
            assert local.get("/metrics").status_code == 401

    def test_a_bad_allow_list_is_refused_at_start(self) -> None:
        with pytest.raises(ValueError, match="DESK_METRICS_ALLOW"):
            parse_networks("10.0.0.0/8, example.com")


class TestFigures:
    def test_a_ticket_created_through_the_api_counts_once(
        self, client: TestClient, anonymous_client: TestClient, admin: dict[str, str]
    ) -> None:
        before = anonymous_client.get("/metrics", headers=admin).text
        created = client.post("/api/v1/tickets", json=ticket_payload())
        assert created.status_code == 201
        queue = created.json()["queue"]
        # Read from another app than the one that created it: as another worker would.
        after = anonymous_client.get("/metrics", headers=admin).text
        labels = {"queue": queue, "channel": "rest"}
        assert value(after, "desk_tickets_opened_total", **labels) == (
            value(before, "desk_tickets_opened_total", **labels) + 1
        )
        assert value(after, "desk_queue_waiting_tickets", queue=queue) == (
            value(before, "desk_queue_waiting_tickets", queue=queue) + 1
        )

    def test_requests_are_counted_by_route_template(
        self, client: TestClient, admin: dict[str, str]
    ) -> None:
        number = client.post("/api/v1/tickets", json=ticket_payload()).json()["number"]
        assert client.get(f"/api/v1/tickets/{number}").status_code == 200
        text = client.get("/metrics", headers=admin).text
        route = "/api/v1/tickets/{number}"
        assert value(text, "desk_http_requests_total", method="GET", route=route, status="200") == 1
        assert (
            value(text, "desk_http_request_duration_seconds_count", method="GET", route=route) == 1
        )
        client.get("/no/such/SD-100001")
        assert client.get("/console/").status_code == 200
        text = client.get("/metrics", headers=admin).text
        static = {"method": "GET", "route": "/console/{path}", "status": "200"}
        assert value(text, "desk_http_requests_total", **static) == 1
        assert (
            value(text, "desk_http_requests_total", method="GET", route="<unmatched>", status="404")
            == 1
        )

    def test_no_label_carries_a_ticket_number_or_personal_data(
        self, client: TestClient, admin: dict[str, str]
    ) -> None:
        payload = ticket_payload("en")
        number = client.post("/api/v1/tickets", json=payload).json()["number"]
        client.get(f"/api/v1/tickets/{number}")
        client.get(f"/api/v1/tickets/{number}/messages")
        text = client.get("/metrics", headers=admin).text
        values = [v for s in samples(text) for v in s.labels.values()]
        assert values  # there are labelled series to check
        forbidden = [number, "sam", "Sam@Example.com".lower(), "internet"]
        for label in values:
            assert not re.search(r"SD-\d+", label), label
            assert not any(word in label.lower() for word in forbidden), label


class TestDeskFigures:
    def test_resolution_sla_breach_and_relay_backlog_move(
        self,
        client: TestClient,
        anonymous_client: TestClient,
        admin: dict[str, str],
        session: Session,
    ) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"])
        agent = staff_headers(anonymous_client, "wang.fang")
        created = client.post("/api/v1/tickets", json=ticket_payload()).json()
        queue, number = created["queue"], created["number"]
        before = anonymous_client.get("/metrics", headers=admin).text

        # The SLA scheduler's pass, a month on: both clocks are breached (and warned).
        sla_scan.scan(session, now=utcnow() + timedelta(days=30))
        session.commit()
        version = client.get(f"/api/v1/tickets/{number}").json()["version"]
        resolved = anonymous_client.patch(
            f"/api/v1/tickets/{number}",
            json={"version": version, "status": "resolved"},
            headers=agent,
        )
        assert resolved.status_code == 200, resolved.text
        after = anonymous_client.get("/metrics", headers=admin).text

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert moved("desk_tickets_resolved_total", queue=queue, channel="rest") == 1
        assert moved("desk_sla_breaches_total", queue=queue, clock="first_response") == 1
        assert moved("desk_sla_breaches_total", queue=queue, clock="resolution") == 1
        assert moved("desk_sla_warnings_total", queue=queue, clock="resolution") == 1
        # The "we're late" notice and the resolution wait in the relay's outbox for the
        # customer's conversation.
        assert moved("desk_relay_backlog") == 2
        assert value(after, "desk_queue_active_tickets", queue=queue) == 0

    def test_a_failing_database_reads_as_down_not_as_an_error(
        self, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DESK_METRICS_ALLOW", "10.1.2.3")
        missing = tmp_path_factory.mktemp("gone") / "dir" / "x.db"
        app = create_app(make_settings(f"sqlite:///{missing}", redis_url=None))
        missing.parent.rmdir()  # SQLite cannot open a file in a missing directory
        with TestClient(app, client=("10.1.2.3", 40000)) as scraper:
            response = scraper.get("/metrics")
        assert response.status_code == 200
        assert value(response.text, "desk_metrics_database_up") == 0.0
        assert "desk_http_requests_total" in response.text
