"""A small desk history with known numbers, for the reports' tests.

Six tickets at fixed times around ``NOW`` (2026-11-20 12:00 UTC); ``REPORT_FROM`` is
seven days earlier. Every figure the reports should compute from it is worked out by
hand in the tests that use it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff
from ticketing.enums import AuthorType, Category, Channel, Priority, TicketStatus
from ticketing.models import (
    Customer,
    SatisfactionRating,
    Ticket,
    TicketEvent,
    TicketMessage,
    ticket_number,
)
from ticketing.repositories import queues as queues_repo
from ticketing.routing import default_policy
from ticketing.services.queues import ensure_queue

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
REPORT_FROM = NOW - timedelta(days=7)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def build_report_dataset(session: Session) -> dict[str, str]:
    """Insert the six tickets (committed); returns their numbers by name (t1..t6)."""
    definitions = {q.key: q for q in default_policy().queues}
    for key in ("technical_support", "billing"):
        ensure_queue(session, definitions[key])
    agent = make_staff(session, "report.agent", queues=["technical_support", "billing"])
    tech = queues_repo.get_by_key(session, "technical_support")
    billing = queues_repo.get_by_key(session, "billing")
    assert tech is not None and billing is not None
    customer = Customer(language="zh", contact_preferences={})
    session.add(customer)
    session.flush()

    specs = [
        # name, queue, channel, category, created, by bot, status, assignee,
        # first response after, resolved after, priority
        (
            "t1",
            tech,
            Channel.REST,
            Category.TECHNICAL_SUPPORT,
            _at(18, 9, 10),
            True,
            TicketStatus.RESOLVED,
            agent.id,
            10 * M,
            2 * H,
            Priority.NORMAL,
        ),
        (
            "t2",
            tech,
            Channel.WECHAT,
            Category.TECHNICAL_SUPPORT,
            _at(18, 9, 40),
            False,
            TicketStatus.RESOLVED,
            agent.id,
            2 * H,
            30 * H,
            Priority.NORMAL,
        ),
        (
            "t3",
            billing,
            Channel.WEB,
            Category.BILLING,
            _at(19, 10),
            False,
            TicketStatus.NEW,
            None,
            None,
            None,
            Priority.NORMAL,
        ),
        (
            "t4",
            billing,
            Channel.REST,
            Category.BILLING,
            _at(20, 9),
            True,
            TicketStatus.CLOSED,
            None,
            None,
            None,
            Priority.NORMAL,
        ),
        (
            "t5",
            tech,
            Channel.REST,
            Category.TECHNICAL_SUPPORT,
            _at(20, 11, 10),
            True,
            TicketStatus.NEW,
            None,
            None,
            None,
            Priority.HIGH,
        ),
        (
            "t6",
            tech,
            Channel.REST,
            Category.TECHNICAL_SUPPORT,
            _at(10, 8),
            True,
            TicketStatus.CLOSED,
            None,
            None,
            None,
            Priority.NORMAL,
        ),
    ]
    targets = {Priority.NORMAL: (240, 1440), Priority.HIGH: (60, 480)}
    numbers: dict[str, str] = {}
    for (
        name,
        queue,
        channel,
        category,
        created,
        by_bot,
        status,
        assignee,
        first_after,
        resolved_after,
        priority,
    ) in specs:
        first_minutes, resolution_minutes = targets[priority]
        ticket = Ticket(
            status=status,
            priority=priority,
            category=category,
            queue_id=queue.id,
            channel=channel,
            language="zh",
            customer_id=customer.id,
            assignee_id=assignee,
            subject=f"report ticket {name}",
            description=f"report ticket {name}",
            first_response_due_at=created + timedelta(minutes=first_minutes),
            resolution_due_at=created + timedelta(minutes=resolution_minutes),
            first_response_warning_at=created + timedelta(minutes=first_minutes * 0.8),
            resolution_warning_at=created + timedelta(minutes=resolution_minutes * 0.8),
            first_responded_at=created + first_after if first_after else None,
            resolved_at=created + resolved_after if resolved_after else None,
            closed_at=_at(20, 9, 5) if name == "t4" else None,
            created_at=created,
            updated_at=created,
        )
        session.add(ticket)
        session.flush()
        ticket.number = ticket_number(ticket.id)
        numbers[name] = ticket.number
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor="bot_service" if by_bot else "staff:report.agent",
                field="created",
                new_value="new",
                created_at=created,
            )
        )
        if first_after:
            session.add(
                TicketMessage(
                    ticket_id=ticket.id,
                    author_type=AuthorType.AGENT,
                    author_name="report.agent",
                    body="on it",
                    public=True,
                    created_at=created + first_after,
                )
            )
        session.flush()
    ratings = [("t1", 5, _at(18, 12)), ("t2", 2, _at(19, 16))]
    for name, score, at in ratings:
        ticket_id = int(numbers[name].removeprefix("SD-")) - 100000
        session.add(
            SatisfactionRating(
                ticket_id=ticket_id, customer_id=customer.id, score=score, created_at=at
            )
        )
    session.commit()
    return numbers
