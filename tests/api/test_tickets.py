from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff, ticket_payload

TICKETS = "/api/v1/tickets"


def create(client: TestClient, body: dict, **headers: str):
    return client.post(TICKETS, json=body, headers=headers)


class TestCreateAndRead:
    @pytest.mark.parametrize("language", ["zh", "en"])
    def test_created_ticket_reads_back(self, client: TestClient, language: str) -> None:
        body = ticket_payload(language)
        created = create(client, body)
        assert created.status_code == 201, created.text
        ticket = created.json()
        assert ticket["number"] == "SD-100001"
        assert ticket["status"] == "new"
        assert ticket["queue"] == "technical_support"
        assert ticket["category"] == "technical_support"
        assert ticket["priority"] == "normal"
        assert ticket["language"] == language
        assert ticket["description"] == body["description"]
        opened = datetime.fromisoformat(ticket["created_at"])
        assert opened.utcoffset() == timedelta(0)
        due = datetime.fromisoformat(ticket["first_response_due_at"])
        assert due - opened == timedelta(minutes=240)
        assert ticket["updated_at"] == ticket["created_at"]

        client.conversation = (body["customer"]["channel"], body["customer"]["external_id"])
        read = client.get(f"{TICKETS}/{ticket['number']}")
        assert read.status_code == 200
        assert read.json() == ticket

    def test_bot_sees_public_messages_only(self, client: TestClient) -> None:
        number = create(client, ticket_payload("zh")).json()["number"]
        messages = client.get(f"{TICKETS}/{number}").json()["messages"]
        assert [(m["author_type"], m["body"], m["public"]) for m in messages] == [
            ("customer", "我的宽带从昨天开始就连不上了", True)
        ]

    def test_lower_case_number(self, client: TestClient) -> None:
        create(client, ticket_payload())
        response = client.get(f"{TICKETS}/sd-100001")
        assert response.status_code == 200
        assert response.json()["number"] == "SD-100001"

    def test_optional_fields_may_be_absent(self, client: TestClient) -> None:
        body = {
            "customer": {"channel": "rest", "external_id": "x"},
            "description": "help",
            "channel": "rest",
            "language": "en",
        }
        response = create(client, body)
        assert response.status_code == 201, response.text
        assert (response.json()["category"], response.json()["priority"]) == ("general", "low")

    def test_urgency_raises_priority(self, client: TestClient) -> None:
        response = create(client, ticket_payload(urgency="high"))
        assert response.json()["priority"] == "high"


