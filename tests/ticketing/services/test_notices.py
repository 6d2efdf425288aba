"""Progress notices: what the customer is told, when, and whether at all."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff, ticket_payload
from ticketing.enums import AuthorType, Priority, TicketStatus
from ticketing.models import Agent, Customer, RelayDelivery, Ticket, TicketMessage
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import assignment, contact, lifecycle, notices, outbox, sla_scan, thread
from ticketing.services.tickets import create_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai: outside the default quiet hours.
DAY = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
# 23:30 in Shanghai: inside them.
NIGHT = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
AGENT = Principal(name="staff:wang.fang", role=Role.AGENT, agent_id=1)


def bot_for(sender: str) -> Principal:
    return Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=("web", sender))


def new_ticket(
    session: Session, vault: Vault, *, opened: datetime, sender: str = "widget-1", **fields: object
) -> Ticket:
    payload = TicketCreate.model_validate(
        ticket_payload(customer={"channel": "web", "external_id": sender}, **fields)
    )
    return create_ticket(
        session, vault=vault, principal=bot_for(sender), payload=payload, now=opened, assign=False
    ).ticket


def set_preferences(session: Session, ticket: Ticket, **preferences: object) -> None:
    customer = session.get(Customer, ticket.customer_id)
    assert customer is not None
    customer.contact_preferences = dict(preferences)
    session.flush()


def deliveries(session: Session) -> list[RelayDelivery]:
    session.flush()
    return list(session.scalars(select(RelayDelivery).order_by(RelayDelivery.id)))


def notice_messages(session: Session, ticket: Ticket) -> list[TicketMessage]:
    session.flush()
    return list(
        session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id, TicketMessage.author_name == "notice")
            .order_by(TicketMessage.id)
        )
    )


def assign(session: Session, ticket: Ticket, *, now: datetime) -> None:
    make_staff(session, "wang.fang", queues=[ticket.queue.key])
    session.refresh(ticket)
    assert assignment.assign_new_ticket(session, ticket=ticket, now=now) is not None


class TestQuietHours:
    @pytest.mark.parametrize(
        ("local", "window", "until"),
        [
            ("2026-11-24 23:30", None, "2026-11-25 08:00"),
            ("2026-11-25 07:59", None, "2026-11-25 08:00"),
            ("2026-11-25 08:00", None, None),
            ("2026-11-24 21:59", None, None),
            ("2026-11-24 13:15", ["13:00", "14:00"], "2026-11-24 14:00"),
            ("2026-11-24 23:30", ["09:00", "09:00"], None),
        ],
    )
    def test_the_window_in_the_customers_zone(
        self, local: str, window: list[str] | None, until: str | None
    ) -> None:
        now = datetime.fromisoformat(local).replace(tzinfo=SHANGHAI)
        preferences = {"quiet_hours": window} if window else {}
        ends = contact.quiet_until(preferences, now.astimezone(UTC))
        expected = datetime.fromisoformat(until).replace(tzinfo=SHANGHAI) if until else None
        assert ends == expected

    def test_another_time_zone_moves_the_window(self) -> None:
        # 23:30 in Shanghai is 16:30 in Paris: not quiet there.
        assert contact.quiet_until({"time_zone": "Europe/Paris"}, NIGHT) is None
        assert contact.quiet_until({}, NIGHT) is not None

    def test_opting_out_by_flag_or_by_channel(self) -> None:
        assert contact.opted_out({"notifications": False}, "web")
        assert contact.opted_out({"channels": ["wechat"]}, "web")
        assert not contact.opted_out({"channels": ["web", "wechat"]}, "web")
        assert not contact.opted_out({}, "voice")


class TestAnnounce:
    def test_assignment_tells_the_customer_who_and_when_in_their_language(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, opened=DAY - timedelta(hours=1))
        assign(session, ticket, now=DAY)
        [message] = notice_messages(session, ticket)
        due = ticket.first_response_due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
        assert message.public and message.author_type is AuthorType.SYSTEM
        agent = session.get(Agent, ticket.assignee_id)
        assert agent is not None
        assert message.body.startswith(f"工单 {ticket.number} 已由客服{agent.display_name}负责")
        assert f"预计 {due} 前回复您" in message.body
        [delivery] = deliveries(session)
        assert (delivery.kind, delivery.notice, delivery.message_id) == (
            outbox.NOTICE,
            notices.ASSIGNED,
            message.id,
        )
        assert delivery.next_attempt_at == DAY

    def test_english_customers_read_english(self, session: Session, vault: Vault) -> None:
        payload = TicketCreate.model_validate(
            ticket_payload("en", customer={"channel": "web", "external_id": "w-en"})
        )
        ticket = create_ticket(
            session, vault=vault, principal=bot_for("w-en"), payload=payload, now=DAY, assign=False
        ).ticket
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=DAY
        )
        [message] = notice_messages(session, ticket)
        assert message.body == (
            f"{ticket.number}: we need a little more from you. Please reply here when you can."
        )

    def test_quiet_hours_hold_the_notice_until_they_end(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, opened=NIGHT - timedelta(hours=3))
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=NIGHT
        )
        [delivery] = deliveries(session)
        assert delivery.next_attempt_at == datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
        assert outbox.due(session, now=NIGHT + timedelta(minutes=5)) == []
        states = notices.delivery_states(session, ticket_id=ticket.id, now=NIGHT)
        assert [s.status for s in states.values()] == ["held"]
        morning = datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
        assert outbox.due(session, now=morning) == [delivery]

    def test_urgent_tickets_are_not_held(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault, opened=NIGHT - timedelta(hours=3))
        ticket.priority = Priority.URGENT
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=NIGHT
        )
        [delivery] = deliveries(session)
        assert delivery.next_attempt_at == NIGHT

    def test_a_customer_who_is_writing_is_answered_at_night(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, opened=NIGHT - timedelta(minutes=10))
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=NIGHT
        )
        assert [d.next_attempt_at for d in deliveries(session)] == [NIGHT]

    def test_held_notices_go_first_when_the_customer_comes_back(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, opened=NIGHT - timedelta(hours=3))
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=NIGHT
        )
        later = NIGHT + timedelta(minutes=20)
        thread.post_message(
            session, ticket=ticket, principal=bot_for("widget-1"), body="在吗？", now=later
        )
        thread.post_message(session, ticket=ticket, principal=AGENT, body="在的", now=later)
        held, reply = deliveries(session)
        assert (held.kind, reply.kind) == (outbox.NOTICE, outbox.REPLY)
        assert held.next_attempt_at <= later
        # In order: the notice first, the reply once the notice is delivered.
        assert outbox.due(session, now=later) == [held]

    def test_opting_out_stops_notices_but_not_replies(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault, opened=DAY - timedelta(hours=3))
        set_preferences(session, ticket, notifications=False)
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=DAY
        )
        thread.post_message(session, ticket=ticket, principal=AGENT, body="请提供订单号", now=DAY)
        assert [d.kind for d in deliveries(session)] == [outbox.REPLY]
        [note] = notice_messages(session, ticket)
        assert not note.public and "opted out" in note.body

    def test_a_channel_not_allowed_gets_no_notice(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault, opened=DAY - timedelta(hours=3))
        set_preferences(session, ticket, channels=["wechat"])
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=DAY
        )
        assert deliveries(session) == []

    def test_resolution_is_on_the_thread_and_goes_as_the_handback(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, opened=DAY - timedelta(hours=3))
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.RESOLVED, principal=AGENT, now=DAY
        )
        [delivery] = deliveries(session)
        [message] = notice_messages(session, ticket)
        assert (delivery.kind, delivery.message_id) == (outbox.RESOLVED, message.id)
        assert message.body.startswith(f"工单 {ticket.number} 已解决")

    def test_a_ticket_without_a_conversation_is_not_announced(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, opened=DAY)
        ticket.conversation_id = None
        assert notices.announce(session, ticket=ticket, notice=notices.WAITING, now=DAY) is None
        assert notice_messages(session, ticket) == []


class TestLate:
    def test_a_missed_due_time_is_announced_once_with_the_new_time(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, opened=DAY - timedelta(hours=1))
        missed = ticket.first_response_due_at + timedelta(minutes=1)
        assert sla_scan.scan(session, now=missed).breaches == 1
        assert sla_scan.scan(session, now=missed + timedelta(minutes=1)).breaches == 0
        late = [d for d in deliveries(session) if d.notice == notices.LATE]
        assert len(late) == 1
        [message] = [m for m in notice_messages(session, ticket) if m.id == late[0].message_id]
        new_time = (missed + timedelta(hours=1)).astimezone(SHANGHAI).strftime("%m-%d %H:%M")
        assert message.body.endswith(f"新的预计时间：{new_time}。")
