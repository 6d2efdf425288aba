"""Who may do what with a ticket and a customer: the one module every route and service asks.

A principal's *scope* is its readable statement: the tickets it may see, as data that a
repository turns into a WHERE clause and a service checks one ticket against. Agents see
the tickets of the queues they work and the ones assigned to them; supervisors and admins
see all; the bot sees the tickets of its conversation's customer. A customer is visible
exactly when one of their tickets is, and the customer page shows only those tickets.

The permission checks on a ticket one may see are here too: which part of its thread a
role reads, who may change which fields, which status moves the bot may make, who may
claim it and who may write to its thread (and as whom). The API's ``require_roles`` only
lets the right roles reach a route; what a customer's personal data shows to a role is
:mod:`ticketing.services.disclosure`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from ticketing.enums import AuthorType, EscalationSource, TicketStatus
from ticketing.errors import Forbidden
from ticketing.models import Agent, SatisfactionRating, Ticket, TicketMessage
from ticketing.principals import STAFF_ROLES, Principal, Role
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import ratings as ratings_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.repositories.tickets import TicketFilter


@dataclass(frozen=True)
class TicketScope:
    """The tickets one principal may see."""

    everything: bool = False
    # The bot: the customer behind its conversation (None: nobody yet, so nothing).
    customer_id: int | None = None
    # An agent: the queues they work and the tickets assigned to them.
    queue_ids: frozenset[int] = frozenset()
    assignee_id: int | None = None

    @property
    def nothing(self) -> bool:
        """Whether this scope holds no ticket at all."""
        return not self.everything and self.customer_id is None and self.assignee_id is None

    def allows(self, ticket: Ticket) -> bool:
        """Whether this ticket lies inside the scope."""
        if self.everything:
            return True
        if self.customer_id is not None:
            return ticket.customer_id == self.customer_id
        if self.assignee_id is None:
            return False
        return ticket.assignee_id == self.assignee_id or ticket.queue_id in self.queue_ids

    def narrow(self, flt: TicketFilter) -> TicketFilter | None:
        """The filter limited to this scope; None when nothing can match."""
        if self.everything:
            return flt
        if self.nothing:
            return None
        if self.customer_id is not None:
            if flt.customer_id is not None and flt.customer_id != self.customer_id:
                return None
            return replace(flt, customer_id=self.customer_id)
        return replace(
            flt, visible_queue_ids=sorted(self.queue_ids), visible_assignee_id=self.assignee_id
        )


def sees_everything(principal: Principal) -> bool:
    """Supervisors and admins see every ticket and every customer."""
    return principal.role in (Role.SUPERVISOR, Role.ADMIN)


def staff_account(session: Session, principal: Principal) -> Agent | None:
    """The staff account behind a staff principal (None for the bot)."""
    if principal.agent_id is None:
        return None
    return agents_repo.get_by_id(session, principal.agent_id)


def scope_for(session: Session, principal: Principal) -> TicketScope:
    """The readable statement of this principal."""
    if principal.is_bot:
        return TicketScope(customer_id=principal.customer_id)
    if sees_everything(principal):
        return TicketScope(everything=True)
    agent = staff_account(session, principal) if principal.role is Role.AGENT else None
    if agent is None or not agent.active:
        return TicketScope()
    return TicketScope(queue_ids=frozenset(q.id for q in agent.queues), assignee_id=agent.id)


def can_see_ticket(session: Session, *, ticket: Ticket, principal: Principal) -> bool:
    """Whether this principal may see this ticket."""
    return scope_for(session, principal).allows(ticket)


def can_see_customer(session: Session, *, customer_id: int, principal: Principal) -> bool:
    """Whether this principal may see this customer: one of their tickets is visible."""
    scope = scope_for(session, principal)
    if scope.everything:
        return True
    if scope.customer_id is not None:
        return scope.customer_id == customer_id
    flt = scope.narrow(TicketFilter(customer_id=customer_id))
    return flt is not None and tickets_repo.any_ticket(session, flt)


def customer_tickets(
    session: Session, *, customer_id: int, principal: Principal, limit: int = 50
) -> list[Ticket]:
    """The customer's tickets this principal may see, newest first."""
    flt = scope_for(session, principal).narrow(TicketFilter(customer_id=customer_id))
    if flt is None:
        return []
    return tickets_repo.list_tickets(session, flt, sort="-created_at", limit=limit)[0]


def customer_messages(
    session: Session, *, customer_id: int, principal: Principal, limit: int = 20
) -> list[TicketMessage]:
    """The latest public messages of the customer's tickets this principal may see."""
    flt = scope_for(session, principal).narrow(TicketFilter(customer_id=customer_id))
    if flt is None:
        return []
    return tickets_repo.recent_public_messages(session, flt, limit=limit)


