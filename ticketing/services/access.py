"""Who may see which ticket and which customer: the one rule tickets and customers ask.

A principal's *scope* is its readable statement: the tickets it may see, as data that a
repository turns into a WHERE clause and a service checks one ticket against. Agents see
the tickets of the queues they work and the ones assigned to them; supervisors and admins
see all; the bot sees the tickets of its conversation's customer. A customer is visible
exactly when one of their tickets is, and the customer page shows only those tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from ticketing.models import Agent, SatisfactionRating, Ticket, TicketMessage
from ticketing.principals import Principal, Role
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
