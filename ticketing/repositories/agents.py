"""Queries on agents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, selectinload

from ticketing.enums import ACTIVE_STATUSES, AgentPresence, StaffRole
from ticketing.models import Agent, Ticket, agent_queues

# One PostgreSQL advisory lock for every staff-administration write: they are rare, and
# serialising them keeps "the last active admin" true when two admins demote each other
# at once (row locks taken in different orders would deadlock instead).
STAFF_ADMIN_LOCK = 0x5D_AD_31


def lock_staff_administration(session: Session) -> None:
    """Wait for any other staff-administration write (a transaction-scoped advisory lock;
    PostgreSQL only)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STAFF_ADMIN_LOCK})


def get_by_username(session: Session, username: str) -> Agent | None:
    """The agent with this username, with its queues loaded."""
    return session.scalar(
        select(Agent).where(Agent.username == username).options(selectinload(Agent.queues))
    )


def add(session: Session, agent: Agent) -> Agent:
    """Insert an agent."""
    session.add(agent)
    session.flush()
    return agent


def get_by_id(session: Session, agent_id: int) -> Agent | None:
    """The agent with this id, with its queues loaded."""
    return session.scalar(
        select(Agent).where(Agent.id == agent_id).options(selectinload(Agent.queues))
    )


def open_load(session: Session, agent_ids: list[int]) -> dict[int, int]:
    """How many unfinished tickets each agent holds."""
    if not agent_ids:
        return {}
    rows = session.execute(
        select(Ticket.assignee_id, func.count(Ticket.id))
        .where(
            Ticket.assignee_id.in_(agent_ids),
            Ticket.status.in_(ACTIVE_STATUSES),
        )
        .group_by(Ticket.assignee_id)
    ).all()
    counts = {agent_id: 0 for agent_id in agent_ids}
    counts.update({agent_id: int(count) for agent_id, count in rows if agent_id is not None})
    return counts


def last_assigned(session: Session, agent_ids: list[int]) -> dict[int, datetime | None]:
    """When each agent last got a ticket (None if never)."""
    rows = session.execute(
        select(Ticket.assignee_id, func.max(Ticket.assigned_at))
        .where(Ticket.assignee_id.in_(agent_ids))
        .group_by(Ticket.assignee_id)
    ).all()
    found: dict[int, datetime | None] = {agent_id: None for agent_id in agent_ids}
    found.update({agent_id: at for agent_id, at in rows if agent_id is not None})
    return found


def candidates(session: Session, *, queue_id: int, lock: bool) -> list[Agent]:
    """Online, active agents who work a queue; rows locked when asked (PostgreSQL)."""
    query = (
        select(Agent)
        .join(agent_queues, agent_queues.c.agent_id == Agent.id)
        .where(
            agent_queues.c.queue_id == queue_id,
            Agent.presence == AgentPresence.ONLINE,
            Agent.active.is_(True),
        )
        .order_by(Agent.id)
    )
    if lock:
        # Serialise assignment per agent, so two workers cannot both fill its last slot.
        query = query.with_for_update(of=Agent)
    return list(session.scalars(query))


def list_staff(session: Session) -> list[Agent]:
    """Every active staff account with its queues."""
    return list(
        session.scalars(
            select(Agent)
            .where(Agent.active.is_(True))
            .options(selectinload(Agent.queues))
            .order_by(Agent.username)
        )
    )


def queue_ids(session: Session, agent_id: int) -> set[int]:
    """The ids of the queues an agent works."""
    return set(
        session.scalars(select(agent_queues.c.queue_id).where(agent_queues.c.agent_id == agent_id))
    )


def list_all_staff(session: Session) -> list[Agent]:
    """Every staff account, active or not, with its queues."""
    return list(
        session.scalars(select(Agent).options(selectinload(Agent.queues)).order_by(Agent.username))
    )


def get_for_update(session: Session, username: str, *, lock: bool) -> Agent | None:
    """The account with this username, its row locked when asked (PostgreSQL)."""
    query = select(Agent).where(Agent.username == username).options(selectinload(Agent.queues))
    if lock:
        query = query.with_for_update(of=Agent)
    return session.scalar(query)


def active_admin_ids(session: Session, *, lock: bool) -> list[int]:
    """The ids of the active admin accounts; rows locked when asked, so two demotions serialise."""
    query = (
        select(Agent.id)
        .where(Agent.role == StaffRole.ADMIN, Agent.active.is_(True))
        .order_by(Agent.id)
    )
    if lock:
        query = query.with_for_update()
    return list(session.scalars(query))
