"""The routing policy over HTTP: admins only, validated with the field, versioned, audited,
applied by every API worker without a restart."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.app import create_app
from tests.support_service.factories import (
    SERVICE_TOKEN,
    STAFF_PASSWORD,
    make_staff,
    ticket_payload,
)
from ticketing.models import AuditEntry
from ticketing.settings import Settings


def login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def admin(anonymous_client: TestClient, session: Session) -> dict[str, str]:
    make_staff(session, "root.admin", role="admin", presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    return login(anonymous_client, "root.admin")


def current(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/admin/routing", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def put(client: TestClient, headers: dict[str, str], policy: dict, version: int):
    return client.put(
        "/api/v1/admin/routing", json={"version": version, "policy": policy}, headers=headers
    )


def test_admins_only(anonymous_client: TestClient, admin: dict[str, str]) -> None:
    assert anonymous_client.get("/api/v1/admin/routing").status_code == 401
    boss = login(anonymous_client, "zhao.min")
    assert anonymous_client.get("/api/v1/admin/routing", headers=boss).status_code == 403
    assert put(anonymous_client, boss, {}, 0).status_code == 403


def test_the_packaged_policy_is_version_0(anonymous_client: TestClient, admin) -> None:
    found = current(anonymous_client, admin)
    assert found["version"] == 0 and found["updated_by"] is None
    assert found["policy"]["categories"]["billing"] == {"queue": "billing", "priority": "normal"}


@pytest.mark.parametrize(
    ("breaks", "field", "reason"),
    [
        (lambda p: p["categories"].pop("billing"), "policy.categories", "no route"),
        (
            lambda p: p["categories"]["billing"].update(queue="nowhere"),
            "policy.categories",
            "undefined queues",
        ),
        (lambda p: p["sla"].pop("urgent"), "policy.sla", "no SLA"),
        (
            lambda p: p["escalation"].append({"level": 3, "queue": "nowhere"}),
            "policy.escalation",
            "undefined queues",
        ),
        (
            lambda p: p.update(business_hours={"opens": "18:00", "closes": "09:00"}),
            "policy.business_hours",
            "open before",
        ),
        (lambda p: p["sla"]["high"].update(resolution="soon"), "policy.sla", "malformed"),
    ],
)
def test_an_invalid_policy_is_refused_with_the_field_and_changes_nothing(
    anonymous_client: TestClient, admin, session: Session, breaks, field: str, reason: str
) -> None:
    policy = copy.deepcopy(current(anonymous_client, admin)["policy"])
    breaks(policy)
    response = put(anonymous_client, admin, policy, 0)
    assert response.status_code == 422, response.text
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == field and reason in detail["message"]
    assert current(anonymous_client, admin)["version"] == 0
    assert session.scalars(select(AuditEntry)).all() == []


def test_a_stale_edit_409(anonymous_client: TestClient, admin) -> None:
    policy = current(anonymous_client, admin)["policy"]
    assert put(anonymous_client, admin, policy, 0).status_code == 200
    stale = put(anonymous_client, admin, policy, 0)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert current(anonymous_client, admin)["version"] == 1


def test_every_worker_applies_a_change_without_a_restart(
    anonymous_client: TestClient, admin, settings: Settings, session: Session
) -> None:
    # A second API worker on the same database, started before the change.
    with TestClient(create_app(settings)) as other_worker:
        bot = {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-Desk-Channel": "rest"}
        first = other_worker.post(
            "/api/v1/tickets",
            json=ticket_payload(category="billing", customer={"external_id": "c-1"}),
            headers={**bot, "X-Desk-Sender": "c-1"},
        )
        assert first.status_code == 201, first.text
        assert (first.json()["queue"], first.json()["priority"]) == ("billing", "normal")

        policy = copy.deepcopy(current(anonymous_client, admin)["policy"])
        policy["queues"]["vip_billing"] = {"name_en": "Billing (priority)", "name_zh": "优先账单"}
        policy["categories"]["billing"] = {"queue": "vip_billing", "priority": "high"}
        saved = put(anonymous_client, admin, policy, 0)
        assert saved.status_code == 200, saved.text
        assert (saved.json()["version"], saved.json()["updated_by"]) == (1, "staff:root.admin")

        second = other_worker.post(
            "/api/v1/tickets",
            json=ticket_payload(category="billing", customer={"external_id": "c-2"}),
            headers={**bot, "X-Desk-Sender": "c-2"},
        )
        assert second.status_code == 201, second.text
        assert (second.json()["queue"], second.json()["priority"]) == ("vip_billing", "high")
    queues = anonymous_client.get("/api/v1/queues", headers=admin).json()
    assert {"key": "vip_billing", "names": {"en": "Billing (priority)", "zh": "优先账单"}} in queues
    [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.details) == ("routing_policy_changed", {"version": 1})
