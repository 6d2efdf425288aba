from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing.enums import AuthorType, Category, Priority, TicketStatus
from ticketing.errors import Conflict
from ticketing.models import Queue, Ticket, TicketEvent
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import queues as queues_service
from ticketing.services.history import change_fields
from ticketing.services.tickets import (
    TicketNotFound,
    create_ticket,
    default_subject,
    get_ticket,
    normalise_ticket_number,
)

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
AGENT = Principal(name="agent:wang", role=Role.AGENT)
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def payload(**overrides: object) -> TicketCreate:
    return TicketCreate.model_validate(ticket_payload(**overrides))


class TestCreateTicket:
    def test_routes_prioritises_and_sets_dues(self, session: Session, vault: Vault) -> None:
        creation = create_ticket(
            session,
            vault=vault,
            principal=BOT,
            payload=payload(category="account_security"),
            now=NOW,
        )
        ticket = creation.ticket
        assert creation.created
        assert ticket.number == "SD-100001"
        assert ticket.status is TicketStatus.NEW
        assert ticket.queue.key == "account_security"
        assert ticket.priority is Priority.HIGH
        assert ticket.first_response_due_at == NOW + timedelta(minutes=60)
        assert ticket.resolution_due_at == NOW + timedelta(minutes=480)

    def test_urgency_hint_raises_priority(self, session: Session, vault: Vault) -> None:
        ticket = create_ticket(
            session, vault=vault, principal=BOT, payload=payload(urgency="urgent"), now=NOW
        ).ticket
        assert ticket.priority is Priority.URGENT
        assert ticket.first_response_due_at == NOW + timedelta(minutes=15)

    def test_missing_category_is_general(self, session: Session, vault: Vault) -> None:
        ticket = create_ticket(
            session, vault=vault, principal=BOT, payload=payload(category=None)
        ).ticket
        assert (ticket.category, ticket.queue.key) == (Category.GENERAL, "general")
        assert ticket.priority is Priority.LOW

    def test_numbers_follow_ids(self, session: Session, vault: Vault) -> None:
        numbers = [
            create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket.number
            for _ in range(3)
        ]
        assert numbers == ["SD-100001", "SD-100002", "SD-100003"]

    def test_thread_and_history(self, session: Session, vault: Vault) -> None:
        ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        first, *transcript = ticket.messages
        assert (first.author_type, first.body, first.public) == (
            AuthorType.CUSTOMER,
            "我的宽带从昨天开始就连不上了",
            True,
        )
        assert [(m.author_type, m.public) for m in transcript] == [
            (AuthorType.CUSTOMER, False),
            (AuthorType.BOT, False),
        ]
        events = session.scalars(select(TicketEvent)).all()
        assert [(e.field, e.actor, e.new_value) for e in events] == [
            ("created", "bot_service", "new")
        ]

    def test_contact_is_encrypted(self, session: Session, vault: Vault) -> None:
        ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        assert ticket.contact_enc is not None
        assert "13800138000" not in ticket.contact_enc
        assert "+8613800138000" in vault.decrypt(ticket.contact_enc)

    def test_same_idempotency_key_returns_same_ticket(self, session: Session, vault: Vault) -> None:
        first = create_ticket(
            session, vault=vault, principal=BOT, payload=payload(), idempotency_key="k-1"
        )
        again = create_ticket(
            session, vault=vault, principal=BOT, payload=payload(), idempotency_key="k-1"
        )
        assert (first.created, again.created) == (True, False)
        assert again.ticket.number == first.ticket.number
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1

    def test_same_key_other_body_conflicts(self, session: Session, vault: Vault) -> None:
        create_ticket(session, vault=vault, principal=BOT, payload=payload(), idempotency_key="k")
        with pytest.raises(Conflict) as caught:
            create_ticket(
                session,
                vault=vault,
                principal=BOT,
                payload=payload(description="另一个问题"),
                idempotency_key="k",
            )
        assert caught.value.code == "idempotency_key_reused"

    def test_keys_are_per_principal(self, session: Session, vault: Vault) -> None:
        a = create_ticket(
            session, vault=vault, principal=BOT, payload=payload(), idempotency_key="k"
        )
        b = create_ticket(
            session, vault=vault, principal=AGENT, payload=payload(), idempotency_key="k"
        )
        assert a.ticket.id != b.ticket.id