class TestNotFound:
    @pytest.mark.parametrize("number", ["SD-999999", "not-a-ticket"])
    def test_unknown_ticket(self, client: TestClient, number: str) -> None:
        response = client.get(f"{TICKETS}/{number}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "ticket_not_found"


class TestValidation:
    def fields(self, response) -> list[str]:
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        return [detail["field"] for detail in error["details"]]

    def test_malformed_json(self, client: TestClient) -> None:
        response = client.post(
            TICKETS, content=b'{"description": ', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "malformed_json"

    def test_missing_description(self, client: TestClient) -> None:
        body = ticket_payload()
        del body["description"]
        assert self.fields(create(client, body)) == ["description"]

    def test_blank_description(self, client: TestClient) -> None:
        assert self.fields(create(client, ticket_payload(description="   "))) == ["description"]

    def test_too_long_description(self, client: TestClient) -> None:
        assert self.fields(create(client, ticket_payload(description="x" * 4001))) == [
            "description"
        ]

    def test_bad_language(self, client: TestClient) -> None:
        assert self.fields(create(client, ticket_payload(language="fr"))) == ["language"]

    def test_bad_phone(self, client: TestClient) -> None:
        response = create(client, ticket_payload(customer={"phone": "12345"}))
        assert self.fields(response) == ["customer.phone"]
        assert "12345" not in response.text  # never echo personal data

    def test_bad_email(self, client: TestClient) -> None:
        response = create(client, ticket_payload(customer={"email": "nobody@"}))
        assert self.fields(response) == ["customer.email"]

    def test_unknown_category(self, client: TestClient) -> None:
        assert self.fields(create(client, ticket_payload(category="weather"))) == ["category"]

    def test_transcript_limit(self, client: TestClient) -> None:
        lines = [{"author_type": "customer", "body": "hi"}] * 201
        assert self.fields(create(client, ticket_payload(transcript=lines))) == ["transcript"]


class TestIdempotency:
    def test_same_key_same_body_creates_one_ticket(self, client: TestClient) -> None:
        body = ticket_payload()
        first = create(client, body, **{"Idempotency-Key": "conv-1:abc"})
        again = create(client, body, **{"Idempotency-Key": "conv-1:abc"})
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json()["number"] == first.json()["number"]
        other = create(client, body, **{"Idempotency-Key": "conv-1:def"})
        assert other.json()["number"] == "SD-100002"  # so only one was made for conv-1:abc

    def test_same_key_other_body_conflicts(self, client: TestClient) -> None:
        create(client, ticket_payload(), **{"Idempotency-Key": "k"})
        response = create(
            client, ticket_payload(description="另一个问题"), **{"Idempotency-Key": "k"}
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert client.get(f"{TICKETS}/SD-100002").status_code == 404

    def test_without_key_each_request_creates(self, client: TestClient) -> None:
        create(client, ticket_payload())
        assert create(client, ticket_payload()).json()["number"] == "SD-100002"


class TestBodyLimit:
    def test_oversized_body(self, client: TestClient) -> None:
        body = ticket_payload(subject="x" * (70 * 1024))
        response = create(client, body)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

    def test_oversized_chunked_body(self, client: TestClient) -> None:
        def chunks():
            for _ in range(100):
                yield b"x" * 1024

        response = client.post(
            TICKETS, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413


class TestConversationScope:
    def test_the_bot_reads_only_its_customers_tickets(self, client) -> None:
        number = create(client, ticket_payload("zh")).json()["number"]
        client.conversation = ("rest", "a-stranger")
        response = client.get(f"{TICKETS}/{number}")
        assert response.status_code == 404  # as if it did not exist: numbers don't leak
        assert client.post(f"{TICKETS}/{number}/messages", json={"body": "hi"}).status_code == 404

    def test_the_bot_opens_tickets_only_for_its_conversation(self, client) -> None:
        response = client.post(
            TICKETS, json=ticket_payload("zh"), headers={"X-Desk-Sender": "someone-else"}
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_your_conversation"

    def test_unknown_channel_header_is_refused(self, client) -> None:
        response = client.get(f"{TICKETS}/SD-100001", headers={"X-Desk-Channel": "fax"})
        assert response.status_code == 403


class TestRoundTrips:
    """What one creation and one read send to the database (SQLAlchemy's cursor events).

    Not a timing: the shape of the work. Each assertion names a round trip that was
    removed and must not come back (a re-read of what the request just wrote, the
    customer looked up twice, a savepoint per insert).
    """

    @staticmethod
    def statements(client: TestClient, send) -> list[str]:
        engine = client.app.state.database.engine  # type: ignore[attr-defined]
        seen: list[str] = []

        def record(_conn, _cursor, statement, *_rest) -> None:
            if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE (ticketing.db)
                seen.append(" ".join(statement.split()).upper())

        event.listen(engine, "before_cursor_execute", record)
        try:
            send()
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return seen

    def test_a_new_customers_ticket(self, client: TestClient) -> None:
        create(client, ticket_payload("en", customer={"external_id": "warm-up"}))  # queue made
        body = ticket_payload("en", customer={"external_id": "first-sight", "email": None})
        sent = self.statements(
            client, lambda: create(client, body, **{"Idempotency-Key": "k-1"}).raise_for_status()
        )
        assert not [s for s in sent if "SAVEPOINT" in s]
        assert len([s for s in sent if s.startswith("SELECT") and "FROM IDENTITIES" in s]) == 1
        assert not [s for s in sent if s.startswith("SELECT") and "FROM TICKETS" in s]
        assert not [s for s in sent if s.startswith("SELECT") and "FROM TICKET_MESSAGES" in s]
        assert not [s for s in sent if "FROM CUSTOMER_TAGS" in s]  # a new customer has none
        keys = [s for s in sent if "IDEMPOTENCY_KEYS" in s]
        assert [s.split()[0] for s in keys] == ["INSERT", "UPDATE"], keys
        assert "ON CONFLICT" in keys[0]
        inserts = sorted(s.split()[2] for s in sent if s.startswith("INSERT"))
        assert inserts == [
            "CUSTOMERS",
            "IDEMPOTENCY_KEYS",
            "IDENTITIES",
            "TICKETS",
            "TICKET_EVENTS",
            "TICKET_MESSAGES",
        ]

    def test_a_known_customers_ticket_and_its_read(self, client: TestClient) -> None:
        body = ticket_payload("en", customer={"email": None})
        number = create(client, body).json()["number"]
        client.conversation = (body["customer"]["channel"], body["customer"]["external_id"])
        sent = self.statements(client, lambda: create(client, body).raise_for_status())
        assert len([s for s in sent if "FROM IDENTITIES" in s]) == 1
        assert not [s for s in sent if s.startswith("INSERT INTO IDENTITIES")]
        assert not [s for s in sent if s.startswith("INSERT INTO CUSTOMERS")]
        assert len([s for s in sent if "FROM CUSTOMER_TAGS" in s]) == 1  # VIP routing
        read = self.statements(client, lambda: client.get(f"{TICKETS}/{number}").raise_for_status())
        # The ticket with its queue, assignee and thread in one SELECT.
        assert len([s for s in read if "FROM TICKETS" in s]) == 1, read
        assert not [s for s in read if s.startswith("SELECT") and "FROM TICKET_MESSAGES" in s]
        assert len([s for s in read if "FROM IDENTITIES" in s]) == 1, read

    def test_a_replay_answers_the_first_ticket(self, client: TestClient) -> None:
        body = ticket_payload("en")
        first = create(client, body, **{"Idempotency-Key": "again"})
        sent = self.statements(client, lambda: create(client, body, **{"Idempotency-Key": "again"}))
        replay = create(client, body, **{"Idempotency-Key": "again"})
        assert replay.status_code == 200
        assert replay.json() == first.json()
        assert not [s for s in sent if s.startswith("INSERT INTO TICKETS")]


class TestCreatedAndAssigned:
    def test_the_answer_names_the_agent_the_ticket_went_to(
        self, client: TestClient, session: Session
    ) -> None:
        # The creation answers from what it wrote (no re-read): the assignment must show.
        make_staff(session, "wang.fang", queues=["technical_support"], presence="online")
        body = ticket_payload("en")
        created = create(client, body)
        assert created.status_code == 201, created.text
        ticket = created.json()
        assert (ticket["status"], ticket["assignee"]) == ("open", "wang.fang")
        assert ticket["version"] == 2
        client.conversation = (body["customer"]["channel"], body["customer"]["external_id"])
        assert client.get(f"{TICKETS}/{ticket['number']}").json() == ticket
