"""A ticket's thread: public replies from customer, bot and agents, and internal notes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.enums import AuthorType, TicketStatus
from ticketing.errors import Conflict
from ticketing.events import DeskEvent
from ticketing.models import Ticket, TicketMessage, utcnow
from ticketing.principals import Principal
from ticketing.repositories import tickets as tickets_repo
from ticketing.routing import RoutingPolicy
from ticketing.services import access, lifecycle, outbox
from ticketing.services.history import change_fields
from ticketing.services.policy import current_policy


class TicketClosed(Conflict):
    code = "ticket_closed"


def post_message(
    session: Session,
    *,
    ticket: Ticket,
    principal: Principal,
    body: str,
    public: bool = True,
    author_type: AuthorType | None = None,
    author_name: str | None = None,
    policy: RoutingPolicy | None = None,
    now: datetime | None = None,
) -> TicketMessage:
    """Append a message and apply what it means for the ticket.

    The bot posts the customer's words (``customer``) or its own (``bot``), always public.
    Staff post as ``agent``; only staff write internal notes. A customer writing on a
    pending ticket hands it back to the agent; on a recently resolved one reopens it.
    An agent's first public reply stops the first-response clock. Returns the message;
    the ticket handed in is brought current (its status, its thread with this message).
    """
    moment = now or utcnow()
    if ticket.status is TicketStatus.CLOSED:
        raise TicketClosed(f"{ticket.number} is closed; open a new ticket instead")
    author = access.post_author(principal, author_type=author_type, public=public)

    message = tickets_repo.add_message(
        session,
        TicketMessage(
            ticket_id=ticket.id,
            author_type=author,
            author_name=author_name
            or (principal.name.removeprefix("staff:") if principal.is_staff else None),
            body=body,
            public=public,
            created_at=moment,
        ),
    )
    if author is AuthorType.CUSTOMER:
        if ticket.status is TicketStatus.PENDING:
            lifecycle.transition(
                session,
                ticket=ticket,
                to=TicketStatus.OPEN,
                principal=principal,
                reason="the customer answered",
                now=moment,
            )
        elif lifecycle.can_reopen(ticket, policy=policy or current_policy(session), now=moment):
            lifecycle.reopen(
                session, ticket=ticket, principal=principal, reason="the customer wrote again"
            )
    if author is AuthorType.AGENT and public and ticket.first_responded_at is None:
        change_fields(
            session,
            ticket=ticket,
            actor=principal.name,
            changes={"first_responded_at": moment},
            now=moment,
        )
    session.flush()
    if author is AuthorType.AGENT and public:
        # On its way to the customer's chat, WeChat or call (see ticketing.delivery_worker).
        outbox.enqueue(session, ticket=ticket, kind=outbox.REPLY, message_id=message.id, now=moment)
    events.record(
        session,
        DeskEvent(
            "ticket.replied",
            ticket.number,
            {"message_id": message.id, "author_type": author.value, "public": public},
        ),
    )
    tickets_repo.reload(session, ticket)
    return message


def hand_over_transcript(
    session: Session, *, ticket: Ticket, lines: list[tuple[AuthorType, str, datetime | None]]
) -> int:
    """Keep the bot's conversation on the ticket for the agents (internal, not re-sent)."""
    now = utcnow()
    for author, body, at in lines:
        tickets_repo.add_message(
            session,
            TicketMessage(
                ticket_id=ticket.id,
                author_type=author,
                body=body,
                public=False,
                author_name="transcript",
                created_at=at or now,
            ),
        )
    session.flush()
    return len(lines)
