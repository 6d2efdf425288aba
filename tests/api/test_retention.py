"""The retention schedule over HTTP: admins only, the schedule with its defaults, a run."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload
from ticketing.db import Database
from ticketing.enums import TicketStatus
from ticketing.models import Ticket, utcnow
from ticketing.repositories.retention import try_lock

PATH = "/api/v1/retention"
PHONE = "13912345678"


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session):
    make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    make_staff(session, "admin", role="admin", presence="offline")

    def headers(username: str) -> dict[str, str]:
        token = anonymous_client.post(
            "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        ).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    return headers


def closed_long_ago(client: TestClient, database: Database) -> str:
    created = client.post(
        "/api/v1/tickets", json=ticket_payload(description=f"请回电 {PHONE}")
    ).json()
    with database.sessions.begin() as session:
        session.execute(
            update(Ticket)
            .where(Ticket.number == created["number"])
            .values(status=TicketStatus.CLOSED, closed_at=utcnow() - timedelta(days=400))
        )
    return str(created["number"])


class TestAccess:
    def test_without_a_token_401(self, anonymous_client: TestClient) -> None:
        assert anonymous_client.get(PATH).status_code == 401
        assert anonymous_client.post(f"{PATH}/run", json={}).status_code == 401

    def test_other_roles_403(self, client: TestClient, anonymous_client: TestClient, staff) -> None:
        for user in ("wang.fang", "zhao.min"):
            assert anonymous_client.get(PATH, headers=staff(user)).status_code == 403
            assert (
                anonymous_client.post(f"{PATH}/run", json={}, headers=staff(user)).status_code
                == 403
            )
        assert client.get(PATH).status_code == 403
        assert client.post(f"{PATH}/run", json={}).status_code == 403

    @pytest.mark.parametrize(
        "body",
        [{"dry_run": "yes"}, {"dry_run": 1}, {"purge": True}, [], None],
        ids=["string", "number", "unknown-field", "list", "no-body"],
    )
    def test_malformed_bodies_422(self, anonymous_client: TestClient, staff, body) -> None:
        response = anonymous_client.post(f"{PATH}/run", json=body, headers=staff("admin"))
        assert response.status_code == 422
        assert response.json()["error"]["code"]


class TestSchedule:
    def test_admins_see_every_period_with_its_setting_and_default(
        self, anonymous_client: TestClient, staff
    ) -> None:
        response = anonymous_client.get(PATH, headers=staff("admin"))
        assert response.status_code == 200
        body = response.json()
        periods = {p["setting"]: (p["value"], p["default"]) for p in body["periods"]}
        assert periods == {
            "DESK_CLOSED_TICKET_RETENTION_DAYS": (365, 365),
            "DESK_IDEMPOTENCY_KEY_RETENTION_DAYS": (7, 7),
            "DESK_RELAY_RETENTION_DAYS": (30, 30),
            "DESK_CONVERSATION_RETENTION_DAYS": (30, 30),
            "DESK_AUDIT_RETENTION_YEARS": (3, 3),
        }
        assert (body["run_every_hours"], body["last_run"], body["next_run_due_at"]) == (
            24,
            None,
            None,
        )

    def test_a_dry_run_counts_a_run_purges_and_is_audited(
        self, client: TestClient, anonymous_client: TestClient, clean_database: Database, staff
    ) -> None:
        number = closed_long_ago(client, clean_database)
        admin = staff("admin")
        dry = anonymous_client.post(f"{PATH}/run", json={"dry_run": True}, headers=admin)
        assert dry.status_code == 200
        assert (dry.json()["dry_run"], dry.json()["counts"]["tickets_anonymised"]) == (True, 1)
        assert anonymous_client.get(PATH, headers=admin).json()["last_run"] is None

        ran = anonymous_client.post(f"{PATH}/run", json={}, headers=admin)
        assert ran.status_code == 200
        assert (ran.json()["dry_run"], ran.json()["counts"]["tickets_anonymised"]) == (False, 1)

        ticket = anonymous_client.get(f"/api/v1/tickets/{number}", headers=admin).json()
        assert ticket["status"] == "closed"
        assert PHONE not in str(ticket) and "139****5678" not in str(ticket)

        schedule = anonymous_client.get(PATH, headers=admin).json()
        assert schedule["last_run"]["actor"] == "staff:admin"
        assert schedule["last_run"]["counts"]["tickets_anonymised"] == 1
        log = anonymous_client.get("/api/v1/audit?action=retention", headers=admin).json()
        assert [(e["actor"], e["role"]) for e in log] == [("staff:admin", "admin")]
        assert PHONE not in str(log)


@pytest.mark.skipif(configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)")
def test_a_run_while_another_instance_purges_is_409(
    anonymous_client: TestClient, clean_database: Database, staff
) -> None:
    admin = staff("admin")
    holder = clean_database.sessions()
    try:
        holder.begin()
        assert try_lock(holder)
        busy = anonymous_client.post(f"{PATH}/run", json={}, headers=admin)
    finally:
        holder.rollback()
        holder.close()
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "retention_busy"
    assert anonymous_client.post(f"{PATH}/run", json={}, headers=admin).status_code == 200
