"""Progress pushed to the customer: short notices on the events that matter to them.

On a ticket that came from a conversation (the widget, WeChat, a call, a REST client),
the customer hears, in their language and on that channel:

- ``assigned``: a person took the ticket, and when to expect a reply;
- ``waiting``: the agent waits on them (status ``pending``);
- ``resolved``: the ticket is resolved (the bot then asks for a rating);
- ``late``: a due time was missed, with the new time (from the SLA scan, which claims
  its tickets, so several schedulers announce each miss once).

An agent's public reply reaches them as it is (the relay's ``reply`` kind). Each notice
is a public message on the ticket's thread (``author_name`` ``notice``) and a delivery in
the relay outbox written in the same transaction; the thread shows whether it was sent
(:func:`delivery_states`). The customer's contact preferences decide whether and when
(:mod:`ticketing.services.contact`). Texts live in ``ticketing/notices.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ticketing.enums import AuthorType
from ticketing.models import Customer, RelayDelivery, Ticket, TicketMessage, utcnow
from ticketing.repositories import outbox as outbox_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.services import contact, outbox

ASSIGNED = "assigned"
WAITING = "waiting"
RESOLVED = "resolved"
LATE = "late"
NOTICES = (ASSIGNED, WAITING, RESOLVED, LATE)
AUTHOR = "notice"


def render(notice: str, language: str, **values: str) -> str:
    """A notice's text in ``language`` (English when the language has none)."""
    texts = contact.notice_config()["texts"].get(notice)
    if not isinstance(texts, dict):
        raise ValueError(f"notices.yml has no text for {notice!r}")
    template = texts.get(language) or texts["en"]
    return str(template).format(**values)


def late_extension(clock: str) -> timedelta:
    """How long after a missed ``clock`` (first_response, resolution) the new time is."""
    minutes = contact.notice_config()["late_extension_minutes"][clock]
    return timedelta(minutes=int(minutes))


def announce(
    session: Session,
    *,
    ticket: Ticket,
    notice: str,
    now: datetime | None = None,
    agent: str | None = None,
    due: datetime | None = None,
) -> RelayDelivery | None:
    """Tell the customer about ``notice`` on their conversation; None when the ticket has
    no conversation or the customer opted out (an internal note then says so)."""
    if notice not in NOTICES:
        raise ValueError(f"unknown notice {notice!r}")
    if not ticket.conversation_id:
        return None
    moment = now or utcnow()
    session.flush()  # the desk's sessions don't autoflush; the decision reads the thread
    decision = contact.decide(
        session,
        ticket=ticket,
        channel=outbox.conversation_channel(ticket.conversation_id),
        notice=notice != RESOLVED,  # a resolution answers the customer: it only waits
        now=moment,
    )
    if decision.skipped:
        tickets_repo.add_message(
            session,
            TicketMessage(
                ticket_id=ticket.id,
                author_type=AuthorType.SYSTEM,
                author_name=AUTHOR,
                body=f"The {notice} notice was not sent: {decision.skipped}.",
                public=False,
                created_at=moment,
            ),
        )
        return None
    customer = session.get(Customer, ticket.customer_id)
    zone = contact.time_zone(dict(customer.contact_preferences or {}) if customer else {})
    values: dict[str, Any] = {"number": ticket.number or "", "agent": agent or ""}
    values["due"] = due.astimezone(zone).strftime("%m-%d %H:%M") if due is not None else ""
    message = tickets_repo.add_message(
        session,
        TicketMessage(
            ticket_id=ticket.id,
            author_type=AuthorType.SYSTEM,
            author_name=AUTHOR,
            body=render(notice, ticket.language, **values),
            public=True,
            created_at=moment,
        ),
    )
    session.flush()
    return outbox.enqueue(
        session,
        ticket=ticket,
        kind=outbox.RESOLVED if notice == RESOLVED else outbox.NOTICE,
        message_id=message.id,
        notice=notice,
        decision=decision,
        now=moment,
    )


@dataclass(frozen=True)
class DeliveryState:
    """Where a pushed message stands: ``held`` (quiet hours), ``queued``, ``sent`` or
    ``failed``, with the time it was sent, failed, or is due to go."""

    status: str
    at: datetime | None
    channel: str


def delivery_states(
    session: Session, *, ticket_id: int, now: datetime | None = None
) -> dict[int, DeliveryState]:
    """For each message of the ticket that was pushed, its delivery's state."""
    moment = now or utcnow()
    rows = outbox_repo.message_deliveries(session, ticket_id=ticket_id)
    states: dict[int, DeliveryState] = {}
    for delivery in rows:
        channel = outbox.conversation_channel(delivery.conversation_id)
        if delivery.delivered_at is not None:
            state = DeliveryState("sent", delivery.delivered_at, channel)
        elif delivery.failed_at is not None:
            state = DeliveryState("failed", delivery.failed_at, channel)
        elif delivery.attempts == 0 and delivery.next_attempt_at > moment:
            state = DeliveryState("held", delivery.next_attempt_at, channel)
        else:
            state = DeliveryState("queued", delivery.next_attempt_at, channel)
        assert delivery.message_id is not None
        states[delivery.message_id] = state
    return states