def customer_ratings(
    session: Session, *, customer_id: int, principal: Principal
) -> list[SatisfactionRating]:
    """The ratings of the customer's tickets this principal may see, newest first."""
    flt = scope_for(session, principal).narrow(TicketFilter(customer_id=customer_id))
    if flt is None:
        return []
    return ratings_repo.list_for_tickets(session, flt)


def listing_scope(session: Session, principal: Principal) -> TicketScope:
    """The scope a ticket list is narrowed to; 403 for a caller who may list nothing.

    The bot may always ask (it gets its conversation's customer, or nothing yet).
    """
    scope = scope_for(session, principal)
    if scope.nothing and not principal.is_bot:
        raise Forbidden("only staff list tickets", code="forbidden")
    return scope


# --- the customer behind the bot's conversation ---------------------------------------


def check_own_conversation(
    principal: Principal, *, channel: str, external_id: str, refusal: str
) -> None:
    """403 ``not_your_conversation`` when the bot names another conversation than its own.

    The service token acts for one conversation at a time: whatever it opens or looks up
    by channel identity must be that conversation's. Staff are not limited here.
    """
    if principal.is_bot and principal.conversation != (channel, external_id):
        raise Forbidden(refusal, code="not_your_conversation")


# --- a ticket's thread ------------------------------------------------------------------


def sees_internal_messages(principal: Principal) -> bool:
    """Only staff read internal notes and transcripts; the bot relays public messages."""
    return principal.role in STAFF_ROLES


def visible_messages(ticket: Ticket, *, principal: Principal) -> list[TicketMessage]:
    """The part of a ticket's thread this principal may read."""
    if sees_internal_messages(principal):
        return list(ticket.messages)
    return [message for message in ticket.messages if message.public]


def post_author(
    principal: Principal, *, author_type: AuthorType | None, public: bool
) -> AuthorType:
    """Who a message this caller writes is from; 403 for what its role may not write.

    The bot posts the customer's words (``customer``, the default) or its own (``bot``),
    always public. Staff post as ``agent``, public replies or internal notes. Nobody else
    writes to tickets.
    """
    if principal.is_bot:
        author = author_type or AuthorType.CUSTOMER
        if author not in (AuthorType.CUSTOMER, AuthorType.BOT):
            raise Forbidden("the bot posts as the customer or as the bot", code="forbidden")
        if not public:
            raise Forbidden("only staff write internal notes", code="forbidden")
        return author
    if principal.is_staff:
        return AuthorType.AGENT
    raise Forbidden("your role may not write to tickets", code="forbidden")


# --- changing a ticket ------------------------------------------------------------------

# What the bot may do for the customer of its conversation: escalate, cancel (close),
# reopen a resolved ticket, and wake a pending one by answering. Staff may make any move
# the lifecycle allows; nobody else any.
_BOT_STATUS_MOVES: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: frozenset({TicketStatus.ESCALATED, TicketStatus.CLOSED}),
    TicketStatus.OPEN: frozenset({TicketStatus.ESCALATED, TicketStatus.CLOSED}),
    TicketStatus.PENDING: frozenset(
        {TicketStatus.OPEN, TicketStatus.ESCALATED, TicketStatus.CLOSED}
    ),
    TicketStatus.ESCALATED: frozenset({TicketStatus.CLOSED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.NEW, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}


def status_moves(
    principal: Principal, *, current: TicketStatus, possible: frozenset[TicketStatus]
) -> frozenset[TicketStatus]:
    """Of the moves the lifecycle allows from ``current``, those this principal may make."""
    if principal.is_bot:
        return possible & _BOT_STATUS_MOVES[current]
    if principal.is_staff:
        return possible
    return frozenset()


def check_field_edit(principal: Principal, fields: Iterable[str]) -> None:
    """403 when this caller may not edit these fields (the bot changes only the status)."""
    if principal.is_bot and any(name != "status" for name in fields):
        raise Forbidden("the bot may only change a ticket's status", code="forbidden")


def escalation_source(principal: Principal, asked: EscalationSource) -> EscalationSource:
    """Why an escalation is recorded: the bot escalates for the customer, whatever it says."""
    return EscalationSource.CUSTOMER if principal.is_bot else asked


def claimant(session: Session, *, ticket: Ticket, principal: Principal) -> Agent:
    """The staff account taking this ticket; 403 for the bot and for an agent off its queue.

    Supervisors and admins may take a ticket of any queue.
    """
    agent = staff_account(session, principal)
    if agent is None:
        raise Forbidden("only staff claim tickets", code="forbidden")
    if principal.role is Role.AGENT and ticket.queue_id not in {q.id for q in agent.queues}:
        raise Forbidden(f"you do not work the {ticket.queue.key} queue", code="not_your_queue")
    return agent
