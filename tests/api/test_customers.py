from fastapi.testclient import TestClient

from tests.support_service.factories import ticket_payload
from tests.support_service.fixtures import BotClient

BY_IDENTITY = "/api/v1/customers/by-identity"


def test_known_customer_with_masked_contacts(client: TestClient) -> None:
    created = client.post("/api/v1/tickets", json=ticket_payload("zh")).json()
    response = client.get(BY_IDENTITY, params={"channel": "rest", "external_id": "sender-123"})
    assert response.status_code == 200
    assert response.json() == {
        "id": created["customer_id"],
        "language": "zh",
        "has_phone": True,
        "has_email": False,
        "phone_masked": "138****8000",
        "email_masked": None,
    }


def test_email_customer(client: BotClient) -> None:
    client.post("/api/v1/tickets", json=ticket_payload("en"))
    client.conversation = ("rest", "sam")
    body = client.get(BY_IDENTITY, params={"channel": "rest", "external_id": "sam"}).json()
    assert (body["has_email"], body["email_masked"], body["language"]) == (
        True,
        "s***@example.com",
        "en",
    )


def test_unknown_customer(client: BotClient) -> None:
    client.conversation = ("rest", "nobody")
    response = client.get(BY_IDENTITY, params={"channel": "rest", "external_id": "nobody"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"


def test_unknown_channel_is_422(client: TestClient) -> None:
    response = client.get(BY_IDENTITY, params={"channel": "fax", "external_id": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "channel"


def test_the_bot_looks_up_only_its_conversations_customer(client: BotClient) -> None:
    client.post("/api/v1/tickets", json=ticket_payload("en"))  # sam's conversation
    response = client.get(BY_IDENTITY, params={"channel": "rest", "external_id": "sam"})
    assert response.status_code == 403  # the client speaks for sender-123
    assert response.json()["error"]["code"] == "not_your_conversation"


def test_the_bot_must_name_its_conversation(client: BotClient) -> None:
    response = client.get(
        BY_IDENTITY,
        params={"channel": "rest", "external_id": "sender-123"},
        headers={"X-Desk-Sender": ""},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "conversation_required"
