import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from api.app import create_app


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such resource.", "details": None}
    }


def test_wrong_method_is_json_405(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_openapi_has_ticket_examples(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["TicketCreate"]["examples"][0]["customer"]["channel"] == "rest"
    assert schemas["TicketRead"]["examples"][0]["number"] == "SD-100001"


def test_unexpected_error_is_json_500_without_body_in_logs(
    settings: object, clean_database: object, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)  # type: ignore[arg-type]

    @app.post("/boom")
    async def boom(request: Request) -> None:
        await request.body()
        raise RuntimeError("kaput")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/boom", json={"phone": "13812345678"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "unhandled RuntimeError on POST /boom" in caplog.text
    assert "13812345678" not in caplog.text


class TestFoundBySchemathesis:
    """Regressions for what the schema fuzzer found on PostgreSQL."""

    def test_nul_in_a_json_body_is_422_not_a_database_error(
        self, anonymous_client: TestClient
    ) -> None:
        response = anonymous_client.post(
            "/api/v1/auth/login", json={"username": "\x00", "password": "x"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "nul_character"

    def test_nul_in_the_query_is_422(self, client: TestClient) -> None:
        response = client.get("/api/v1/tickets?queue=a%00b")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "nul_character"

    def test_ids_beyond_the_database_integer_are_422(self, client: TestClient) -> None:
        response = client.get(f"/api/v1/tickets?customer_id={2**40}")
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "customer_id"

    def test_an_escaped_backslash_is_not_a_nul(self, client: TestClient) -> None:
        from tests.support_service.factories import ticket_payload

        body = ticket_payload(description="path C:\\new\\u0001 is broken")
        assert client.post("/api/v1/tickets", json=body).status_code == 201
