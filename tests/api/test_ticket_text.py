"""Personal data typed into ticket text, over HTTP: sealed at rest, shown by role, revealed
with an audit entry, re-encrypted by rotation, and refused or cut at the edges."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.app import create_app
from tests.support_service.factories import (
    SERVICE_TOKEN,
    STAFF_PASSWORD,
    make_settings,
    make_staff,
    random_key,
    ticket_payload,
)
from tests.support_service.fixtures import BotClient
from ticketing.db import Database
from ticketing.models import AuditEntry, Base, TicketMessage
from ticketing.privacy import Vault
from ticketing.privacy_text import SEALED_COLUMNS
from ticketing.rotate_keys import rotate
from ticketing.settings import Settings

# What customers and agents type. Each value is also looked for in its other spellings.
PHONE = "13812345678"
PHONE_SPACED = "+86 139 8765 4321"
PHONE_UK = "+44 20 7946 0958"
EMAIL = "zhang.san@example.com"
URL_EMAIL = "li.si@corp.example.cn"
ID_NUMBER = "11010519491231002X"
CARD = "6222021234567890128"  # 19 digits, passes Luhn
CARD_SPACED = "4111 1111 1111 1111"
SECRETS = {
    PHONE: ["13812345678"],
    PHONE_SPACED: ["13987654321", "139 8765 4321"],
    PHONE_UK: ["2079460958", "20 7946 0958"],
    EMAIL: ["zhang.san@example.com"],
    URL_EMAIL: ["li.si@corp.example.cn", "li.si%40corp.example.cn"],
    ID_NUMBER: ["11010519491231002X", "11010519491231002x"],
    CARD: ["6222021234567890128"],
    CARD_SPACED: ["4111111111111111", "4111 1111 1111 1111"],
}


def needles() -> list[str]:
    """Every spelling of every value typed in these tests."""
    return sorted({s.lower() for spellings in SECRETS.values() for s in spellings})


def scan(engine: Engine) -> list[tuple[str, str, str]]:
    """(table, column, value) wherever a typed value sits in clear in any column of any table."""
    found = []
    targets = needles()
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None or isinstance(value, (int, float, bool)):
                        continue
                    text = (
                        json.dumps(value, ensure_ascii=False)
                        if isinstance(value, (dict, list))
                        else str(value)
                    ).lower()
                    found.extend(
                        (table.name, column, needle) for needle in targets if needle in text
                    )
    return found


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session) -> Callable[[str], dict[str, str]]:
    make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    make_staff(session, "admin", role="admin", presence="offline")

    def headers(username: str) -> dict[str, str]:
        token = anonymous_client.post(
            "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        ).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    return headers


def open_ticket(client: TestClient, description: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/tickets", json=ticket_payload(description=description, **overrides)
    )
    assert response.status_code == 201, response.text
    return response.json()


def busy_desk(client: TestClient, web: TestClient, staff: Callable[[str], dict[str, str]]) -> str:
    """A ticket's life in which everyone types personal data somewhere; its number."""
    agent, boss = staff("wang.fang"), staff("zhao.min")
    ticket = open_ticket(
        client,
        f"宽带断了，电话 {PHONE}，邮箱 {EMAIL}",
        subject=f"call {PHONE_SPACED}",
        transcript=[
            {"author_type": "customer", "body": f"我的身份证 {ID_NUMBER}"},
            {"author_type": "bot", "body": "请问还有别的联系方式吗？"},
            {"author_type": "customer", "body": f"https://example.com/reset?u={URL_EMAIL}"},
        ],
    )
    number = ticket["number"]
    path = f"/api/v1/tickets/{number}"
    assert client.post(f"{path}/messages", json={"body": PHONE}).status_code == 201
    assert (
        client.post(f"{path}/messages", json={"body": f"卡号 {CARD}，或 {CARD_SPACED}"}).status_code
        == 201
    )
    assert web.post(f"{path}/claim", headers=agent).status_code == 200
    reply = web.post(
        f"{path}/messages", json={"body": f"We will call {PHONE_UK} or {PHONE}"}, headers=agent
    )
    assert reply.status_code == 201
    note = web.post(
        f"{path}/messages",
        json={
            "body": f"customer also uses mailto:{URL_EMAIL.replace('@', '%40')}",
            "public": False,
        },
        headers=agent,
    )
    assert note.status_code == 201
    version = note.json()["version"]
    edit = web.patch(path, json={"version": version, "subject": f"ring {PHONE}"}, headers=boss)
    assert edit.status_code == 200, edit.text
    escalated = client.post(
        f"{path}/escalate",
        json={
            "reason": f"customer wants a call on {PHONE}",
            "transcript": [{"author_type": "customer", "body": f"my card {CARD}"}],
        },
    )
    assert escalated.status_code == 200, escalated.text
    return number


