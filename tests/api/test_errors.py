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
