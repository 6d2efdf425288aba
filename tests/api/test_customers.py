from fastapi.testclient import TestClient

from tests.support_service.factories import ticket_payload

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


def test_email_customer(client: TestClient) -> None:
    client.post("/api/v1/tickets", json=ticket_payload("en"))
    body = client.get(BY_IDENTITY, params={"channel": "rest", "external_id": "sam"}).json()
    assert (body["has_email"], body["email_masked"], body["language"]) == (
        True,
        "s***@example.com",
        "en",
    )


def test_unknown_customer(client: TestClient) -> None:
    response = client.get(BY_IDENTITY, params={"channel": "rest", "external_id": "nobody"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"


def test_unknown_channel_is_422(client: TestClient) -> None:
    response = client.get(BY_IDENTITY, params={"channel": "fax", "external_id": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "channel"
