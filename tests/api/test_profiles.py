"""The profile store over HTTP: disclosure by role, reveal, edits, merge, erasure, audit."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload


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


def new_customer(client: TestClient, sender: str = "sender-123", **customer: object) -> int:
    body = ticket_payload(customer={"external_id": sender, "display_name": "李雷", **customer})
    return client.post("/api/v1/tickets", json=body).json()["customer_id"]


class TestView:
    def test_agent_sees_masks_supervisor_sees_contacts(
        self, client: TestClient, anonymous_client: TestClient, staff
    ) -> None:
        customer_id = new_customer(client)
        as_agent = anonymous_client.get(
            f"/api/v1/customers/{customer_id}", headers=staff("wang.fang")
        )
        assert as_agent.status_code == 200
        body = as_agent.json()
        assert (body["phone"], body["name"], body["shown_in_clear"]) == ("138****8000", "李*", [])
        assert body["tickets"][0]["number"] == "SD-100001"
        assert body["identities"][0]["kind"] == "rest"
        as_boss = anonymous_client.get(
            f"/api/v1/customers/{customer_id}", headers=staff("zhao.min")
        )
        assert as_boss.json()["phone"] == "+8613800138000"

    def test_the_bot_has_no_360_view(self, client: TestClient) -> None:
        customer_id = new_customer(client)
        assert client.get(f"/api/v1/customers/{customer_id}").status_code == 403

    def test_unknown_customer_is_404_bad_id_422(self, anonymous_client: TestClient, staff) -> None:
        boss = staff("zhao.min")
        assert anonymous_client.get("/api/v1/customers/999", headers=boss).status_code == 404
        assert anonymous_client.get("/api/v1/customers/0", headers=boss).status_code == 422
        assert anonymous_client.get("/api/v1/customers/999").status_code == 401


class TestRevealAndAudit:
    def test_reveal_is_audited_and_the_audit_is_admin_only_and_read_only(
        self, client: TestClient, anonymous_client: TestClient, staff
    ) -> None:
        customer_id = new_customer(client)
        path = f"/api/v1/customers/{customer_id}/reveal"
        agent = staff("wang.fang")
        no_reason = anonymous_client.post(
            path, json={"field": "phone", "reason": ""}, headers=agent
        )
        assert no_reason.status_code == 422
        revealed = anonymous_client.post(
            path,
            json={
                "field": "phone",
                "reason_code": "callback",
                "reason": "calling back about the outage",
            },
            headers=agent,
        )
        assert revealed.json() == {"field": "phone", "value": "+8613800138000"}
        admin = staff("admin")
        assert anonymous_client.get("/api/v1/audit", headers=agent).status_code == 403
        log = anonymous_client.get(f"/api/v1/audit?customer_id={customer_id}", headers=admin).json()
        assert [(e["actor"], e["action"], e["field"]) for e in log] == [
            ("staff:wang.fang", "reveal", "phone")
        ]
        for method in ("PUT", "PATCH", "DELETE"):
            assert (
                anonymous_client.request(method, "/api/v1/audit", headers=admin).status_code == 405
            )


class TestEditsOverHttp:
    def test_profile_edit_and_tags(
        self, client: TestClient, anonymous_client: TestClient, staff
    ) -> None:
        customer_id = new_customer(client)
        agent = staff("wang.fang")
        edited = anonymous_client.patch(
            f"/api/v1/customers/{customer_id}",
            json={
                "language": "en",
                "contact_preferences": {"channels": ["wechat"], "quiet_hours": ["22:00", "08:00"]},
            },
            headers=agent,
        )
        assert edited.status_code == 200
        assert edited.json()["contact_preferences"]["quiet_hours"] == ["22:00", "08:00"]
        bad = anonymous_client.patch(
            f"/api/v1/customers/{customer_id}", json={"id_number": "123"}, headers=agent
        )
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "id_number"
        tags = anonymous_client.put(
            f"/api/v1/customers/{customer_id}/tags", json={"tags": ["vip"]}, headers=agent
        )
        assert tags.json() == ["vip"]

    def test_search_by_contact_in_the_body(
        self, client: TestClient, anonymous_client: TestClient, staff
    ) -> None:
        customer_id = new_customer(client)
        found = anonymous_client.post(
            "/api/v1/customers/search", json={"phone": "138 0013 8000"}, headers=staff("wang.fang")
        )
        assert found.json() == [{"id": customer_id, "language": "zh"}]
        none = anonymous_client.post(
            "/api/v1/customers/search",
            json={"email": "nobody@example.com"},
            headers=staff("wang.fang"),
        )
        assert none.json() == []


class TestMergeAndErase:
    def test_merge_is_for_supervisors_erase_for_admins(
        self, client: TestClient, anonymous_client: TestClient, staff
    ) -> None:
        a = new_customer(client, "a")
        b = new_customer(client, "b", phone="13900001111")
        merge = f"/api/v1/customers/{a}/merge"
        assert (
            anonymous_client.post(
                merge, json={"other_id": b}, headers=staff("wang.fang")
            ).status_code
            == 403
        )
        merged = anonymous_client.post(merge, json={"other_id": b}, headers=staff("zhao.min"))
        assert merged.status_code == 200 and len(merged.json()["tickets"]) == 2
        again = anonymous_client.post(merge, json={"other_id": b}, headers=staff("zhao.min"))
        assert again.status_code == 409

        erase = f"/api/v1/customers/{a}/erase"
        assert (
            anonymous_client.post(
                erase, json={"reason": "PIPL #1"}, headers=staff("zhao.min")
            ).status_code
            == 403
        )
        erased = anonymous_client.post(
            erase, json={"reason": "PIPL request #1"}, headers=staff("admin")
        )
        assert erased.status_code == 200
        assert erased.json()["erased"] is True and erased.json()["identities"] == []
        assert (
            anonymous_client.post(
                erase, json={"reason": "again, please"}, headers=staff("admin")
            ).status_code
            == 409
        )
