"""Issue 22, the API side: each attack the probe found, sent over HTTP, and refused.

Staff see a customer only through the tickets they may see (queues they work, tickets
assigned to them; supervisors and admins everything); what they may not see is 404 like
what does not exist; every view and every refused attempt is audited without values.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload
from tests.support_service.fixtures import BotClient
from ticketing.models import AuditEntry, Ticket

Headers = Callable[[str], dict[str, str]]
CUSTOMERS = "/api/v1/customers"
B_PHONE = "13900001111"


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session) -> Headers:
    """wang.fang works technical support, sam.taylor billing; everyone offline."""
    make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
    make_staff(session, "sam.taylor", queues=["billing"], presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    make_staff(session, "admin", role="admin", presence="offline")

    def headers(username: str) -> dict[str, str]:
        response = anonymous_client.post(
            "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


def open_ticket(client: TestClient, sender: str, **overrides: object) -> dict:
    customer = {"external_id": sender, "display_name": "李雷", **overrides.pop("customer", {})}  # type: ignore[dict-item]
    response = client.post("/api/v1/tickets", json=ticket_payload(customer=customer, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def tech_customer(client: TestClient) -> int:
    """A customer with a technical-support ticket (wang.fang's queue)."""
    return int(open_ticket(client, "a")["customer_id"])


@pytest.fixture
def billing_customer(client: TestClient) -> int:
    """A customer with only a billing ticket (not wang.fang's queue), and a phone number."""
    ticket = open_ticket(
        client,
        "b",
        category="billing",
        description="账单多扣了50元",
        customer={"phone": B_PHONE},
    )
    return int(ticket["customer_id"])


def audit_log(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


class TestCustomerPageAccess:
    def test_an_agent_cannot_open_a_customer_of_another_queue(
        self, anonymous_client: TestClient, staff: Headers, billing_customer: int
    ) -> None:
        hidden = anonymous_client.get(f"{CUSTOMERS}/{billing_customer}", headers=staff("wang.fang"))
        missing = anonymous_client.get(f"{CUSTOMERS}/999999", headers=staff("wang.fang"))
        # Not 403: a hidden customer answers exactly like one that does not exist.
        assert (hidden.status_code, missing.status_code) == (404, 404)
        assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]
        assert hidden.json()["error"]["code"] == "customer_not_found"
        assert "账单" not in hidden.text and B_PHONE not in hidden.text
        for who in ("sam.taylor", "zhao.min", "admin"):
            shown = anonymous_client.get(f"{CUSTOMERS}/{billing_customer}", headers=staff(who))
            assert shown.status_code == 200, who

    def test_sequential_ids_enumerate_nothing(
        self,
        anonymous_client: TestClient,
        staff: Headers,
        tech_customer: int,
        billing_customer: int,
        client: TestClient,
    ) -> None:
        other = int(open_ticket(client, "c", category="complaints")["customer_id"])
        agent = staff("wang.fang")
        seen = {
            customer_id
            for customer_id in range(1, max(tech_customer, billing_customer, other) + 3)
            if anonymous_client.get(f"{CUSTOMERS}/{customer_id}", headers=agent).status_code == 200
        }
        assert seen == {tech_customer}

    def test_the_page_shows_only_the_tickets_the_agent_may_see(
        self, client: TestClient, anonymous_client: TestClient, staff: Headers, tech_customer: int
    ) -> None:
        billing = open_ticket(
            client, "a", category="billing", description="上个月账单多扣了50元，请退款"
        )
        assert billing["customer_id"] == tech_customer
        as_agent = anonymous_client.get(
            f"{CUSTOMERS}/{tech_customer}", headers=staff("wang.fang")
        ).json()
        assert [t["queue"] for t in as_agent["tickets"]] == ["technical_support"]
        bodies = {m["body"] for m in as_agent["recent_messages"]}
        assert "我的宽带从昨天开始就连不上了" in bodies
        assert "上个月账单多扣了50元，请退款" not in bodies
        as_boss = anonymous_client.get(
            f"{CUSTOMERS}/{tech_customer}", headers=staff("zhao.min")
        ).json()
        assert sorted(t["queue"] for t in as_boss["tickets"]) == ["billing", "technical_support"]
        assert "上个月账单多扣了50元，请退款" in {m["body"] for m in as_boss["recent_messages"]}

    def test_a_ticket_assigned_to_the_agent_opens_its_customer(
        self, anonymous_client: TestClient, staff: Headers, billing_customer: int, session: Session
    ) -> None:
        agent = staff("wang.fang")
        assert (
            anonymous_client.get(f"{CUSTOMERS}/{billing_customer}", headers=agent).status_code
            == 404
        )
        from ticketing.models import Agent

        wang = session.scalar(select(Agent).where(Agent.username == "wang.fang"))
        ticket = session.scalar(select(Ticket).where(Ticket.customer_id == billing_customer))
        assert wang is not None and ticket is not None
        ticket.assignee_id = wang.id
        session.commit()
        page = anonymous_client.get(f"{CUSTOMERS}/{billing_customer}", headers=agent)
        assert page.status_code == 200
        assert [t["queue"] for t in page.json()["tickets"]] == ["billing"]

    def test_every_view_is_audited_masked_too_without_personal_data(
        self,
        anonymous_client: TestClient,
        staff: Headers,
        tech_customer: int,
        billing_customer: int,
        session: Session,
    ) -> None:
        anonymous_client.get(f"{CUSTOMERS}/{tech_customer}", headers=staff("wang.fang"))
        anonymous_client.get(f"{CUSTOMERS}/{billing_customer}", headers=staff("wang.fang"))
        anonymous_client.get(f"{CUSTOMERS}/{billing_customer}", headers=staff("zhao.min"))
        entries = [
            (e.actor, e.action, e.customer_id, e.details)
            for e in audit_log(session)
            if e.action in ("view", "denied")
        ]
        assert entries == [
            ("staff:wang.fang", "view", tech_customer, {"fields": []}),
            ("staff:wang.fang", "denied", billing_customer, {"attempt": "view"}),
            ("staff:zhao.min", "view", billing_customer, {"fields": ["phone", "name"]}),
        ]
        dumped = json.dumps(
            [(e.field, e.reason, e.details) for e in audit_log(session)], ensure_ascii=False
        )
        assert B_PHONE not in dumped and "李" not in dumped and "13800138000" not in dumped


class TestOtherCustomerRoutes:
    def test_an_agent_cannot_read_or_change_a_customer_of_another_queue(
        self,
        anonymous_client: TestClient,
        staff: Headers,
        billing_customer: int,
    ) -> None:
        agent = staff("wang.fang")
        path = f"{CUSTOMERS}/{billing_customer}"
        attempts = [
            anonymous_client.patch(path, json={"language": "en"}, headers=agent),
            anonymous_client.put(f"{path}/tags", json={"tags": ["churn_risk"]}, headers=agent),
            anonymous_client.post(
                f"{path}/identities",
                json={"kind": "email", "value": "x@example.com"},
                headers=agent,
            ),
            anonymous_client.post(
                f"{path}/reveal",
                json={
                    "field": "phone",
                    "reason_code": "callback",
                    "reason": "customer asked for a call back",
                },
                headers=agent,
            ),
            anonymous_client.get(
                f"{CUSTOMERS}/by-identity",
                params={"channel": "rest", "external_id": "b"},
                headers=agent,
            ),
        ]
        assert [(r.status_code, r.json()["error"]["code"]) for r in attempts] == [
            (404, "customer_not_found")
        ] * len(attempts)
        assert B_PHONE not in "".join(r.text for r in attempts)
        # Nothing changed.
        page = anonymous_client.get(path, headers=staff("zhao.min")).json()
        assert (page["language"], page["tags"]) == ("zh", [])
        assert [i["kind"] for i in page["identities"]] == ["rest", "phone"]

    def test_search_finds_only_customers_the_agent_may_see(
        self,
        anonymous_client: TestClient,
        staff: Headers,
        billing_customer: int,
        session: Session,
    ) -> None:
        search = f"{CUSTOMERS}/search"
        assert (
            anonymous_client.post(
                search, json={"phone": B_PHONE}, headers=staff("wang.fang")
            ).json()
            == []
        )
        assert anonymous_client.post(
            search, json={"phone": B_PHONE}, headers=staff("sam.taylor")
        ).json() == [{"id": billing_customer, "language": "zh"}]
        assert [(e.actor, e.action, e.details) for e in audit_log(session)] == [
            ("staff:wang.fang", "denied", {"attempt": "search"}),
            ("staff:sam.taylor", "search", {}),
        ]

    def test_supervisors_change_any_customer(
        self, anonymous_client: TestClient, staff: Headers, billing_customer: int
    ) -> None:
        edited = anonymous_client.put(
            f"{CUSTOMERS}/{billing_customer}/tags",
            json={"tags": ["vip"]},
            headers=staff("zhao.min"),
        )
        assert edited.status_code == 200 and edited.json() == ["vip"]


class TestVerificationIsTheChannels:
    def test_staff_cannot_claim_a_verified_contact_on_a_new_ticket(
        self, anonymous_client: TestClient, staff: Headers, billing_customer: int, session: Session
    ) -> None:
        # The attack: a typed-in phone, "verified", links the new identity to its owner.
        body = ticket_payload(
            customer={"channel": "phone", "external_id": B_PHONE, "contact_verified": True}
        )
        for who in ("wang.fang", "zhao.min", "admin"):
            refused = anonymous_client.post("/api/v1/tickets", json=body, headers=staff(who))
            assert refused.status_code == 403, who
            error = refused.json()["error"]
            assert error["code"] == "channel_verification_only"
            assert error["details"][0]["field"] == "customer.contact_verified"
        session.expire_all()
        assert session.scalar(select(Ticket).where(Ticket.customer_id != billing_customer)) is None

    def test_staff_may_open_a_ticket_with_an_unverified_contact(
        self, anonymous_client: TestClient, staff: Headers
    ) -> None:
        body = ticket_payload(customer={"channel": "phone", "external_id": "13700001234"})
        assert (
            anonymous_client.post(
                "/api/v1/tickets", json=body, headers=staff("wang.fang")
            ).status_code
            == 201
        )

    def test_the_bot_still_passes_on_what_its_channel_proved(self, client: BotClient) -> None:
        body = ticket_payload(
            customer={
                "channel": "voice",
                "external_id": "call-1",
                "phone": B_PHONE,
                "contact_verified": True,
            },
            channel="voice",
        )
        assert client.post("/api/v1/tickets", json=body).status_code == 201

    def test_staff_cannot_add_a_verified_identity(
        self, anonymous_client: TestClient, staff: Headers, tech_customer: int
    ) -> None:
        for who in ("wang.fang", "zhao.min"):
            refused = anonymous_client.post(
                f"{CUSTOMERS}/{tech_customer}/identities",
                json={"kind": "phone", "value": "13700009999", "verified": True},
                headers=staff(who),
            )
            assert refused.status_code == 403, who
            assert refused.json()["error"]["code"] == "channel_verification_only"
            assert refused.json()["error"]["details"][0]["field"] == "verified"
        added = anonymous_client.post(
            f"{CUSTOMERS}/{tech_customer}/identities",
            json={"kind": "phone", "value": "13700009999"},
            headers=staff("wang.fang"),
        )
        assert added.status_code == 201
        assert {"kind": "phone", "value": "137****9999", "verified": False} in added.json()[
            "identities"
        ]

    def test_someone_elses_phone_is_409_without_the_owner_and_audited(
        self,
        anonymous_client: TestClient,
        staff: Headers,
        tech_customer: int,
        billing_customer: int,
        session: Session,
    ) -> None:
        refused = anonymous_client.post(
            f"{CUSTOMERS}/{tech_customer}/identities",
            json={"kind": "phone", "value": B_PHONE},
            headers=staff("wang.fang"),
        )
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "identity_taken" and error["details"] is None
        assert str(billing_customer) not in refused.text
        # The request rolled back, yet the attempt is on record (kind only, no number).
        entries = [
            (e.actor, e.action, e.customer_id, e.field)
            for e in audit_log(session)
            if e.action == "identity_taken"
        ]
        assert entries == [("staff:wang.fang", "identity_taken", tech_customer, "phone")]
        assert B_PHONE not in json.dumps([e.details for e in audit_log(session)])


class TestRatings:
    def test_staff_posting_a_rating_get_403(
        self, client: BotClient, anonymous_client: TestClient, staff: Headers, session: Session
    ) -> None:
        number = open_ticket(client, "a")["number"]
        resolved = anonymous_client.patch(
            f"/api/v1/tickets/{number}",
            json={"version": 1, "status": "resolved"},
            headers=staff("wang.fang"),
        )
        assert resolved.status_code == 200
        for who in ("wang.fang", "zhao.min", "admin"):
            refused = anonymous_client.post(
                f"/api/v1/tickets/{number}/rating", json={"score": 5}, headers=staff(who)
            )
            assert refused.status_code == 403, who
            assert refused.json()["error"]["code"] == "forbidden"
        # The customer's own rating, through the bot, still counts.
        client.conversation = ("rest", "a")
        assert client.post(f"/api/v1/tickets/{number}/rating", json={"score": 4}).status_code == 201


class TestConversationChannels:
    @pytest.mark.parametrize(
        ("channel", "sender"),
        [("phone", B_PHONE), ("phone", "+86 139 0000 1111"), ("email", "b@example.com")],
    )
    def test_a_typed_contact_is_not_a_conversation(
        self, client: BotClient, billing_customer: int, channel: str, sender: str
    ) -> None:
        client.post(
            "/api/v1/tickets",
            json=ticket_payload(customer={"external_id": "b", "email": "b@example.com"}),
        )
        # The attack: the service token naming someone's phone or e-mail as its conversation.
        client.conversation = (channel, sender)
        for response in (
            client.get("/api/v1/tickets"),
            client.get(
                f"{CUSTOMERS}/by-identity", params={"channel": channel, "external_id": sender}
            ),
            client.get("/api/v1/tickets/SD-100001"),
        ):
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "conversation_required"
            assert "SD-100001" not in response.text

    @pytest.mark.parametrize("channel", ["rest", "web", "wechat", "voice"])
    def test_conversation_channels_are_accepted(self, client: BotClient, channel: str) -> None:
        client.conversation = (channel, "someone-new")
        response = client.get("/api/v1/tickets")
        assert response.status_code == 200 and response.json()["total"] == 0


class TestRevealReasons:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"reason": "customer asked for a call back"}, "reason_code"),
            (
                {"reason_code": "curiosity", "reason": "customer asked for a call back"},
                "reason_code",
            ),
            ({"reason_code": "callback", "reason": "xxxxx"}, "reason"),
            ({"reason_code": "callback", "reason": "aaaaaaaaaaaaaaaa"}, "reason"),
            ({"reason_code": "callback", "reason": "ab ab ab ab ab ab"}, "reason"),
            ({"reason_code": "callback", "reason": "1234567890123"}, "reason"),
            ({"reason_code": "callback", "reason": "回电回电"}, "reason"),
            ({"reason_code": "callback", "reason": "!!!!!......"}, "reason"),
        ],
    )
    def test_a_reveal_needs_a_code_and_a_reason_in_words(
        self,
        anonymous_client: TestClient,
        staff: Headers,
        tech_customer: int,
        session: Session,
        body: dict,
        field: str,
    ) -> None:
        refused = anonymous_client.post(
            f"{CUSTOMERS}/{tech_customer}/reveal",
            json={"field": "phone", **body},
            headers=staff("wang.fang"),
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["details"][0]["field"] == field
        assert [e for e in audit_log(session) if e.action == "reveal"] == []

    @pytest.mark.parametrize(
        ("code", "reason"),
        [("callback", "customer asked for a call back"), ("verification", "客户来电核实身份信息")],
    )
    def test_a_real_reason_reveals_and_is_audited_with_its_code(
        self,
        anonymous_client: TestClient,
        staff: Headers,
        tech_customer: int,
        session: Session,
        code: str,
        reason: str,
    ) -> None:
        revealed = anonymous_client.post(
            f"{CUSTOMERS}/{tech_customer}/reveal",
            json={"field": "phone", "reason_code": code, "reason": reason},
            headers=staff("wang.fang"),
        )
        assert revealed.json() == {"field": "phone", "value": "+8613800138000"}
        (entry,) = [e for e in audit_log(session) if e.action == "reveal"]
        assert (entry.reason, entry.details) == (reason, {"reason_code": code})