class TestAtRest:
    def test_nothing_typed_is_left_in_clear_in_any_column(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
        clean_database: Database,
    ) -> None:
        number = busy_desk(client, anonymous_client, staff)
        path = f"/api/v1/tickets/{number}"
        boss = staff("zhao.min")
        ticket = anonymous_client.get(path, headers=boss).json()
        resolved = anonymous_client.patch(
            path, json={"version": ticket["version"], "status": "resolved"}, headers=boss
        )
        assert resolved.status_code == 200, resolved.text
        rated = client.post(f"{path}/rating", json={"score": 4, "comment": f"call me {PHONE}"})
        assert rated.status_code == 201, rated.text
        cancelled_one = open_ticket(client, f"another one, {EMAIL}")["number"]
        bus = client.app.state.events  # type: ignore[attr-defined]
        last = bus.last_id()
        cancel = client.post(
            f"/api/v1/tickets/{cancelled_one}/cancel", json={"reason": f"fixed, ring {PHONE}"}
        )
        assert cancel.status_code == 200, cancel.text
        published = bus.read(after=last)
        reasons = [d.event.data.get("reason") for d in published]
        assert "cancelled: fixed, ring 138****5678" in reasons
        assert not any(needle in repr(published).lower() for needle in needles())

        assert scan(clean_database.engine) == []
        with clean_database.sessions() as session:
            sealed = session.scalars(
                select(TicketMessage.body_enc).where(TicketMessage.body_enc.is_not(None))
            ).all()
        assert len(sealed) >= 7
        assert all(token.startswith("test1:") for token in sealed)

    def test_the_relay_reads_the_full_reply_for_the_customer(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
        settings: Settings,
    ) -> None:
        from ticketing.delivery_worker import claim_next

        number = open_ticket(client, "网速很慢")["number"]
        agent = staff("wang.fang")
        anonymous_client.post(f"/api/v1/tickets/{number}/claim", headers=agent)
        anonymous_client.post(
            f"/api/v1/tickets/{number}/messages", json={"body": f"call {PHONE}"}, headers=agent
        )
        parcel = claim_next(Database.from_settings(settings))
        assert parcel is not None
        assert (parcel.body, parcel.unreadable) == (f"call {PHONE}", None)

    def test_erasure_leaves_only_masked_copies_of_every_text(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
        clean_database: Database,
    ) -> None:
        number = busy_desk(client, anonymous_client, staff)
        customer_id = client.get(f"/api/v1/tickets/{number}").json()["customer_id"]
        erased = anonymous_client.post(
            f"/api/v1/customers/{customer_id}/erase",
            json={"reason": "PIPL request #17"},
            headers=staff("admin"),
        )
        assert erased.status_code == 200, erased.text
        with clean_database.engine.connect() as connection:
            for model, columns in SEALED_COLUMNS.items():
                table = model.__table__
                for column in columns:
                    left = connection.execute(
                        select(table.c[f"{column}_enc"]).where(
                            table.c[f"{column}_enc"].is_not(None)
                        )
                    ).all()
                    assert left == [], (table.name, column)
        shown = anonymous_client.get(f"/api/v1/tickets/{number}", headers=staff("zhao.min"))
        assert "138****5678" in shown.json()["escalation_reason"]


