"""Staff on the desk: who is online, their load, presence and capacity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.auth import StaffOnly, SupervisorOnly
from api.deps import SessionDep
from ticketing.enums import AgentPresence, StaffRole
from ticketing.errors import NotFound
from ticketing.models import Agent
from ticketing.repositories import agents as agents_repo
from ticketing.services import assignment

router = APIRouter(prefix="/agents", tags=["agents"])

_ERRORS = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Your role may not do this"},
    404: {"description": "No such agent (`agent_not_found`)"},
    422: {"description": "Invalid payload"},
}


class AgentRead(BaseModel):
    username: str
    display_name: str
    role: StaffRole
    presence: AgentPresence
    capacity: int
    load: int
    languages: list[str]
    queues: list[str]


class PresenceUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"presence": "online"}]}
    )

    presence: AgentPresence


class AgentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"capacity": 6}, {"presence": "away"}]}
    )

    capacity: int | None = Field(default=None, ge=0, le=50)
    presence: AgentPresence | None = None


class AgentChange(BaseModel):
    """An agent after a change, and the waiting tickets it was given as a result."""

    agent: AgentRead
    assigned: list[str]


def _read(agent: Agent, load: int) -> AgentRead:
    return AgentRead(
        username=agent.username,
        display_name=agent.display_name,
        role=agent.role,
        presence=agent.presence,
        capacity=agent.capacity,
        load=load,
        languages=list(agent.languages),
        queues=sorted(q.key for q in agent.queues),
    )


def _get(session: SessionDep, username: str) -> Agent:
    agent = agents_repo.get_by_username(session, username)
    if agent is None or not agent.active:
        raise NotFound(f"no agent {username!r}", code="agent_not_found")
    return agent


@router.get("", response_model=list[AgentRead], responses={k: _ERRORS[k] for k in (401, 403)})
def list_agents(session: SessionDep, _principal: StaffOnly) -> list[AgentRead]:
    """Every active staff member with presence, capacity and current load."""
    agents = agents_repo.list_staff(session)
    load = agents_repo.open_load(session, [a.id for a in agents])
    return [_read(a, load[a.id]) for a in agents]


@router.put(
    "/me/presence",
    response_model=AgentChange,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 422)},
)
def set_my_presence(
    payload: PresenceUpdate, session: SessionDep, principal: StaffOnly
) -> AgentChange:
    """Go online, away or offline; going online takes tickets from the waiting line."""
    agent = agents_repo.get_by_id(session, principal.agent_id or 0)
    if agent is None:
        raise NotFound("this token does not belong to a staff account", code="agent_not_found")
    given = assignment.set_presence(session, agent=agent, presence=payload.presence)
    load = agents_repo.open_load(session, [agent.id])[agent.id]
    return AgentChange(agent=_read(agent, load), assigned=given)


@router.patch(
    "/{username}",
    response_model=AgentChange,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 422)},
)
def update_agent(
    username: Annotated[str, Path(max_length=64)],
    payload: AgentUpdate,
    session: SessionDep,
    _principal: SupervisorOnly,
) -> AgentChange:
    """A supervisor changes an agent's capacity or presence."""
    agent = _get(session, username)
    given: list[str] = []
    if payload.capacity is not None:
        given += assignment.set_capacity(session, agent=agent, capacity=payload.capacity)
    if payload.presence is not None:
        given += assignment.set_presence(session, agent=agent, presence=payload.presence)
    load = agents_repo.open_load(session, [agent.id])[agent.id]
    return AgentChange(agent=_read(agent, load), assigned=given)
