import pytest
from fastapi.testclient import TestClient

from tests.support_service.factories import ticket_payload


class TestAuthentication:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/api/v1/tickets/SD-100001"),
            ("POST", "/api/v1/tickets"),
            ("GET", "/api/v1/customers/by-identity?channel=rest&external_id=x"),
        ],
    )
    def test_missing_token(self, anonymous_client: TestClient, method: str, path: str) -> None:
        response = anonymous_client.request(method, path, json=ticket_payload())
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"

    def test_wrong_token(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.get(
            "/api/v1/tickets/SD-100001", headers={"Authorization": "Bearer wrong-token-123456789"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"

    def test_wrong_scheme(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.get(
            "/api/v1/tickets/SD-100001", headers={"Authorization": "Basic dXNlcjpwYXNz"}
        )
        assert response.status_code == 401

    def test_nothing_is_created_without_a_token(
        self, anonymous_client: TestClient, client: TestClient
    ) -> None:
        anonymous_client.post("/api/v1/tickets", json=ticket_payload())
        assert client.get("/api/v1/tickets/SD-100001").status_code == 404

    def test_every_api_route_requires_authentication(self, anonymous_client: TestClient) -> None:
        schema = anonymous_client.get("/openapi.json").json()
        open_routes = [
            path
            for path, operations in schema["paths"].items()
            for operation in operations.values()
            if path.startswith("/api/") and not operation.get("security")
        ]
        # Logging in is the one way to get a token, so it cannot require one.
        assert open_routes == ["/api/v1/auth/login"]
