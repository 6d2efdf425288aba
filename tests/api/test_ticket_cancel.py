"""Cancelling a ticket over HTTP: the customer's own unfinished tickets, with a reason."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload

TICKETS = "/api/v1/tickets"


def open_ticket(client: TestClient, **overrides: object) -> str:
    response = client.post(TICKETS, json=ticket_payload(**overrides))
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


@pytest.fixture
def supervisor(anonymous_client: TestClient, session: Session) -> Callable[[], dict[str, str]]:
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    session.commit()

    def headers() -> dict[str, str]:
        response = anonymous_client.post(
            "/api/v1/auth/login", json={"username": "zhao.min", "password": STAFF_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


class TestCancelTicket:
    def test_the_bot_cancels_its_customers_ticket_with_the_reason_kept(
        self, client: TestClient, anonymous_client: TestClient, supervisor
    ) -> None:
        number = open_ticket(client)
        response = client.post(f"{TICKETS}/{number}/cancel", json={"reason": "网已经好了"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "closed" and body["closed_at"] is not None
        assert body["messages"][-1]["author_type"] == "system"
        assert body["messages"][-1]["body"] == "Cancelled by the customer: 网已经好了"

        history = anonymous_client.get(f"{TICKETS}/{number}/history", headers=supervisor()).json()
        changes = {(e["field"], e["new_value"]) for e in history}
        assert ("cancel_reason", "网已经好了") in changes
        assert ("status", "closed") in changes

    def test_a_finished_ticket_cannot_be_cancelled(
        self, client: TestClient, anonymous_client: TestClient, supervisor
    ) -> None:
        number = open_ticket(client)
        resolved = anonymous_client.patch(
            f"{TICKETS}/{number}", json={"version": 1, "status": "resolved"}, headers=supervisor()
        )
        assert resolved.status_code == 200, resolved.text
        response = client.post(f"{TICKETS}/{number}/cancel", json={"reason": "too late"})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "not_cancellable"
        assert client.get(f"{TICKETS}/{number}").json()["status"] == "resolved"

    def test_cancelling_twice_is_409(self, client: TestClient) -> None:
        number = open_ticket(client)
        assert client.post(f"{TICKETS}/{number}/cancel", json={"reason": "x"}).status_code == 200
        again = client.post(f"{TICKETS}/{number}/cancel", json={"reason": "x"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"

    def test_another_customers_ticket_is_404(self, client) -> None:
        number = open_ticket(client)
        client.conversation = ("rest", "a-stranger")
        response = client.post(f"{TICKETS}/{number}/cancel", json={"reason": "mine now"})
        assert response.status_code == 404
        client.conversation = ("rest", "sender-123")
        assert client.get(f"{TICKETS}/{number}").json()["status"] == "new"

    def test_unknown_number_is_404(self, client: TestClient) -> None:
        response = client.post(f"{TICKETS}/SD-999999/cancel", json={"reason": "x"})
        assert response.status_code == 404

    def test_no_reason_is_422(self, client: TestClient) -> None:
        number = open_ticket(client)
        for body in ({}, {"reason": "   "}, {"reason": "x" * 501}, {"reason": "x", "extra": 1}):
            response = client.post(f"{TICKETS}/{number}/cancel", json=body)
            assert response.status_code == 422, body
        assert client.get(f"{TICKETS}/{number}").json()["status"] == "new"

    def test_without_a_token_is_401(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.post(f"{TICKETS}/SD-100001/cancel", json={"reason": "x"})
        assert response.status_code == 401

    def test_a_bot_call_without_a_known_conversation_is_403(self, client: TestClient) -> None:
        number = open_ticket(client)
        response = client.post(
            f"{TICKETS}/{number}/cancel", json={"reason": "x"}, headers={"X-Desk-Channel": "fax"}
        )
        assert response.status_code == 403

    def test_staff_may_cancel_for_the_customer(
        self, client: TestClient, anonymous_client: TestClient, supervisor
    ) -> None:
        number = open_ticket(client)
        response = anonymous_client.post(
            f"{TICKETS}/{number}/cancel", json={"reason": "asked by phone"}, headers=supervisor()
        )
        assert response.status_code == 200
        assert response.json()["messages"][-1]["body"].endswith(": asked by phone")