class TestWrittenWithoutTheOrm:
    """Creation writes with Core INSERTs; what it hands back is what the database holds."""

    def test_the_new_ticket_is_what_a_read_finds(self, session: Session, vault: Vault) -> None:
        ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        # In the session as loaded: changing it is an ordinary, versioned UPDATE.
        change_fields(session, ticket=ticket, actor="agent:wang", changes={"priority": "high"})
        session.expire_all()
        stored = get_ticket(session, number=ticket.number or "")
        assert (stored.priority, stored.version, stored.subject) == ("high", 2, ticket.subject)
        assert [m.id for m in stored.messages] == sorted(m.id for m in stored.messages)
        assert stored.messages[0].body == "我的宽带从昨天开始就连不上了"
        assert stored.updated_at > stored.created_at

    def test_a_remembered_queue_renamed_meanwhile_is_checked_not_trusted(
        self, session: Session, vault: Vault
    ) -> None:
        first = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        queue_id, name = first.queue.id, first.queue.name_en
        # Another instance (an older policy) renamed the row this process remembers.
        session.execute(update(Queue).where(Queue.id == queue_id).values(name_en="Old name"))
        session.expire_all()
        second = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        assert (second.queue.id, second.queue.name_en) == (queue_id, name)
        assert session.scalar(select(Queue.name_en).where(Queue.id == queue_id)) == name

    def test_a_remembered_queue_that_is_gone_is_made_again(
        self, session: Session, vault: Vault
    ) -> None:
        first = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        # What this process remembers points at a row that is not there (a restore).
        queues_service.remember(
            Queue(id=first.queue.id + 1000, key="general", name_en="General", name_zh="综合")
        )
        ticket = create_ticket(
            session, vault=vault, principal=BOT, payload=payload(category=None)
        ).ticket
        stored = session.scalar(select(Queue).where(Queue.key == "general"))
        assert stored is not None and ticket.queue_id == stored.id != first.queue.id + 1000

    def test_a_transcript_keeps_its_order_and_is_sealed(
        self, session: Session, vault: Vault
    ) -> None:
        body = payload(
            transcript=[
                {"author_type": "customer", "body": f"line {n}: call 1381234{n:04d}"}
                for n in range(5)
            ]
        )
        ticket = create_ticket(session, vault=vault, principal=BOT, payload=body).ticket
        session.expire_all()
        stored = get_ticket(session, number=ticket.number or "")
        lines = [m for m in stored.messages if not m.public]
        assert [m.body for m in lines] == [f"line {n}: call 138****{n:04d}" for n in range(5)]
        assert [vault.decrypt(m.body_enc or "") for m in lines] == [
            f"line {n}: call 1381234{n:04d}" for n in range(5)
        ]


class TestGetTicket:
    def test_any_case(self, session: Session, vault: Vault) -> None:
        create_ticket(session, vault=vault, principal=BOT, payload=payload())
        assert get_ticket(session, number=" sd-100001 ").number == "SD-100001"

    @pytest.mark.parametrize("number", ["SD-999999", "hello", "SD-", "100001"])
    def test_unknown_or_malformed(self, session: Session, vault: Vault, number: str) -> None:
        create_ticket(session, vault=vault, principal=BOT, payload=payload())
        with pytest.raises(TicketNotFound) as caught:
            get_ticket(session, number=number)
        assert caught.value.code == "ticket_not_found"


def test_default_subject_is_first_line_shortened() -> None:
    assert default_subject("line one\nline two") == "line one"
    assert len(default_subject("x" * 500)) == 80


def test_normalise_ticket_number() -> None:
    assert normalise_ticket_number("sd-100042") == "SD-100042"
    assert normalise_ticket_number("SD-12") is None
