"""Queries on agents."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ticketing.models import Agent


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