class TestShownByRole:
    def test_agent_and_bot_read_masks_supervisor_reads_contacts(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
    ) -> None:
        number = busy_desk(client, anonymous_client, staff)
        path = f"/api/v1/tickets/{number}"

        as_agent = anonymous_client.get(path, headers=staff("wang.fang")).json()
        bodies = [m["body"] for m in as_agent["messages"]]
        assert "宽带断了，电话 138****5678，邮箱 z***@example.com" in bodies
        assert "138****5678" in bodies
        assert "https://example.com/reset?u=l***@corp.example.cn" in bodies
        assert "我的身份证 1101**********002X" in bodies
        assert "卡号 ***************0128，或 **** **** **** 1111" in bodies
        assert as_agent["subject"] == "ring 138****5678"
        assert as_agent["escalation_reason"] == "customer: customer wants a call on 138****5678"
        assert set(as_agent["masked_texts"]) == {"subject", "description", "escalation_reason"}
        assert all(m["masked"] for m in as_agent["messages"] if "*" in m["body"])
        assert not any(needle in json.dumps(as_agent).lower() for needle in needles())

        as_bot = client.get(path).json()
        assert as_bot["description"] == as_agent["description"]
        assert not any(needle in json.dumps(as_bot).lower() for needle in needles())

        as_boss = anonymous_client.get(path, headers=staff("zhao.min")).json()
        bodies = [m["body"] for m in as_boss["messages"]]
        assert f"宽带断了，电话 {PHONE}，邮箱 {EMAIL}" in bodies
        assert f"https://example.com/reset?u={URL_EMAIL}" in bodies
        assert "我的身份证 1101**********002X" in bodies  # ID numbers stay masked
        assert "卡号 ***************0128，或 **** **** **** 1111" in bodies
        assert as_boss["subject"] == f"ring {PHONE}"

    def test_a_supervisors_clear_view_is_audited_without_values(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
    ) -> None:
        number = open_ticket(client, f"call {PHONE}")["number"]
        anonymous_client.get(f"/api/v1/tickets/{number}", headers=staff("wang.fang"))
        anonymous_client.get(f"/api/v1/tickets/{number}", headers=staff("zhao.min"))
        log = anonymous_client.get("/api/v1/audit", headers=staff("admin")).json()
        views = [e for e in log if e["field"] == "ticket_text"]
        assert [(e["actor"], e["action"], e["details"]) for e in views] == [
            ("staff:zhao.min", "view", {"ticket": number, "kinds": ["phone"]})
        ]
        assert PHONE not in json.dumps(log)

    def test_a_supervisor_opening_a_ticket_is_audited_with_the_ticket(
        self,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
        session: Session,
    ) -> None:
        # The creation commits in its endpoint (not after it): what its answer wrote, the
        # audit of the clear view, is committed with the ticket before the 201 leaves.
        boss = staff("zhao.min")
        created = anonymous_client.post(
            "/api/v1/tickets",
            headers=boss,
            json=ticket_payload(description=f"call {PHONE}", customer={"external_id": "s-1"}),
        )
        assert created.status_code == 201, created.text
        assert created.json()["description"] == f"call {PHONE}"
        session.rollback()  # a fresh snapshot: only what was committed
        views = session.scalars(select(AuditEntry).where(AuditEntry.field == "ticket_text")).all()
        assert [(e.actor, e.details) for e in views] == [
            ("staff:zhao.min", {"ticket": created.json()["number"], "kinds": ["phone"]})
        ]

    def test_history_values_are_masked_for_agents(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
    ) -> None:
        number = busy_desk(client, anonymous_client, staff)
        path = f"/api/v1/tickets/{number}/history"
        as_agent = anonymous_client.get(path, headers=staff("wang.fang")).json()
        subject = next(e for e in as_agent if e["field"] == "subject")
        assert (subject["old_value"], subject["new_value"], subject["masked"]) == (
            "call 139****4321",
            "ring 138****5678",
            True,
        )
        assert not any(needle in json.dumps(as_agent).lower() for needle in needles())
        as_boss = anonymous_client.get(path, headers=staff("zhao.min")).json()
        subject = next(e for e in as_boss if e["field"] == "subject")
        assert subject["new_value"] == f"ring {PHONE}"

    def test_lists_and_reports_show_the_masked_subject(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
    ) -> None:
        open_ticket(client, f"call {PHONE}", subject=f"call {PHONE}", urgency="urgent")
        boss = staff("zhao.min")
        listed = anonymous_client.get("/api/v1/tickets", headers=boss).json()
        assert [t["subject"] for t in listed["items"]] == ["call 138****5678"]
        report = anonymous_client.get("/api/v1/reports/now", headers=boss)
        assert report.status_code == 200
        assert PHONE not in report.text


