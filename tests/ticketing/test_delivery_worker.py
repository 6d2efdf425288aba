"""The relay worker against a recording stand-in for Rasa's HTTP API.

The stand-in checks what a real Rasa needs (path, JWT, output channel, body). The
end-to-end handoff test (tests/browser/test_handoff.py) runs the real Rasa.
"""

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from tests.support_service.factories import make_staff, ticket_payload
from ticketing import delivery_worker
from ticketing.db import Database
from ticketing.enums import TicketStatus
from ticketing.models import Agent, RelayDelivery, TicketMessage, utcnow
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import lifecycle, outbox, thread
from ticketing.services.tickets import create_ticket
from ticketing.settings import Settings

AGENT = Principal(name="staff:wang.fang", role=Role.AGENT, agent_id=1)
JWT_SECRET = "relay-test-secret-of-at-least-32-characters"
RASA = delivery_worker.RasaConversations("http://rasa.test", JWT_SECRET)


class FakeRasa:
    """Records each request; answers with the next queued status (200 when none)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], object]] = []
        self.statuses: list[int] = []
        self.claims: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        # What Rasa's JWT check does: the bearer token must verify with the shared secret.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer":
            return httpx.Response(401, json={})
        try:
            self.claims.append(jwt.decode(token, JWT_SECRET, algorithms=["HS256"]))
        except jwt.InvalidTokenError:
            return httpx.Response(401, json={})
        self.requests.append(
            (
                request.url.raw_path.decode().split("?")[0],
                dict(request.url.params),
                json.loads(request.content),
            )
        )
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200, json={})


@pytest.fixture
def rasa() -> Iterator[tuple[FakeRasa, httpx.Client]]:
    fake = FakeRasa()
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        yield fake, client


def open_ticket(database: Database, vault: Vault, sender: str = "widget/1") -> str:
    bot = Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=("web", sender))
    payload = TicketCreate.model_validate(
        ticket_payload(customer={"channel": "web", "external_id": sender})
    )
    with database.sessions.begin() as session:
        number = create_ticket(session, vault=vault, principal=bot, payload=payload).ticket.number
    assert number is not None
    return number


def agent_replies(database: Database, number: str, body: str) -> None:
    from ticketing.services.tickets import get_ticket

    with database.sessions.begin() as session:
        ticket = get_ticket(session, number=number)
        thread.post_message(session, ticket=ticket, principal=AGENT, body=body)


def resolve(database: Database, number: str) -> None:
    from ticketing.services.tickets import get_ticket

    with database.sessions.begin() as session:
        ticket = get_ticket(session, number=number)
        lifecycle.transition(session, ticket=ticket, to=TicketStatus.RESOLVED, principal=AGENT)


def rows(database: Database) -> list[RelayDelivery]:
    with database.sessions() as session:
        return list(session.scalars(select(RelayDelivery).order_by(RelayDelivery.id)))


def test_a_reply_is_triggered_in_the_customers_conversation(
    clean_database: Database,
    vault: Vault,
    settings: Settings,
    rasa: tuple[FakeRasa, httpx.Client],
) -> None:
    fake, client = rasa
    # The agent introduces themselves: a name, so the stored copy is masked and the relay
    # (which holds the data keys, as in the API) delivers the full text.
    keyed = Database.from_settings(settings)
    with clean_database.sessions() as session:
        make_staff(session, "wang.fang")
    with clean_database.sessions.begin() as session:
        session.execute(
            update(Agent).where(Agent.username == "wang.fang").values(display_name="王芳")
        )
    number = open_ticket(clean_database, vault)
    agent_replies(keyed, number, "您好，我是王芳，正在为您处理。")
    with keyed.sessions() as session:
        stored = session.scalars(select(TicketMessage.body)).all()
    assert "您好，我是王*，正在为您处理。" in stored

    result = delivery_worker.run_once(keyed, RASA, client)

    assert result.delivered == 1
    [(path, params, body)] = fake.requests
    # The sender id is one path segment, whatever it contains.
    # The conversation the widget connector named (web:<session>), as Rasa's raw path
    # route reads it (Sanic does not percent-decode a path parameter).
    assert path == "/conversations/web:widget/1/trigger_intent"
    # No secret in the URL: the relay signs a short-lived admin JWT instead.
    assert params == {"output_channel": "latest"}
    [claims] = fake.claims
    assert claims["user"] == {"username": "desk-relay", "role": "admin"}
    assert 0 < int(claims["exp"]) - int(claims["iat"]) <= 60
    assert body == {
        "name": "agent_reply",
        "entities": {
            "agent_message": "您好，我是王芳，正在为您处理。",
            "agent_name": "王芳",
            "ticket_number": number,
        },
    }
    assert rows(clean_database)[0].delivered_at is not None
    # Delivered once: a second pass sends nothing.
    assert delivery_worker.run_once(keyed, RASA, client).delivered == 0
    keyed.dispose()


def test_resolving_hands_the_conversation_back_then_asks_for_a_rating(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    number = open_ticket(clean_database, vault)
    resolve(clean_database, number)

    delivery_worker.run_once(clean_database, RASA, client)

    assert [(path.rsplit("/", 1)[-1], body) for path, _, body in fake.requests] == [
        ("events", [{"event": "slot", "name": "handoff_ticket", "value": None}]),
        ("trigger_intent", {"name": "ticket_resolved", "entities": {"ticket_number": number}}),
    ]


def test_rasa_down_keeps_the_reply_and_the_order_until_it_is_back(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    number = open_ticket(clean_database, vault)
    agent_replies(clean_database, number, "first")
    agent_replies(clean_database, number, "second")
    fake.statuses = [503]

    result = delivery_worker.run_once(clean_database, RASA, client)

    # The first failed; the second waited behind it instead of overtaking it.
    assert (result.delivered, result.retried) == (0, 1)
    assert len(fake.requests) == 1
    first, second = rows(clean_database)
    assert first.attempts == 1 and first.last_error == "Rasa answered 503"
    assert second.attempts == 0

    with clean_database.sessions.begin() as session:
        session.get(RelayDelivery, first.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    result = delivery_worker.run_once(clean_database, RASA, client)

    assert result.delivered == 2
    sent = [body["entities"]["agent_message"] for _, _, body in fake.requests]
    assert sent == ["first", "first", "second"]


def test_an_unreachable_rasa_is_a_retry_not_a_crash(clean_database: Database, vault: Vault) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    number = open_ticket(clean_database, vault)
    agent_replies(clean_database, number, "hello")
    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        result = delivery_worker.run_once(clean_database, RASA, client)
    assert result.retried == 1
    assert rows(clean_database)[0].last_error == "Rasa unreachable: ConnectError"


def test_the_worker_thread_delivers_and_stops(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, _client = rasa
    number = open_ticket(clean_database, vault)
    agent_replies(clean_database, number, "hello")
    worker = delivery_worker.RelayWorker(
        clean_database, RASA, interval_seconds=0.05, transport=httpx.MockTransport(fake)
    )
    worker.start()
    try:
        deadline = utcnow() + timedelta(seconds=5)
        while not fake.requests and utcnow() < deadline:
            worker.join(0.05)
    finally:
        worker.stop()
    assert not worker.is_alive()
    assert len(fake.requests) == 1


def test_a_handback_clears_the_handoff_and_tells_the_customer(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    from ticketing.services.tickets import get_ticket

    fake, client = rasa
    number = open_ticket(clean_database, vault)
    with clean_database.sessions.begin() as session:
        outbox.hand_back(session, ticket=get_ticket(session, number=number), principal=AGENT)

    delivery_worker.run_once(clean_database, RASA, client)

    assert [(path.rsplit("/", 1)[-1], body) for path, _, body in fake.requests] == [
        ("events", [{"event": "slot", "name": "handoff_ticket", "value": None}]),
        ("trigger_intent", {"name": "handed_back", "entities": {"ticket_number": number}}),
    ]


def test_rasa_refuses_a_relay_signing_with_another_secret(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    with clean_database.sessions() as session:
        make_staff(session, "wang.fang")
    number = open_ticket(clean_database, vault)
    agent_replies(clean_database, number, "您好")
    wrong = delivery_worker.RasaConversations(
        "http://rasa.test", "another-secret-of-32-characters!!"
    )

    result = delivery_worker.run_once(clean_database, wrong, client)

    assert result.delivered == 0 and result.retried == 1
    assert fake.requests == []
