"""Progress pushed to the customer, over HTTP: the thread shows each notice and whether it
was sent; contact preferences accept an opt-out and a time zone."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.test_profiles import staff
from tests.support_service.factories import ticket_payload
from ticketing.db import Database
from ticketing.services import outbox

__all__ = ["staff"]  # the fixture


def test_the_thread_shows_the_notice_and_its_delivery(
    client: TestClient,
    anonymous_client: TestClient,
    staff,
    database: Database,
    session: Session,
) -> None:
    created = client.post("/api/v1/tickets", json=ticket_payload())
    assert created.status_code == 201
    number, version = created.json()["number"], created.json()["version"]
    agent = staff("wang.fang")
    assert (
        anonymous_client.patch(
            f"/api/v1/tickets/{number}",
            json={"version": version, "status": "pending"},
            headers=agent,
        ).status_code
        == 200
    )
    read = anonymous_client.get(f"/api/v1/tickets/{number}", headers=agent).json()
    [notice] = [m for m in read["messages"] if m["author_name"] == "notice"]
    assert notice["public"] and number in notice["body"]
    # The customer wrote a moment ago: nothing held, queued for the relay.
    assert notice["delivery"]["status"] == "queued"
    assert notice["delivery"]["channel"] == "rest"
    customer_message = next(m for m in read["messages"] if m["author_type"] == "customer")
    assert customer_message["delivery"] is None

    with database.sessions.begin() as work:
        [delivery] = outbox.due(work, limit=5)
        outbox.mark_delivered(delivery)
    read = anonymous_client.get(f"/api/v1/tickets/{number}", headers=agent).json()
    [notice] = [m for m in read["messages"] if m["author_name"] == "notice"]
    assert notice["delivery"]["status"] == "sent" and notice["delivery"]["at"]


def test_preferences_take_an_opt_out_and_a_known_time_zone(
    client: TestClient, anonymous_client: TestClient, staff
) -> None:
    customer_id = client.post("/api/v1/tickets", json=ticket_payload()).json()["customer_id"]
    agent = staff("wang.fang")
    path = f"/api/v1/customers/{customer_id}"
    good = anonymous_client.patch(
        path,
        json={"contact_preferences": {"notifications": False, "time_zone": "Europe/Paris"}},
        headers=agent,
    )
    assert good.status_code == 200
    assert good.json()["contact_preferences"]["notifications"] is False
    bad = anonymous_client.patch(
        path, json={"contact_preferences": {"time_zone": "Mars/Olympus"}}, headers=agent
    )
    assert bad.status_code == 422
    assert "time_zone" in bad.text
