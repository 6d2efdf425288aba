"""Agents and supervisors working tickets over HTTP: lists, edits, thread, claims, ratings."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload

StaffClient = Callable[[str], dict[str, str]]


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session) -> StaffClient:
    """Log a staff member in (creating the demo-like accounts) and return auth headers.

    Everyone is offline, so new tickets wait in their queues instead of being assigned.
    """
    make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
    make_staff(session, "li.na", queues=["technical_support", "complaints"], presence="offline")
    make_staff(session, "sam.taylor", queues=["billing"], presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")

    def headers(username: str) -> dict[str, str]:
        response = anonymous_client.post(
            "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


def open_ticket(client: TestClient, **overrides: object) -> dict:
    response = client.post("/api/v1/tickets", json=ticket_payload(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


class TestListAndVisibility:
    def test_agents_see_their_queues_supervisors_see_all(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        tech = open_ticket(client)
        bill = open_ticket(client, category="billing", customer={"external_id": "other"})

        as_wang = anonymous_client.get("/api/v1/tickets", headers=staff("wang.fang")).json()
        assert [t["number"] for t in as_wang["items"]] == [tech["number"]]
        assert as_wang["total"] == 1

        as_boss = anonymous_client.get("/api/v1/tickets", headers=staff("zhao.min")).json()
        assert {t["number"] for t in as_boss["items"]} == {tech["number"], bill["number"]}

        hidden = anonymous_client.get(
            f"/api/v1/tickets/{bill['number']}", headers=staff("wang.fang")
        )
        assert hidden.status_code == 404

    def test_filters_sort_and_pages(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        numbers = [
            open_ticket(client, customer={"external_id": f"c{i}"})["number"] for i in range(3)
        ]
        urgent = open_ticket(client, urgency="urgent", customer={"external_id": "u"})["number"]
        boss = staff("zhao.min")
        page = anonymous_client.get(
            "/api/v1/tickets?sort=-priority&limit=2&offset=0", headers=boss
        ).json()
        assert page["total"] == 4 and len(page["items"]) == 2
        assert page["items"][0]["number"] == urgent
        oldest = anonymous_client.get(
            "/api/v1/tickets?sort=created_at&limit=1&priority=normal", headers=boss
        ).json()
        assert oldest["items"][0]["number"] == numbers[0]
        unassigned = anonymous_client.get("/api/v1/tickets?assignee=none&status=new", headers=boss)
        assert unassigned.json()["total"] == 4

    def test_unknown_sort_is_422_naming_the_field(
        self, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        response = anonymous_client.get("/api/v1/tickets?sort=password", headers=staff("zhao.min"))
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "sort"

    def test_bad_filter_value_is_422(
        self, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        response = anonymous_client.get("/api/v1/tickets?status=lost", headers=staff("zhao.min"))
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "status.0"

    def test_the_bot_lists_its_conversations_customer_only(self, client) -> None:
        ticket = open_ticket(client)
        other = open_ticket(client, customer={"external_id": "other"})
        mine = client.get("/api/v1/tickets").json()
        assert [t["number"] for t in mine["items"]] == [ticket["number"]]
        asking_for_other = client.get(f"/api/v1/tickets?customer_id={other['customer_id']}")
        assert asking_for_other.json()["total"] == 0
        client.conversation = ("rest", "never-seen")
        assert client.get("/api/v1/tickets").json()["total"] == 0


class TestEdit:
    def test_stale_version_is_409_and_changes_nothing(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        wang = staff("wang.fang")
        first = anonymous_client.patch(
            f"/api/v1/tickets/{number}", json={"version": 1, "priority": "high"}, headers=wang
        )
        assert first.status_code == 200 and first.json()["version"] == 2
        stale = anonymous_client.patch(
            f"/api/v1/tickets/{number}", json={"version": 1, "priority": "low"}, headers=wang
        )
        assert stale.status_code == 409
        assert stale.json()["error"]["code"] == "version_conflict"
        assert client.get(f"/api/v1/tickets/{number}").json()["priority"] == "high"

    def test_forbidden_transition_is_409_with_the_allowed_ones(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        wang = staff("wang.fang")
        closed = anonymous_client.patch(
            f"/api/v1/tickets/{number}", json={"version": 1, "status": "closed"}, headers=wang
        )
        assert closed.status_code == 200
        reopen = anonymous_client.patch(
            f"/api/v1/tickets/{number}", json={"version": 2, "status": "open"}, headers=wang
        )
        assert reopen.status_code == 409
        assert reopen.json()["error"]["code"] == "invalid_transition"

    def test_moving_queue_leaves_it_unassigned_and_history_says_so(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        boss = staff("zhao.min")
        moved = anonymous_client.patch(
            f"/api/v1/tickets/{number}", json={"version": 1, "queue": "billing"}, headers=boss
        )
        assert moved.json()["queue"] == "billing"
        history = anonymous_client.get(f"/api/v1/tickets/{number}/history", headers=boss).json()
        assert {"field": "queue_id", "actor": "staff:zhao.min"}.items() <= history[-1].items()

    @pytest.mark.parametrize(
        "body",
        [
            {"priority": "high"},
            {"version": 1, "priority": "whenever"},
            {"version": 1, "owner": "x"},
            {"version": 0},
        ],
    )
    def test_malformed_edits_are_422(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient, body: dict
    ) -> None:
        number = open_ticket(client)["number"]
        response = anonymous_client.patch(
            f"/api/v1/tickets/{number}", json=body, headers=staff("wang.fang")
        )
        assert response.status_code == 422

    def test_unknown_queue_is_422(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        response = anonymous_client.patch(
            f"/api/v1/tickets/{number}",
            json={"version": 1, "queue": "nowhere"},
            headers=staff("zhao.min"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "queue"


class TestThreadOverHttp:
    def test_reply_and_note_the_bot_sees_only_the_reply(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        wang = staff("wang.fang")
        reply = anonymous_client.post(
            f"/api/v1/tickets/{number}/messages",
            json={"body": "Please restart the router."},
            headers=wang,
        )
        assert reply.status_code == 201
        assert reply.json()["first_responded_at"] is not None
        anonymous_client.post(
            f"/api/v1/tickets/{number}/messages",
            json={"body": "VIP, be quick", "public": False},
            headers=wang,
        )
        as_bot = [m["body"] for m in client.get(f"/api/v1/tickets/{number}").json()["messages"]]
        assert "Please restart the router." in as_bot and "VIP, be quick" not in as_bot

    def test_the_bot_relays_the_customer(self, client: TestClient) -> None:
        number = open_ticket(client)["number"]
        posted = client.post(f"/api/v1/tickets/{number}/messages", json={"body": "还是不行"})
        assert posted.status_code == 201
        assert posted.json()["messages"][-1]["author_type"] == "customer"
        note = client.post(
            f"/api/v1/tickets/{number}/messages", json={"body": "x", "public": False}
        )
        assert note.status_code == 403

    def test_empty_message_is_422_unknown_ticket_404(self, client: TestClient) -> None:
        number = open_ticket(client)["number"]
        assert (
            client.post(f"/api/v1/tickets/{number}/messages", json={"body": "  "}).status_code
            == 422
        )
        missing = client.post("/api/v1/tickets/SD-999999/messages", json={"body": "hi"})
        assert missing.status_code == 404


class TestClaimAndEscalate:
    def test_first_claim_wins_second_is_told_who_holds_it(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        won = anonymous_client.post(f"/api/v1/tickets/{number}/claim", headers=staff("wang.fang"))
        assert won.status_code == 200
        assert (won.json()["assignee"], won.json()["status"]) == ("wang.fang", "open")
        lost = anonymous_client.post(f"/api/v1/tickets/{number}/claim", headers=staff("li.na"))
        assert lost.status_code == 409
        assert lost.json()["error"]["code"] == "already_claimed"
        assert "wang.fang" in lost.json()["error"]["message"]
        # Named in details too, so a console can say it in its own language.
        assert lost.json()["error"]["details"] == {"holder": "wang.fang"}

    def test_agents_claim_only_in_their_queues(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        response = anonymous_client.post(
            f"/api/v1/tickets/{number}/claim", headers=staff("sam.taylor")
        )
        assert response.status_code == 404  # not a queue sam works: he cannot see it

    def test_the_bot_cannot_claim(self, client: TestClient) -> None:
        number = open_ticket(client)["number"]
        assert client.post(f"/api/v1/tickets/{number}/claim").status_code == 403

    def test_customer_escalation_through_the_bot(self, client: TestClient) -> None:
        number = open_ticket(client)["number"]
        response = client.post(
            f"/api/v1/tickets/{number}/escalate",
            json={"reason": "wants a human", "source": "agent"},
        )
        body = response.json()
        assert (body["status"], body["escalation_level"], body["priority"]) == (
            "escalated",
            1,
            "high",
        )
        assert body["escalation_reason"] == "customer: wants a human"

    def test_escalation_hands_the_transcript_to_the_agents(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        client.post(
            f"/api/v1/tickets/{number}/escalate",
            json={
                "reason": "asked for a person",
                "transcript": [
                    {"author_type": "customer", "body": "我要找人工"},
                    {"author_type": "bot", "body": "好的，正在为您转接人工客服。"},
                ],
            },
        )
        as_agent = anonymous_client.get(f"/api/v1/tickets/{number}", headers=staff("wang.fang"))
        bodies = [(m["author_type"], m["body"], m["public"]) for m in as_agent.json()["messages"]]
        assert ("customer", "我要找人工", False) in bodies
        assert ("bot", "好的，正在为您转接人工客服。", False) in bodies
        as_bot = [m["body"] for m in client.get(f"/api/v1/tickets/{number}").json()["messages"]]
        assert "我要找人工" not in as_bot
        assert client.post(f"/api/v1/tickets/{number}/escalate", json={}).status_code == 422


class TestRatingOverHttp:
    def test_rating_only_once_and_only_when_resolved(
        self, client: TestClient, anonymous_client: TestClient, staff: StaffClient
    ) -> None:
        number = open_ticket(client)["number"]
        early = client.post(f"/api/v1/tickets/{number}/rating", json={"score": 5})
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_resolved"
        anonymous_client.patch(
            f"/api/v1/tickets/{number}",
            json={"version": 1, "status": "resolved"},
            headers=staff("wang.fang"),
        )
        first = client.post(f"/api/v1/tickets/{number}/rating", json={"score": 5, "comment": "快"})
        assert first.status_code == 201 and first.json()["score"] == 5
        again = client.post(f"/api/v1/tickets/{number}/rating", json={"score": 1})
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
        assert client.post(f"/api/v1/tickets/{number}/rating", json={"score": 9}).status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/tickets"),
        ("PATCH", "/api/v1/tickets/SD-100001"),
        ("GET", "/api/v1/tickets/SD-100001/history"),
        ("POST", "/api/v1/tickets/SD-100001/messages"),
        ("POST", "/api/v1/tickets/SD-100001/claim"),
        ("POST", "/api/v1/tickets/SD-100001/escalate"),
        ("POST", "/api/v1/tickets/SD-100001/rating"),
    ],
)
def test_new_routes_need_a_token(anonymous_client: TestClient, method: str, path: str) -> None:
    assert anonymous_client.request(method, path, json={}).status_code == 401
