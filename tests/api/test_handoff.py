"""Live handoff over HTTP: queue positions for the bot, relay entries from agents' work."""

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.api.test_ticket_work import StaffClient, open_ticket, staff  # noqa: F401
from ticketing.db import Database
from ticketing.models import RelayDelivery, Ticket


def test_the_bot_hears_the_customers_place_in_the_queue(client: TestClient) -> None:
    first = open_ticket(client)
    second = open_ticket(client)
    response = client.get(f"/api/v1/tickets/{second['number'].lower()}/queue-position")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "number": second["number"],
        "status": "new",
        "queue": first["queue"],
        "queue_names": first["queue_names"],
        "position": 2,
        "waiting": 2,
        "assignee": None,
    }


def test_an_agent_holding_the_ticket_is_named(
    client: TestClient,
    anonymous_client: TestClient,
    staff: StaffClient,  # noqa: F811
) -> None:
    ticket = open_ticket(client)
    claimed = anonymous_client.post(
        f"/api/v1/tickets/{ticket['number']}/claim", headers=staff("wang.fang")
    )
    assert claimed.status_code == 200, claimed.text
    body = client.get(f"/api/v1/tickets/{ticket['number']}/queue-position").json()
    assert (body["status"], body["position"], body["assignee"]) == ("open", None, "Wang Fang")


def test_another_customers_ticket_is_not_found(client: TestClient) -> None:
    theirs = open_ticket(client, customer={"external_id": "someone-else"})
    response = client.get(f"/api/v1/tickets/{theirs['number']}/queue-position")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ticket_not_found"


def test_without_a_token_it_is_401(client: TestClient, anonymous_client: TestClient) -> None:
    ticket = open_ticket(client)
    response = anonymous_client.get(f"/api/v1/tickets/{ticket['number']}/queue-position")
    assert response.status_code == 401


def test_an_agents_reply_over_http_is_queued_for_the_conversation(
    client: TestClient,
    anonymous_client: TestClient,
    staff: StaffClient,  # noqa: F811
    clean_database: Database,
    session: Session,
) -> None:
    ticket = open_ticket(client, customer={"channel": "wechat", "external_id": "oPENID-1"})
    headers = staff("wang.fang")
    for body, public in (("We're on it", True), ("internal only", False)):
        response = anonymous_client.post(
            f"/api/v1/tickets/{ticket['number']}/messages",
            json={"body": body, "public": public},
            headers=headers,
        )
        assert response.status_code == 201, response.text
    [delivery] = session.scalars(select(RelayDelivery)).all()
    assert (delivery.kind, delivery.conversation_id) == ("reply", "wechat:oPENID-1")


def test_an_agent_hands_the_chat_back_to_the_bot(
    client: TestClient,
    anonymous_client: TestClient,
    staff: StaffClient,  # noqa: F811
    session: Session,
) -> None:
    ticket = open_ticket(client, customer={"channel": "web", "external_id": "widget-9"})
    response = anonymous_client.post(
        f"/api/v1/tickets/{ticket['number']}/handback", headers=staff("wang.fang")
    )
    assert response.status_code == 202, response.text
    assert response.json()["number"] == ticket["number"]
    [delivery] = session.scalars(select(RelayDelivery)).all()
    assert (delivery.kind, delivery.conversation_id) == ("handback", "web:widget-9")
    session.rollback()  # on SQLite a reading transaction holds the write lock too
    staff_view = anonymous_client.get(
        f"/api/v1/tickets/{ticket['number']}", headers=staff("wang.fang")
    ).json()
    assert staff_view["status"] == "new"  # the ticket itself is unchanged
    assert any("handed the conversation back" in m["body"] for m in staff_view["messages"])


def test_the_bot_may_not_hand_back(client: TestClient) -> None:
    ticket = open_ticket(client)
    assert client.post(f"/api/v1/tickets/{ticket['number']}/handback").status_code == 403


def test_a_ticket_without_a_conversation_cannot_be_handed_back(
    client: TestClient,
    anonymous_client: TestClient,
    staff: StaffClient,  # noqa: F811
    clean_database: Database,
) -> None:
    ticket = open_ticket(client)
    with clean_database.sessions.begin() as session:
        session.execute(
            update(Ticket).where(Ticket.number == ticket["number"]).values(conversation_id=None)
        )
    response = anonymous_client.post(
        f"/api/v1/tickets/{ticket['number']}/handback", headers=staff("wang.fang")
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_conversation"
