"""FAQ answers over HTTP: who reads, who rewrites, versions, the bot's view, the audit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff
from ticketing.models import AuditEntry
from ticketing.services.faq import trained_answers

TOPIC = "refund_time"


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session):
    make_staff(session, "wang.fang", presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    session.commit()

    def headers(username: str) -> dict[str, str]:
        response = anonymous_client.post(
            "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


def edit(client: TestClient, headers: dict, text: str, version: int, language: str = "zh"):
    return client.put(
        f"/api/v1/faq/{TOPIC}/{language}", json={"version": version, "text": text}, headers=headers
    )


def test_the_trained_topics_are_the_domains() -> None:
    answers = trained_answers()
    assert len(answers) == 30 and set(answers[TOPIC]) == {"zh", "en"}
    assert "退款" in answers[TOPIC]["zh"] and "refund" in answers[TOPIC]["en"].lower()


def test_staff_read_every_topic_in_both_languages(anonymous_client: TestClient, staff) -> None:
    response = anonymous_client.get("/api/v1/faq", headers=staff("wang.fang"))
    assert response.status_code == 200
    rows = response.json()
    assert len(rows) == 60
    refund = next(r for r in rows if (r["topic"], r["language"]) == (TOPIC, "zh"))
    assert refund["text"] == refund["trained_text"] and not refund["edited"]
    assert refund["version"] == 0


def test_without_a_token_nothing(anonymous_client: TestClient) -> None:
    assert anonymous_client.get("/api/v1/faq").status_code == 401
    assert anonymous_client.put(f"/api/v1/faq/{TOPIC}/zh", json={}).status_code == 401


def test_agents_read_but_only_supervisors_rewrite(anonymous_client: TestClient, staff) -> None:
    response = edit(anonymous_client, staff("wang.fang"), "新的答案", 0)
    assert response.status_code == 403


def test_a_rewrite_is_what_the_bot_reads_and_is_audited(
    anonymous_client: TestClient, client: TestClient, staff, session: Session
) -> None:
    boss = staff("zhao.min")
    response = edit(anonymous_client, boss, "  退款在审核通过后 1 个工作日内原路退回。 ", 0)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["text"] == "退款在审核通过后 1 个工作日内原路退回。"
    assert (answer["edited"], answer["version"], answer["updated_by"]) == (
        True,
        1,
        "staff:zhao.min",
    )
    bot_view = client.get(f"/api/v1/faq/{TOPIC}")
    assert bot_view.status_code == 200
    texts = bot_view.json()["texts"]
    assert texts["zh"] == "退款在审核通过后 1 个工作日内原路退回。"
    assert texts["en"] == trained_answers()[TOPIC]["en"]  # the other language untouched
    session.expire_all()
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "faq_edited")).all()
    assert [(a.actor, a.field) for a in audit] == [("staff:zhao.min", f"faq/{TOPIC}/zh")]


def test_an_edit_against_an_old_version_is_a_409(anonymous_client: TestClient, staff) -> None:
    boss = staff("zhao.min")
    assert edit(anonymous_client, boss, "第一版", 0).status_code == 200
    stale = edit(anonymous_client, boss, "另一位主管的版本", 0)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert stale.json()["error"]["details"] == {"version": 1}
    assert edit(anonymous_client, boss, "第二版", 1).json()["version"] == 2


def test_reset_goes_back_to_the_trained_answer(
    anonymous_client: TestClient, client: TestClient, staff
) -> None:
    boss = staff("zhao.min")
    edit(anonymous_client, boss, "临时答案", 0)
    response = anonymous_client.delete(f"/api/v1/faq/{TOPIC}/zh", headers=boss)
    assert response.status_code == 200 and not response.json()["edited"]
    assert (
        client.get(f"/api/v1/faq/{TOPIC}").json()["texts"]["zh"] == trained_answers()[TOPIC]["zh"]
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (f"/api/v1/faq/{TOPIC}/zh", {"version": 0, "text": ""}, 422, "validation_failed"),
        (f"/api/v1/faq/{TOPIC}/zh", {"version": 0, "text": "   "}, 422, "validation_failed"),
        (f"/api/v1/faq/{TOPIC}/zh", {"version": 0, "text": "长" * 2001}, 422, "validation_failed"),
        (f"/api/v1/faq/{TOPIC}/fr", {"version": 0, "text": "oui"}, 422, "validation_failed"),
        (f"/api/v1/faq/{TOPIC}/zh", {"version": -1, "text": "x"}, 422, "validation_failed"),
        (
            f"/api/v1/faq/{TOPIC}/zh",
            {"version": 0, "text": "x", "topic": "y"},
            422,
            "validation_failed",
        ),
        ("/api/v1/faq/weather/zh", {"version": 0, "text": "晴"}, 404, "faq_topic_not_found"),
        ("/api/v1/faq/Bad-Topic/zh", {"version": 0, "text": "x"}, 422, "validation_failed"),
    ],
)
def test_bad_edits_are_refused_clearly(
    anonymous_client: TestClient, staff, path: str, body: dict, status: int, code: str
) -> None:
    response = anonymous_client.put(path, json=body, headers=staff("zhao.min"))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_the_bot_reads_topics_but_not_the_editors_list(client: TestClient) -> None:
    assert client.get("/api/v1/faq").status_code == 403
    assert client.get("/api/v1/faq/weather").status_code == 404
    assert (
        client.put(f"/api/v1/faq/{TOPIC}/zh", json={"version": 0, "text": "x"}).status_code == 403
    )