class TestReveal:
    def test_an_agent_reveals_one_message_with_a_reason_once_audited(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
    ) -> None:
        number = open_ticket(client, "宽带断了")["number"]
        posted = client.post(
            f"/api/v1/tickets/{number}/messages", json={"body": f"我的电话 {PHONE}"}
        ).json()
        message = next(m for m in posted["messages"] if m["masked"])
        path = f"/api/v1/tickets/{number}/reveal"
        agent = staff("wang.fang")

        no_reason = anonymous_client.post(
            path,
            json={"part": "message", "id": message["id"], "reason_code": "callback", "reason": "x"},
            headers=agent,
        )
        assert no_reason.status_code == 422
        assert (
            client.post(
                path,
                json={
                    "part": "message",
                    "id": message["id"],
                    "reason_code": "callback",
                    "reason": "calling back",
                },
            ).status_code
            == 403
        )
        missing = anonymous_client.post(
            path,
            json={
                "part": "message",
                "id": 9999,
                "reason_code": "callback",
                "reason": "calling back",
            },
            headers=agent,
        )
        assert missing.status_code == 404
        revealed = anonymous_client.post(
            path,
            json={
                "part": "message",
                "id": message["id"],
                "reason_code": "callback",
                "reason": "calling back about it",
            },
            headers=agent,
        )
        assert revealed.status_code == 200, revealed.text
        assert revealed.json()["text"] == f"我的电话 {PHONE}"
        subject = anonymous_client.post(
            path,
            json={
                "part": "description",
                "reason_code": "callback",
                "reason": "what did they write",
            },
            headers=agent,
        )
        assert subject.json()["text"] == "宽带断了"

        with Session(anonymous_client.app.state.database.engine) as session:  # type: ignore[attr-defined]
            entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
            rows = [
                (e.actor, e.action, e.field, e.reason, e.details)
                for e in entries
                if e.action == "reveal"
            ]
        assert rows == [
            (
                "staff:wang.fang",
                "reveal",
                "ticket_message",
                "calling back about it",
                {"ticket": number, "id": message["id"], "reason_code": "callback"},
            ),
            (
                "staff:wang.fang",
                "reveal",
                "ticket_description",
                "what did they write",
                {"ticket": number, "id": None, "reason_code": "callback"},
            ),
        ]
        assert PHONE not in repr(rows)


@pytest.fixture
def keyed_app(settings: Settings, clean_database: Database) -> Iterator[Callable[..., TestClient]]:
    """Apps over the same database with key rings the test chooses."""
    clients: list[TestClient] = []

    def make(data_keys: str, **overrides: Any) -> TestClient:
        changed = make_settings(
            settings.database_url,
            data_keys=data_keys,
            blind_index_key=settings.blind_index_key.get_secret_value(),
            **overrides,
        )
        test_client = BotClient(
            create_app(changed), headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
        )
        test_client.__enter__()
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)


