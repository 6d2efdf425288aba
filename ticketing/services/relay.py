"""Live handoff, the desk's side: what must reach the customer's conversation.

An agent's public reply, and a ticket becoming resolved, are written to the relay
outbox (``relay_deliveries``) in the same transaction as the change itself. The relay
worker (:mod:`ticketing.relay`) delivers them to Rasa in order, one ticket at a time,
retrying with back-off while Rasa or the channel is down. Nothing is lost: a delivery
that keeps failing for a day is marked failed and the agents are told on the ticket.

While a ticket waits for an agent, the customer may ask where they stand:
:func:`queue_position` counts the unassigned tickets of the same queue that an agent
will take first (earliest first-response deadline first, as the console sorts them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from ticketing.conversations import PREFIXED_CHANNELS
from ticketing.conversations import REST as REST_CHANNEL
from ticketing.enums import AuthorType, TicketStatus
from ticketing.errors import Conflict
from ticketing.models import RelayDelivery, Ticket, TicketMessage, utcnow
from ticketing.principals import Principal
from ticketing.repositories import tickets as tickets_repo
from ticketing.services import contact

REPLY = "reply"
RESOLVED = "resolved"
HANDBACK = "handback"
# A progress notice (ticketing.services.notices): a short text the channel says itself.
NOTICE = "notice"
KINDS = frozenset({REPLY, RESOLVED, HANDBACK, NOTICE})
# What reaches the customer unasked, so their contact preferences apply (a handback
# happens while they are talking to the agent).
CUSTOMER_FACING = frozenset({REPLY, RESOLVED, NOTICE})

# Back-off between attempts: 2, 4, 8 ... seconds, at most five minutes apart; after
# a day of failures the delivery is given up and the agents are told.
FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 300.0
GIVE_UP_AFTER = timedelta(days=1)
# How long a relay holds a delivery it is sending before another may try it.
LEASE = timedelta(seconds=60)

# Statuses in which a ticket waits in its queue for an agent to pick it up.
WAITING_STATUSES = (TicketStatus.NEW, TicketStatus.ESCALATED)


def enqueue(
    session: Session,
    *,
    ticket: Ticket,
    kind: str,
    message_id: int | None = None,
    notice: str | None = None,
    decision: contact.Decision | None = None,
    now: datetime | None = None,
) -> RelayDelivery | None:
    """Queue a delivery to the ticket's conversation; None when it has none (e-mail, API)
    or the customer opted out of it.

    What reaches the customer unasked follows their contact preferences
    (:mod:`ticketing.services.contact`): during their quiet hours it waits until they end.
    A delivery that goes now whatever the hour (the customer is writing, the ticket is
    urgent) releases the ticket's held ones, which go first, in order.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown relay kind {kind!r}")
    if not ticket.conversation_id:
        return None
    moment = now or utcnow()
    if decision is None and kind in CUSTOMER_FACING:
        decision = contact.decide(
            session,
            ticket=ticket,
            channel=conversation_channel(ticket.conversation_id),
            notice=kind == NOTICE,
            now=moment,
        )
    if decision is not None and decision.skipped:
        return None
    if decision is not None and decision.releases:
        _release_held(session, ticket.id, now=moment)
    delivery = RelayDelivery(
        ticket_id=ticket.id,
        kind=kind,
        notice=notice,
        message_id=message_id,
        conversation_id=ticket.conversation_id,
        attempts=0,
        created_at=moment,
        next_attempt_at=decision.send_at if decision is not None else moment,
    )
    session.add(delivery)
    session.flush()
    return delivery


def conversation_channel(conversation_id: str) -> str:
    """The desk channel a Rasa conversation id names (web, wechat, voice, rest)."""
    prefix, separator, _ = conversation_id.partition(":")
    return prefix if separator and prefix in PREFIXED_CHANNELS else REST_CHANNEL


