"""Staff administration over HTTP: who may do what, versions, the last admin, hand-over, audit."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload
from ticketing.models import AuditEntry

NEW_PASSWORD = "a brand new secret"
TEMPORARY = "temporary password 1"


def login(client: TestClient, username: str, password: str = STAFF_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session):
    make_staff(session, "root.admin", role="admin", presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    make_staff(session, "wang.fang", queues=["technical_support"], presence="online")
    session.commit()
    return lambda username: login(anonymous_client, username)


def account(client: TestClient, headers: dict[str, str], username: str) -> dict[str, Any]:
    rows = client.get("/api/v1/admin/staff", headers=headers).json()
    return next(row for row in rows if row["username"] == username)


def create(client: TestClient, headers: dict[str, str], **overrides: Any):
    body = {
        "username": "li.na",
        "display_name": "Li Na",
        "role": "agent",
        "languages": ["zh"],
        "queues": ["technical_support"],
        "capacity": 4,
        "password": TEMPORARY,
    }
    body.update(overrides)
    return client.post("/api/v1/admin/staff", json=body, headers=headers)


def audit_actions(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


class TestWhoMay:
    def test_without_a_token_401(self, anonymous_client: TestClient) -> None:
        assert anonymous_client.get("/api/v1/admin/staff").status_code == 401
        assert create(anonymous_client, {}).status_code == 401

    def test_agents_and_the_bot_403(self, anonymous_client: TestClient, client, staff) -> None:
        assert (
            anonymous_client.get("/api/v1/admin/staff", headers=staff("wang.fang")).status_code
            == 403
        )
        assert client.get("/api/v1/admin/staff").status_code == 403

    def test_a_supervisor_creates_agents_but_cannot_grant_admin(
        self, anonymous_client: TestClient, staff
    ) -> None:
        boss = staff("zhao.min")
        assert create(anonymous_client, boss).status_code == 201
        refused = create(anonymous_client, boss, username="eve", role="admin")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "admin_required"
        wang = account(anonymous_client, boss, "wang.fang")
        promote = anonymous_client.patch(
            "/api/v1/admin/staff/wang.fang",
            json={"version": wang["version"], "role": "admin"},
            headers=boss,
        )
        assert promote.status_code == 403
        assert account(anonymous_client, boss, "wang.fang")["role"] == "agent"

    def test_a_supervisor_cannot_touch_an_admin_account(
        self, anonymous_client: TestClient, staff
    ) -> None:
        boss = staff("zhao.min")
        root = account(anonymous_client, boss, "root.admin")
        for path, body in (
            (
                "/api/v1/admin/staff/root.admin/password",
                {"version": root["version"], "password": TEMPORARY},
            ),
            ("/api/v1/admin/staff/root.admin/deactivate", {"version": root["version"]}),
        ):
            response = anonymous_client.post(path, json=body, headers=boss)
            assert response.status_code == 403, path

    def test_an_admin_grants_admin(self, anonymous_client: TestClient, staff) -> None:
        admin = staff("root.admin")
        wang = account(anonymous_client, admin, "wang.fang")
        response = anonymous_client.patch(
            "/api/v1/admin/staff/wang.fang",
            json={"version": wang["version"], "role": "admin"},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        assert response.json()["staff"]["role"] == "admin"


class TestCreateAndEdit:
    def test_created_account_must_change_its_password_first(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        created = create(anonymous_client, staff("root.admin"))
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["role"], body["queues"], body["capacity"], body["must_change_password"]) == (
            "agent",
            ["technical_support"],
            4,
            True,
        )
        assert "password" not in body and "password_hash" not in body
        li = login(anonymous_client, "li.na", TEMPORARY)
        blocked = anonymous_client.get("/api/v1/tickets", headers=li)
        assert blocked.status_code == 403
        assert blocked.json()["error"]["code"] == "password_change_required"
        me = anonymous_client.get("/api/v1/auth/me", headers=li)
        assert me.status_code == 200 and me.json()["must_change_password"] is True
        wrong = anonymous_client.post(
            "/api/v1/auth/password",
            json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
            headers=li,
        )
        assert wrong.status_code == 403
        short = anonymous_client.post(
            "/api/v1/auth/password",
            json={"current_password": TEMPORARY, "new_password": "short"},
            headers=li,
        )
        assert short.status_code == 422
        assert short.json()["error"]["details"][0]["field"] == "new_password"
        changed = anonymous_client.post(
            "/api/v1/auth/password",
            json={"current_password": TEMPORARY, "new_password": NEW_PASSWORD},
            headers=li,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["must_change_password"] is False
        assert anonymous_client.get("/api/v1/tickets", headers=li).status_code == 200
        assert login(anonymous_client, "li.na", NEW_PASSWORD)
        actions = [e.action for e in audit_actions(session)]
        assert actions == ["staff_created", "password_changed"]

    def test_duplicate_username_409(self, anonymous_client: TestClient, staff) -> None:
        response = create(anonymous_client, staff("root.admin"), username="Wang.Fang")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "username_taken"

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"username": "bad name!"}, "username"),
            ({"queues": ["no_such_queue"]}, "queues"),
            ({"languages": ["fr"]}, "languages"),
            ({"password": "short"}, "password"),
        ],
    )
    def test_bad_values_422_with_the_field(
        self, anonymous_client: TestClient, staff, overrides: dict, field: str
    ) -> None:
        admin = staff("root.admin")
        response = create(anonymous_client, admin, **overrides)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == field
        assert all(
            r["username"] != "li.na"
            for r in anonymous_client.get("/api/v1/admin/staff", headers=admin).json()
        )

    def test_malformed_payloads_422(self, anonymous_client: TestClient, staff) -> None:
        admin = staff("root.admin")
        assert create(anonymous_client, admin, capacity=99).status_code == 422
        assert create(anonymous_client, admin, role="owner").status_code == 422
        patch = anonymous_client.patch(
            "/api/v1/admin/staff/wang.fang", json={"capacity": 3}, headers=admin
        )
        assert patch.status_code == 422  # no version

    def test_edit_skills_and_a_stale_edit_409(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        admin = staff("root.admin")
        version = account(anonymous_client, admin, "wang.fang")["version"]
        first = anonymous_client.patch(
            "/api/v1/admin/staff/wang.fang",
            json={
                "version": version,
                "queues": ["billing", "technical_support"],
                "languages": ["en"],
                "capacity": 2,
                "display_name": "Wang Fang (lead)",
            },
            headers=admin,
        )
        assert first.status_code == 200, first.text
        staff_row = first.json()["staff"]
        assert staff_row["queues"] == ["billing", "technical_support"]
        assert (staff_row["languages"], staff_row["capacity"]) == (["en"], 2)
        assert staff_row["version"] == version + 1
        stale = anonymous_client.patch(
            "/api/v1/admin/staff/wang.fang",
            json={"version": version, "capacity": 9},
            headers=admin,
        )
        assert stale.status_code == 409
        assert stale.json()["error"]["code"] == "version_conflict"
        assert account(anonymous_client, admin, "wang.fang")["capacity"] == 2
        entry = audit_actions(session)[-1]
        assert entry.action == "staff_edited"
        assert sorted(entry.details["fields"]) == [
            "capacity",
            "display_name",
            "languages",
            "queues",
        ]
        assert "Wang Fang (lead)" not in str(entry.details) + str(entry.field)

    def test_unknown_account_404(self, anonymous_client: TestClient, staff) -> None:
        admin = staff("root.admin")
        for response in (
            anonymous_client.patch(
                "/api/v1/admin/staff/nobody", json={"version": 1}, headers=admin
            ),
            anonymous_client.post(
                "/api/v1/admin/staff/nobody/deactivate", json={"version": 1}, headers=admin
            ),
        ):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "staff_not_found"


class TestLastAdmin:
    def test_the_last_admin_is_neither_demoted_nor_deactivated(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        admin = staff("root.admin")
        make_staff(session, "second.admin", role="admin", presence="offline")
        second = account(anonymous_client, admin, "second.admin")
        response = anonymous_client.post(
            "/api/v1/admin/staff/second.admin/deactivate",
            json={"version": second["version"]},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        root = account(anonymous_client, admin, "root.admin")
        demote = anonymous_client.patch(
            "/api/v1/admin/staff/root.admin",
            json={"version": root["version"], "role": "supervisor"},
            headers=admin,
        )
        assert demote.status_code == 409
        assert demote.json()["error"]["code"] == "last_admin"
        own = anonymous_client.post(
            "/api/v1/admin/staff/root.admin/deactivate",
            json={"version": root["version"]},
            headers=admin,
        )
        assert own.status_code == 409
        assert account(anonymous_client, admin, "root.admin")["role"] == "admin"


class TestDeactivation:
    def _ticket(self, client: TestClient, sender: str) -> str:
        response = client.post(
            "/api/v1/tickets",
            json=ticket_payload(customer={"external_id": sender}),
        )
        assert response.status_code == 201, response.text
        return response.json()["number"]

    def test_tickets_go_to_another_agent_and_the_token_stops(
        self, anonymous_client: TestClient, client: TestClient, staff, session: Session
    ) -> None:
        wang = staff("wang.fang")
        number = self._ticket(client, "customer-1")
        admin = staff("root.admin")
        assert (
            anonymous_client.get(f"/api/v1/tickets/{number}", headers=admin).json()["assignee"]
            == "wang.fang"
        )
        make_staff(session, "li.na", queues=["technical_support"], presence="online")
        version = account(anonymous_client, admin, "wang.fang")["version"]
        response = anonymous_client.post(
            "/api/v1/admin/staff/wang.fang/deactivate",
            json={"version": version},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        assert response.json()["reassigned"] == {number: "li.na"}
        assert response.json()["staff"]["active"] is False
        ticket = anonymous_client.get(f"/api/v1/tickets/{number}", headers=admin).json()
        assert (ticket["assignee"], ticket["status"]) == ("li.na", "open")
        assert anonymous_client.get("/api/v1/tickets", headers=wang).status_code == 401
        entry = audit_actions(session)[-1]
        assert (entry.action, entry.details) == ("staff_deactivated", {"tickets_moved": 1})

    def test_with_nobody_free_tickets_wait_unassigned(
        self, anonymous_client: TestClient, client: TestClient, staff
    ) -> None:
        number = self._ticket(client, "customer-2")
        admin = staff("root.admin")
        version = account(anonymous_client, admin, "wang.fang")["version"]
        response = anonymous_client.post(
            "/api/v1/admin/staff/wang.fang/deactivate",
            json={"version": version},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        assert response.json()["reassigned"] == {number: None}
        ticket = anonymous_client.get(f"/api/v1/tickets/{number}", headers=admin).json()
        assert (ticket["assignee"], ticket["status"]) == (None, "new")

    def test_to_a_named_agent_who_must_work_the_queue(
        self, anonymous_client: TestClient, client: TestClient, staff, session: Session
    ) -> None:
        number = self._ticket(client, "customer-3")
        make_staff(session, "billing.only", queues=["billing"], presence="offline")
        make_staff(session, "tech.two", queues=["technical_support"], presence="offline")
        admin = staff("root.admin")
        version = account(anonymous_client, admin, "wang.fang")["version"]
        wrong = anonymous_client.post(
            "/api/v1/admin/staff/wang.fang/deactivate",
            json={"version": version, "reassign_to": "billing.only"},
            headers=admin,
        )
        assert wrong.status_code == 422
        assert wrong.json()["error"]["details"][0]["field"] == "reassign_to"
        assert account(anonymous_client, admin, "wang.fang")["active"] is True  # nothing changed
        right = anonymous_client.post(
            "/api/v1/admin/staff/wang.fang/deactivate",
            json={"version": version, "reassign_to": "tech.two"},
            headers=admin,
        )
        assert right.status_code == 200, right.text
        assert right.json()["reassigned"] == {number: "tech.two"}

    def test_reactivate_and_reset_password(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        boss = staff("zhao.min")
        version = account(anonymous_client, boss, "wang.fang")["version"]
        off = anonymous_client.post(
            "/api/v1/admin/staff/wang.fang/deactivate", json={"version": version}, headers=boss
        )
        assert off.status_code == 200
        on = anonymous_client.post(
            "/api/v1/admin/staff/wang.fang/reactivate",
            json={"version": off.json()["staff"]["version"]},
            headers=boss,
        )
        assert on.status_code == 200 and on.json()["active"] is True
        reset = anonymous_client.post(
            "/api/v1/admin/staff/wang.fang/password",
            json={"version": on.json()["version"], "password": TEMPORARY},
            headers=boss,
        )
        assert reset.status_code == 200 and reset.json()["must_change_password"] is True
        old = anonymous_client.post(
            "/api/v1/auth/login", json={"username": "wang.fang", "password": STAFF_PASSWORD}
        )
        assert old.status_code == 401
        temporary = login(anonymous_client, "wang.fang", TEMPORARY)
        assert anonymous_client.get("/api/v1/agents", headers=temporary).status_code == 403
        actions = [e.action for e in audit_actions(session)]
        assert actions[-3:] == ["staff_deactivated", "staff_reactivated", "staff_password_reset"]
        assert all(TEMPORARY not in str(e.details) for e in audit_actions(session))
