"""The relay delivering progress notices to the channel connectors' ``/push`` route,
against the recording stand-in for Rasa (the connectors themselves are tested with each
channel's real client in tests/bot/channels/test_pushes.py)."""

from datetime import timedelta

import httpx
from sqlalchemy import select

from tests.support_service.factories import ticket_payload
from tests.ticketing.test_delivery_worker import RASA, FakeRasa, rasa, rows
from ticketing import delivery_worker
from ticketing.db import Database, make_session_factory
from ticketing.enums import TicketStatus
from ticketing.models import RelayDelivery, TicketMessage, utcnow
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import lifecycle, notices, thread
from ticketing.services.tickets import create_ticket, get_ticket

__all__ = ["rasa"]  # the fixture, shared with the relay worker's tests

AGENT = Principal(name="staff:wang.fang", role=Role.AGENT, agent_id=1)


def open_ticket(database: Database, vault: Vault, channel: str, sender: str) -> str:
    bot = Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=(channel, sender))
    payload = TicketCreate.model_validate(
        ticket_payload(customer={"channel": channel, "external_id": sender})
    )
    with database.sessions.begin() as session:
        ticket = create_ticket(session, vault=vault, principal=bot, payload=payload).ticket
    assert ticket.number is not None
    return ticket.number


def to_status(database: Database, number: str, status: TicketStatus) -> None:
    with database.sessions.begin() as session:
        ticket = get_ticket(session, number=number)
        lifecycle.transition(session, ticket=ticket, to=status, principal=AGENT)


def test_a_notice_goes_to_the_channels_push_route_before_the_reply_after_it(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    number = open_ticket(clean_database, vault, "wechat", "oOpenId42")
    to_status(clean_database, number, TicketStatus.PENDING)
    with clean_database.sessions.begin() as session:
        thread.post_message(
            session, ticket=get_ticket(session, number=number), principal=AGENT, body="订单号？"
        )

    assert delivery_worker.run_once(clean_database, RASA, client).delivered == 2

    (push_path, push_params, push_body), (reply_path, _, _) = fake.requests
    notice_row = rows(clean_database)[0]
    assert push_path == "/webhooks/wechat/push" and push_params == {}
    assert push_body == {
        "push_id": notice_row.id,
        "conversation_id": "wechat:oOpenId42",
        "text": f"工单 {number} 需要您补充一些信息，方便时请直接在这里回复。",
        "ticket_number": number,
        "notice": "waiting",
    }
    assert reply_path == "/conversations/wechat:oOpenId42/trigger_intent"
    # Signed like every request to Rasa: a short-lived admin JWT.
    assert all(int(c["exp"]) - int(c["iat"]) <= 60 for c in fake.claims)
    with clean_database.sessions() as session:
        states = notices.delivery_states(session, ticket_id=notice_row.ticket_id)
    assert sorted(s.status for s in states.values()) == ["sent", "sent"]


def test_a_rest_sender_gets_replies_and_the_resolution_through_the_push_route(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    number = open_ticket(clean_database, vault, "rest", "shop-app-7")
    with clean_database.sessions.begin() as session:
        thread.post_message(
            session, ticket=get_ticket(session, number=number), principal=AGENT, body="已退款"
        )
    to_status(clean_database, number, TicketStatus.RESOLVED)

    assert delivery_worker.run_once(clean_database, RASA, client).delivered == 2

    paths = [path for path, _, _ in fake.requests]
    assert paths == [
        "/webhooks/rest/push",
        "/conversations/shop-app-7/tracker/events",
        "/webhooks/rest/push",
    ]
    reply, resolved = fake.requests[0][2], fake.requests[2][2]
    assert (reply["notice"], reply["text"]) == ("reply", "wang.fang: 已退款")
    assert resolved["notice"] == "resolved" and resolved["text"].startswith(f"工单 {number}")


def test_a_channel_that_refuses_is_tried_again_later(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    number = open_ticket(clean_database, vault, "web", "0123456789abcdef0123")
    to_status(clean_database, number, TicketStatus.PENDING)
    fake.statuses = [502]

    result = delivery_worker.run_once(clean_database, RASA, client)

    assert (result.delivered, result.retried) == (0, 1)
    [row] = rows(clean_database)
    assert row.delivered_at is None and "socketio channel answered 502" in (row.last_error or "")
    with clean_database.sessions.begin() as session:
        delivery = session.get(RelayDelivery, row.id)
        assert delivery is not None
        delivery.next_attempt_at = utcnow() - timedelta(seconds=1)
    assert delivery_worker.run_once(clean_database, RASA, client).delivered == 1
    assert fake.requests[-1][0] == "/webhooks/socketio/push"
    with clean_database.sessions() as session:
        shown = session.scalar(select(TicketMessage).where(TicketMessage.id == row.message_id))
    assert shown is not None and shown.public


def test_a_notice_to_a_caller_carries_their_number_for_the_sms(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    # A relay with the data keys, as the API's and `python -m ticketing.delivery_worker` are.
    keyed = Database(
        engine=clean_database.engine,
        sessions=make_session_factory(clean_database.engine, vault=vault),
    )
    number = open_ticket(keyed, vault, "voice", "call-0042")
    to_status(keyed, number, TicketStatus.PENDING)

    assert delivery_worker.run_once(keyed, RASA, client).delivered == 1

    [(path, _, body)] = fake.requests
    assert path == "/webhooks/voice/push"
    # The template's customer phone, from the encrypted profile.
    assert body["sms_to"] == "+8613800138000"
    assert body["conversation_id"] == "voice:call-0042"


def test_other_channels_get_no_number(
    clean_database: Database, vault: Vault, rasa: tuple[FakeRasa, httpx.Client]
) -> None:
    fake, client = rasa
    number = open_ticket(clean_database, vault, "web", "abcdef0123456789abcd")
    to_status(clean_database, number, TicketStatus.PENDING)
    delivery_worker.run_once(clean_database, RASA, client)
    [(_, _, body)] = fake.requests
    assert "sms_to" not in body