def _release_held(session: Session, ticket_id: int, *, now: datetime) -> None:
    """Deliveries held for quiet hours go now (never those waiting out a retry)."""
    session.execute(
        update(RelayDelivery)
        .where(
            RelayDelivery.ticket_id == ticket_id,
            RelayDelivery.delivered_at.is_(None),
            RelayDelivery.failed_at.is_(None),
            RelayDelivery.attempts == 0,
            RelayDelivery.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        # Loaded deliveries see the change (the relay may hold them in this session).
        .execution_options(synchronize_session="fetch")
    )


class NoConversation(Conflict):
    code = "no_conversation"


def hand_back(
    session: Session, *, ticket: Ticket, principal: Principal, now: datetime | None = None
) -> RelayDelivery:
    """An agent gives the conversation back to the bot without resolving the ticket."""
    if not ticket.conversation_id:
        raise NoConversation(
            f"{ticket.number} has no chat, WeChat or call conversation to hand back"
        )
    who = principal.name.removeprefix("staff:")
    _note_for_agents(
        session, ticket.id, f"{who} handed the conversation back to the assistant.", now=now
    )
    delivery = enqueue(session, ticket=ticket, kind=HANDBACK)
    assert delivery is not None
    return delivery


def _note_for_agents(
    session: Session, ticket_id: int, body: str, *, now: datetime | None = None
) -> None:
    """An internal note from the relay on the ticket's thread."""
    tickets_repo.add_message(
        session,
        TicketMessage(
            ticket_id=ticket_id,
            author_type=AuthorType.SYSTEM,
            author_name="relay",
            body=body,
            public=False,
            created_at=now or utcnow(),
        ),
    )


def due(session: Session, *, now: datetime | None = None, limit: int = 20) -> list[RelayDelivery]:
    """Deliveries to attempt now: for each ticket only its oldest undelivered one, so a
    customer never reads a later reply before an earlier one that is still retrying.

    On PostgreSQL the rows are claimed with SKIP LOCKED, so several relays (API workers,
    hosts) never send the same delivery twice at once.
    """
    moment = now or utcnow()
    session.flush()  # the desk's sessions don't autoflush; see this session's own changes
    earlier = aliased(RelayDelivery)
    blocked = exists().where(
        earlier.ticket_id == RelayDelivery.ticket_id,
        earlier.id < RelayDelivery.id,
        earlier.delivered_at.is_(None),
        earlier.failed_at.is_(None),
    )
    query = (
        select(RelayDelivery)
        .where(
            RelayDelivery.delivered_at.is_(None),
            RelayDelivery.failed_at.is_(None),
            RelayDelivery.next_attempt_at <= moment,
            ~blocked,
        )
        .order_by(RelayDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=RelayDelivery)
    return list(session.scalars(query))


def lease(delivery: RelayDelivery, *, now: datetime | None = None) -> None:
    """Hold the delivery for one attempt: no relay picks it up again until the lease ends."""
    delivery.next_attempt_at = (now or utcnow()) + LEASE


def mark_delivered(delivery: RelayDelivery, *, now: datetime | None = None) -> None:
    """The conversation has it."""
    delivery.delivered_at = now or utcnow()
    delivery.attempts += 1
    delivery.last_error = None


def mark_failed_attempt(
    session: Session, delivery: RelayDelivery, *, error: str, now: datetime | None = None
) -> bool:
    """Schedule the next attempt; True when the delivery was given up for good."""
    moment = now or utcnow()
    delivery.attempts += 1
    delivery.last_error = error[:300]
    if moment - delivery.created_at >= GIVE_UP_AFTER:
        delivery.failed_at = moment
        _note_for_agents(
            session,
            delivery.ticket_id,
            f"Could not deliver the {delivery.kind} to the customer's conversation "
            f"for a day ({delivery.last_error}); please contact them another way.",
            now=moment,
        )
        return True
    wait = min(FIRST_RETRY_SECONDS * 2 ** (delivery.attempts - 1), MAX_RETRY_SECONDS)
    delivery.next_attempt_at = moment + timedelta(seconds=wait)
    return False


@dataclass(frozen=True)
class QueuePosition:
    """Where a ticket stands: its place among the waiting tickets of its queue, or the
    agent who holds it."""

    status: TicketStatus
    queue: str
    queue_names: dict[str, str]
    position: int | None
    waiting: int
    assignee: str | None


def queue_position(session: Session, *, ticket: Ticket) -> QueuePosition:
    """The ticket's place in its queue (1 = next), None when it is not waiting."""
    waiting_filter = and_(
        Ticket.queue_id == ticket.queue_id,
        Ticket.status.in_(WAITING_STATUSES),
        Ticket.assignee_id.is_(None),
    )
    waiting = session.scalar(select(func.count()).select_from(Ticket).where(waiting_filter)) or 0
    is_waiting = ticket.status in WAITING_STATUSES and ticket.assignee_id is None
    position = None
    if is_waiting:
        ahead = session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(
                waiting_filter,
                or_(
                    Ticket.first_response_due_at < ticket.first_response_due_at,
                    and_(
                        Ticket.first_response_due_at == ticket.first_response_due_at,
                        Ticket.id < ticket.id,
                    ),
                ),
            )
        )
        position = (ahead or 0) + 1
    return QueuePosition(
        status=ticket.status,
        queue=ticket.queue.key,
        queue_names={"en": ticket.queue.name_en, "zh": ticket.queue.name_zh},
        position=position,
        waiting=waiting,
        assignee=ticket.assignee.display_name if ticket.assignee else None,
    )
