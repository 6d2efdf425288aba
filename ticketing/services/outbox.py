"""The relay outbox: what must reach the customer's conversation, and its retries.

An agent's public reply, and a ticket becoming resolved, are written to the relay
outbox (``relay_deliveries``) in the same transaction as the change itself. The
delivery worker (:mod:`ticketing.delivery_worker`) delivers them to Rasa in order, one
ticket at a time, retrying with back-off while Rasa or the channel is down. Nothing is
lost: a delivery that keeps failing for a day is marked failed and the agents are told
on the ticket.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ticketing.conversations import PREFIXED_CHANNELS
from ticketing.conversations import REST as REST_CHANNEL
from ticketing.enums import AuthorType
from ticketing.errors import Conflict
from ticketing.models import RelayDelivery, Ticket, TicketMessage, utcnow
from ticketing.principals import Principal
from ticketing.repositories import outbox as outbox_repo
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
        outbox_repo.release_held(session, ticket.id, now=moment)
    return outbox_repo.add(
        session,
        RelayDelivery(
            ticket_id=ticket.id,
            kind=kind,
            notice=notice,
            message_id=message_id,
            conversation_id=ticket.conversation_id,
            attempts=0,
            created_at=moment,
            next_attempt_at=decision.send_at if decision is not None else moment,
        ),
    )


def conversation_channel(conversation_id: str) -> str:
    """The desk channel a Rasa conversation id names (web, wechat, voice, rest)."""
    prefix, separator, _ = conversation_id.partition(":")
    return prefix if separator and prefix in PREFIXED_CHANNELS else REST_CHANNEL


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
    session.flush()  # the desk's sessions don't autoflush; see this session's own changes
    return outbox_repo.due(session, now=now or utcnow(), limit=limit)


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
