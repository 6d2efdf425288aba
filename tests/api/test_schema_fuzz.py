"""Schemathesis: requests generated from the OpenAPI schema never make the API fail (5xx)
and every response matches the schema. Bounded examples per operation; `make fuzz-api`
runs the same with many more."""

from __future__ import annotations

import os
from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import issue_staff_token
from tests.support_service.factories import SERVICE_TOKEN, make_staff, ticket_payload
from ticketing.db import Database
from ticketing.settings import Settings

EXAMPLES = int(os.environ.get("DESK_FUZZ_EXAMPLES", "25"))


@pytest.fixture
def api_app(clean_database: Database, settings: Settings, session: Session) -> Iterator[object]:
    """The app with a ticket, a customer and an admin to exercise."""
    app = create_app(settings)
    with TestClient(app) as client:
        client.post(
            "/api/v1/tickets",
            json=ticket_payload(),
            headers={
                "Authorization": f"Bearer {SERVICE_TOKEN}",
                "X-Desk-Channel": "rest",
                "X-Desk-Sender": "sender-123",
            },
        )
        yield app


@pytest.fixture
def api_schema(api_app: object) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


BOT_HEADERS = {
    "Authorization": f"Bearer {SERVICE_TOKEN}",
    "X-Desk-Channel": "rest",
    "X-Desk-Sender": "sender-123",
}


@pytest.fixture
def admin_headers(settings: Settings, session: Session) -> dict[str, str]:
    """An admin's staff token: every route is open to it."""
    admin = make_staff(session, "fuzz.admin", role="admin", queues=["technical_support"])
    return {"Authorization": f"Bearer {issue_staff_token(admin, settings).token}"}


BOUNDED = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
CHECKS = [not_a_server_error, response_schema_conformance]


def fuzz(schema: schemathesis.BaseSchema, headers: dict[str, str]) -> list[str]:
    """Run every operation's generated cases; return one line per failing operation."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @BOUNDED
        @hypothesis.given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers={**(case.headers or {}), **headers})
            assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as error:  # collect all operations' failures, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {error}"[:2000])
    return failures


def test_as_admin(api_schema: schemathesis.BaseSchema, admin_headers: dict[str, str]) -> None:
    assert fuzz(api_schema, admin_headers) == []


def test_as_the_bot(api_schema: schemathesis.BaseSchema) -> None:
    assert fuzz(api_schema, BOT_HEADERS) == []


def test_the_fuzzer_catches_a_server_error(
    settings: Settings, clean_database: Database, admin_headers: dict[str, str]
) -> None:
    """The harness itself can fail: a route that crashes on some input is reported."""
    from fastapi import APIRouter

    app = create_app(settings)
    router = APIRouter()

    @router.get("/api/v1/fragile")
    def fragile(n: int) -> dict[str, int]:
        return {"inverse": 100 // n}  # n == 0 crashes

    app.include_router(router)
    failures = fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), admin_headers)
    assert [f for f in failures if "/api/v1/fragile" in f]
