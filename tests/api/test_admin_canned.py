"""Canned replies over HTTP: staff read, supervisors replace, validated, versioned, audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff
from ticketing.models import AuditEntry
from ticketing.services.canned import packaged

NEW = {
    "zh": [{"title": "问候", "body": " 您好，我是客服小王。 "}],
    "en": [{"title": "Greeting", "body": "Hello, this is Wang from the desk."}],
}


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session):
    make_staff(session, "wang.fang", presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")

    def headers(username: str) -> dict[str, str]:
        response = anonymous_client.post(
            "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


def put(client: TestClient, headers: dict[str, str], replies: dict, version: int):
    return client.put(
        "/api/v1/admin/canned", json={"version": version, "replies": replies}, headers=headers
    )


def test_who_may(anonymous_client: TestClient, client: TestClient, staff) -> None:
    assert anonymous_client.get("/api/v1/canned").status_code == 401
    assert client.get("/api/v1/canned").status_code == 403  # the bot
    agent = staff("wang.fang")
    found = anonymous_client.get("/api/v1/canned", headers=agent)
    assert found.status_code == 200
    assert (found.json()["version"], found.json()["replies"]) == (0, packaged())
    assert put(anonymous_client, agent, NEW, 0).status_code == 403


def test_a_supervisor_replaces_them_and_a_stale_edit_409(
    anonymous_client: TestClient, staff, session: Session
) -> None:
    boss = staff("zhao.min")
    saved = put(anonymous_client, boss, NEW, 0)
    assert saved.status_code == 200, saved.text
    assert saved.json()["replies"]["zh"][0]["body"] == "您好，我是客服小王。"
    read = anonymous_client.get("/api/v1/canned", headers=staff("wang.fang")).json()
    assert (read["version"], read["replies"]["en"]) == (1, NEW["en"])
    stale = put(anonymous_client, boss, NEW, 0)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.details) == ("canned_changed", {"version": 1})


@pytest.mark.parametrize(
    ("replies", "field"),
    [
        ({"fr": []}, "replies.fr"),
        ({"zh": [{"title": "", "body": "x"}]}, "replies.zh[0].title"),
        ({"en": [{"title": "ok", "body": "b" * 2001}]}, "replies.en[0].body"),
        ({"en": [{"title": "ok"}]}, "replies.en[0]"),
        ({"zh": "not a list"}, "replies.zh"),
    ],
)
def test_bad_replies_are_refused_with_the_entry(
    anonymous_client: TestClient, staff, replies: dict, field: str
) -> None:
    boss = staff("zhao.min")
    response = put(anonymous_client, boss, replies, 0)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field
    assert anonymous_client.get("/api/v1/canned", headers=boss).json()["version"] == 0