class TestKeys:
    def test_rotation_re_encrypts_sealed_text_and_it_still_reads(
        self,
        client: BotClient,
        anonymous_client: TestClient,
        staff: Callable[[str], dict[str, str]],
        settings: Settings,
        keyed_app: Callable[..., TestClient],
    ) -> None:
        number = busy_desk(client, anonymous_client, staff)
        old = settings.data_keys.get_secret_value()
        ring = f"test2:{random_key()},{old}"
        rotated_app = keyed_app(ring)
        database = Database.from_settings(settings)
        vault = Vault.from_settings(make_settings(settings.database_url, data_keys=ring))
        with database.sessions.begin() as session:
            result = rotate(session, vault=vault)
        assert result.rotated >= 10
        with database.sessions() as session:
            tokens = [
                token
                for model_tokens in (session.scalars(select(TicketMessage.body_enc)).all(),)
                for token in model_tokens
                if token
            ]
        assert tokens and all(t.startswith("test2:") for t in tokens)
        # The old key can go now; the boss reads the thread with the new ring alone.
        new_only = keyed_app(ring.split(",")[0])
        boss = staff("zhao.min")
        shown = new_only.get(f"/api/v1/tickets/{number}", headers=boss).json()
        assert f"宽带断了，电话 {PHONE}，邮箱 {EMAIL}" in [m["body"] for m in shown["messages"]]
        assert rotated_app.get(f"/api/v1/tickets/{number}").status_code == 200
        assert scan(database.engine) == []
        database.dispose()

    def test_a_missing_key_masks_views_and_a_reveal_names_the_key(
        self,
        client: BotClient,
        staff: Callable[[str], dict[str, str]],
        keyed_app: Callable[..., TestClient],
    ) -> None:
        number = open_ticket(client, f"call {PHONE}")["number"]
        other = keyed_app(f"other:{random_key()}")
        boss = staff("zhao.min")
        shown = other.get(f"/api/v1/tickets/{number}", headers=boss)
        assert shown.status_code == 200
        assert shown.json()["description"] == "call 138****5678"
        revealed = other.post(
            f"/api/v1/tickets/{number}/reveal",
            json={"part": "description", "reason_code": "callback", "reason": "calling back"},
            headers=boss,
        )
        assert revealed.status_code == 500
        error = revealed.json()["error"]
        assert error["code"] == "text_unreadable"
        assert "'test1'" in error["message"]
        assert PHONE not in revealed.text


class TestBadInput:
    def test_a_message_that_is_only_a_phone_number_or_several(
        self, client: BotClient, clean_database: Database
    ) -> None:
        number = open_ticket(client, PHONE)["number"]
        several = f"{PHONE}, {PHONE_SPACED}; {PHONE_UK} / 010-65529988"
        posted = client.post(f"/api/v1/tickets/{number}/messages", json={"body": several})
        assert posted.status_code == 201
        bodies = [m["body"] for m in posted.json()["messages"]]
        assert "138****5678" in bodies
        assert "138****5678, 139****4321; ******0958 / ******9988" in bodies
        assert scan(clean_database.engine) == []

    def test_a_500_kb_paste_within_the_limit_is_sealed_whole(
        self, settings: Settings, keyed_app: Callable[..., TestClient], clean_database: Database
    ) -> None:
        big = keyed_app(settings.data_keys.get_secret_value(), max_body_bytes=1024 * 1024)
        line = (("宽带日志记录" * 40 + f" 联系 {PHONE} 或 {EMAIL} 卡 {CARD} ") * 20)[:3990]
        transcript = [{"author_type": "customer", "body": line} for _ in range(55)]
        body = ticket_payload(description=f"paste {PHONE}", transcript=transcript)
        size = len(json.dumps(body, ensure_ascii=False).encode())
        assert 500 * 1024 < size < 1024 * 1024
        created = big.post("/api/v1/tickets", json=body)
        assert created.status_code == 201, created.text[:300]
        assert scan(clean_database.engine) == []

    def test_above_the_body_limit_is_a_clear_413(self, client: BotClient) -> None:
        paste = f"{PHONE} " * 12000  # about 140 KB, over the default 64 KB
        response = client.post("/api/v1/tickets", json=ticket_payload(description=paste))
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert PHONE not in response.text
        too_long = client.post("/api/v1/tickets", json=ticket_payload(description="x" * 4001))
        assert too_long.status_code == 422
        assert re.search(r"description", too_long.text)
