"""The ticket lifecycle: which status may follow which, who may move it, and what it records.

    new ──▶ open ──▶ pending ──▶ open ...
     │        │         │
     └────────┴─────────┴──▶ escalated ──▶ open / pending / resolved
                                           resolved ──▶ closed
                                           resolved ──▶ open (reopened)

Every move goes through :func:`transition`, which checks the table below, writes the
history through ``change_fields`` and records the event the live pages listen to.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.enums import ACTIVE_STATUSES, AuthorType, EscalationSource, TicketStatus
from ticketing.errors import Conflict, Forbidden
from ticketing.events import DeskEvent
from ticketing.models import Ticket, TicketMessage, utcnow
from ticketing.principals import Principal
from ticketing.privacy_text import mask_text
from ticketing.repositories import tickets as tickets_repo
from ticketing.routing import RoutingPolicy, default_policy
from ticketing.services import access, assignment, history, notices, sla_clocks
from ticketing.services.policy import current_policy
from ticketing.services.queues import ensure_queue

S = TicketStatus

# The allowed moves. Anything not listed is refused with 409.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset({S.OPEN, S.PENDING, S.ESCALATED, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.NEW, S.PENDING, S.ESCALATED, S.RESOLVED, S.CLOSED}),
    S.PENDING: frozenset({S.OPEN, S.ESCALATED, S.RESOLVED, S.CLOSED}),
    S.ESCALATED: frozenset({S.OPEN, S.PENDING, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.NEW, S.CLOSED}),
    S.CLOSED: frozenset(),
}

_EVENT_FOR_STATUS = {
    S.RESOLVED: "ticket.resolved",
    S.CLOSED: "ticket.closed",
    S.ESCALATED: "ticket.escalated",
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


class NotCancellable(Conflict):
    code = "not_cancellable"


def allowed_targets(status: TicketStatus, *, principal: Principal) -> frozenset[TicketStatus]:
    """The statuses this principal may move a ticket in ``status`` to (``access`` decides
    which of the lifecycle's moves a role may make)."""
    return access.status_moves(principal, current=status, possible=TRANSITIONS[status])


def transition(
    session: Session,
    *,
    ticket: Ticket,
    to: TicketStatus,
    principal: Principal,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move a ticket to another status, or raise 409 naming what is allowed instead."""
    current = ticket.status
    if to == current:
        return
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (the ticket is closed)"
        raise InvalidTransition(
            f"a {current} ticket cannot become {to}; allowed: {allowed}",
            details={
                "from": current.value,
                "to": to.value,
                "allowed": sorted(TRANSITIONS[current]),
            },
        )
    if to not in allowed_targets(current, principal=principal):
        raise Forbidden(
            f"your role may not move a {current} ticket to {to}", code="transition_forbidden"
        )
    moment = now or utcnow()
    changes: dict[str, object] = {"status": to}
    if to is S.RESOLVED:
        changes["resolved_at"] = moment
    if to is S.CLOSED:
        changes["closed_at"] = moment
    if current is S.RESOLVED and to in (S.OPEN, S.NEW):
        changes["resolved_at"] = None
    if to is S.NEW:
        changes["assignee_id"] = None
    changes.update(sla_clocks.pause_changes(ticket, to=to, now=moment))
    holder = ticket.assignee_id
    history.change_fields(session, ticket=ticket, actor=principal.name, changes=changes, now=moment)
    event_type = _EVENT_FOR_STATUS.get(to)
    if current is S.RESOLVED and to in (S.OPEN, S.NEW):
        event_type = "ticket.reopened"
    events.record(
        session,
        DeskEvent(
            event_type or "ticket.updated",
            ticket.number,
            # Live events go to every staff page and to Redis: a reason the customer
            # typed (a cancellation's) travels masked, like the text it came from.
            {
                "from": current.value,
                "to": to.value,
                "reason": mask_text(reason) if reason else reason,
                "by": principal.name,
            },
        ),
    )
    if to is S.RESOLVED:
        # The customer is told; the bot takes the conversation back and asks for a rating.
        notices.announce(session, ticket=ticket, notice=notices.RESOLVED, now=moment)
    elif to is S.PENDING:
        notices.announce(session, ticket=ticket, notice=notices.WAITING, now=moment)
    finished = to in (S.RESOLVED, S.CLOSED, S.NEW) and current in ACTIVE_STATUSES
    if holder is not None and finished:
        assignment.on_capacity_freed(session, agent_id=holder)


def can_reopen(
    ticket: Ticket, *, policy: RoutingPolicy | None = None, now: datetime | None = None
) -> bool:
    """Whether a customer's new message should reopen this ticket rather than open a new one."""
    if ticket.status is not S.RESOLVED or ticket.resolved_at is None:
        return False
    window = (policy or default_policy()).reopen_window
    return (now or utcnow()) - ticket.resolved_at <= window


def reopen(
    session: Session, *, ticket: Ticket, principal: Principal, reason: str | None = None
) -> None:
    """Reopen a resolved ticket: back to its agent if it had one, else to the queue."""
    to = S.OPEN if ticket.assignee_id is not None else S.NEW
    transition(session, ticket=ticket, to=to, principal=principal, reason=reason)


def escalate(
    session: Session,
    *,
    ticket: Ticket,
    principal: Principal,
    reason: str,
    source: EscalationSource,
    policy: RoutingPolicy | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Escalate one level: raise the priority and move queues as the tier says; keep why.

    Returns the ticket as it now stands (its new queue and holder, its thread).
    """
    if ticket.status not in ACTIVE_STATUSES:
        raise InvalidTransition(
            f"a {ticket.status} ticket cannot be escalated", code="invalid_transition"
        )
    policy = policy or current_policy(session)
    moment = now or utcnow()
    level = ticket.escalation_level + 1
    tier = policy.escalation_tier(level)
    changes: dict[str, object] = {
        "escalation_level": level,
        "escalation_reason": f"{source.value}: {reason}",
        "priority": ticket.priority.raised(tier.raise_priority),
        "status": S.ESCALATED,
    }
    if tier.queue_key and tier.queue_key != ticket.queue.key:
        queue = ensure_queue(session, policy.queue(tier.queue_key))
        changes["queue_id"] = queue.id
        # A new queue means new people: the ticket waits there for one of them.
        changes["assignee_id"] = None
    changes.update(sla_clocks.pause_changes(ticket, to=S.ESCALATED, now=moment))
    if principal.is_bot and principal.conversation:
        # The customer asks for a person from this conversation: relay replies here.
        ticket.conversation_id = principal.rasa_conversation_id
    holder = ticket.assignee_id
    history.change_fields(session, ticket=ticket, actor=principal.name, changes=changes, now=moment)
    if "queue_id" in changes:
        session.refresh(ticket, attribute_names=["queue"])
        if holder is not None:
            assignment.on_capacity_freed(session, agent_id=holder)
        assignment.assign_new_ticket(session, ticket=ticket, now=moment)
    events.record(
        session,
        DeskEvent(
            "ticket.escalated",
            ticket.number,
            {
                "level": level,
                "source": source.value,
                "queue": ticket.queue.key,
                "priority": ticket.priority.value,
            },
        ),
    )
    return tickets_repo.reload(session, ticket)


def cancel(
    session: Session,
    *,
    ticket: Ticket,
    principal: Principal,
    reason: str,
    now: datetime | None = None,
) -> Ticket:
    """Close an unfinished ticket at the customer's request, keeping why; returns it as it
    now stands.

    The reason goes into the thread (a public system line the agents and the customer
    see) and the history; a resolved or closed ticket is finished and answers 409
    ``not_cancellable`` (a resolved one is closed by the desk, or rated).
    """
    if ticket.status not in ACTIVE_STATUSES:
        raise NotCancellable(
            f"{ticket.number} is {ticket.status}; only unfinished tickets can be cancelled",
            details={"status": ticket.status.value},
        )
    moment = now or utcnow()
    who = "the customer" if principal.is_bot else principal.name
    tickets_repo.add_message(
        session,
        TicketMessage(
            ticket_id=ticket.id,
            author_type=AuthorType.SYSTEM,
            author_name=principal.name,
            body=f"Cancelled by {who}: {reason}",
            public=True,
            created_at=moment,
        ),
    )
    history.record(
        session,
        ticket_id=ticket.id,
        actor=principal.name,
        field="cancel_reason",
        old=None,
        new=reason,
        now=moment,
    )
    transition(
        session,
        ticket=ticket,
        to=S.CLOSED,
        principal=principal,
        reason=f"cancelled: {reason}",
        now=moment,
    )
    session.flush()
    return tickets_repo.reload(session, ticket)
