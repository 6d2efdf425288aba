"""Who works which ticket: automatic assignment, the waiting line, presence and capacity.

A new ticket goes to the least-loaded online agent who works its queue and speaks its
language and has capacity left (ties: whoever waited longest since their last ticket).
When nobody can take it, it waits; whenever capacity frees up (a ticket resolved, an
agent coming online, a capacity raised) the agent is served from the waiting line:
most urgent first, then the oldest.

On PostgreSQL the candidate agents' rows are locked while choosing, and waiting
tickets are picked with SKIP LOCKED, so several API workers assign correctly at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.enums import AgentPresence, TicketStatus
from ticketing.errors import Conflict, ValidationFailed
from ticketing.events import DeskEvent
from ticketing.models import Agent, Ticket, utcnow
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.services import notices
from ticketing.services.history import change_fields

SYSTEM_ACTOR = "assignment"
_NEVER = datetime.min.replace(tzinfo=UTC)


def _locks(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _give(session: Session, *, ticket: Ticket, agent: Agent, actor: str, now: datetime) -> None:
    changes: dict[str, object] = {"assignee_id": agent.id, "assigned_at": now}
    if ticket.status in (TicketStatus.NEW, TicketStatus.ESCALATED):
        changes["status"] = TicketStatus.OPEN
    change_fields(session, ticket=ticket, actor=actor, changes=changes, now=now)
    events.record(
        session, DeskEvent("ticket.assigned", ticket.number, {"agent": agent.username, "by": actor})
    )
    # The customer hears who has it and when to expect a reply.
    due = ticket.first_response_due_at if ticket.first_responded_at is None else None
    notices.announce(
        session,
        ticket=ticket,
        notice=notices.ASSIGNED,
        agent=agent.display_name,
        due=due or ticket.resolution_due_at,
        now=now,
    )


def choose_agent(session: Session, *, ticket: Ticket) -> Agent | None:
    """The agent who should take this ticket now, or None when nobody can."""
    agents = [
        a
        for a in agents_repo.candidates(session, queue_id=ticket.queue_id, lock=_locks(session))
        if not a.languages or ticket.language in a.languages
    ]
    if not agents:
        return None
    ids = [a.id for a in agents]
    load = agents_repo.open_load(session, ids)
    last = agents_repo.last_assigned(session, ids)
    free = [a for a in agents if load[a.id] < a.capacity]
    if not free:
        return None
    return min(free, key=lambda a: (load[a.id], last[a.id] or _NEVER, a.id))


def assign_new_ticket(
    session: Session, *, ticket: Ticket, now: datetime | None = None
) -> Agent | None:
    """Give a just-opened ticket to the best free agent, or leave it waiting."""
    agent = choose_agent(session, ticket=ticket)
    if agent is not None:
        _give(session, ticket=ticket, agent=agent, actor=SYSTEM_ACTOR, now=now or utcnow())
    return agent


def serve_waiting(session: Session, *, agent: Agent, now: datetime | None = None) -> list[str]:
    """Fill an agent's free capacity from the waiting line; returns the numbers given."""
    queues = agents_repo.queue_ids(session, agent.id)
    if agent.presence is not AgentPresence.ONLINE or not agent.active or not queues:
        return []
    free = agent.capacity - agents_repo.open_load(session, [agent.id])[agent.id]
    if free <= 0:
        return []
    waiting = tickets_repo.waiting_in_queues(
        session,
        queue_ids=sorted(queues),
        languages=sorted(agent.languages or ()),
        limit=free,
        lock=_locks(session),
    )
    given: list[str] = []
    for ticket in waiting:
        _give(session, ticket=ticket, agent=agent, actor=SYSTEM_ACTOR, now=now or utcnow())
        given.append(ticket.number or "")
    return given


def on_capacity_freed(session: Session, *, agent_id: int) -> list[str]:
    """Called when an agent's ticket is finished: serve the waiting line."""
    agent = agents_repo.get_by_id(session, agent_id)
    return serve_waiting(session, agent=agent) if agent is not None else []


def set_presence(session: Session, *, agent: Agent, presence: AgentPresence) -> list[str]:
    """Change an agent's presence; coming online takes tickets from the waiting line."""
    changed = agent.presence is not presence
    agent.presence = presence
    session.flush()
    if changed:
        events.record(
            session,
            DeskEvent(
                "agent.presence", None, {"agent": agent.username, "presence": presence.value}
            ),
        )
    return serve_waiting(session, agent=agent) if presence is AgentPresence.ONLINE else []


def set_capacity(session: Session, *, agent: Agent, capacity: int) -> list[str]:
    """Change how many open tickets an agent may hold; a raise serves the waiting line."""
    if not 0 <= capacity <= 50:
        raise ValidationFailed("capacity must be between 0 and 50", field="capacity")
    raised = capacity > agent.capacity
    agent.capacity = capacity
    session.flush()
    return serve_waiting(session, agent=agent) if raised else []


class AgentAtCapacity(Conflict):
    code = "agent_at_capacity"


def assign_to(
    session: Session, *, ticket: Ticket, agent: Agent, actor: str, force: bool = False
) -> Ticket:
    """A supervisor's assignment: the agent must work the queue; capacity unless forced.

    Returns the ticket as it now stands (its holder, the notice in its thread).
    """
    if ticket.queue_id not in agents_repo.queue_ids(session, agent.id):
        raise ValidationFailed(
            f"{agent.username} does not work the {ticket.queue.key} queue", field="agent"
        )
    load = agents_repo.open_load(session, [agent.id])[agent.id]
    if load >= agent.capacity and not force:
        raise AgentAtCapacity(
            f"{agent.username} already holds {load} of {agent.capacity} tickets; send force=true"
        )
    previous = ticket.assignee_id
    _give(session, ticket=ticket, agent=agent, actor=actor, now=utcnow())
    if previous is not None and previous != agent.id:
        on_capacity_freed(session, agent_id=previous)
    return tickets_repo.reload(session, ticket)
