"""Staff log-in: the one route under /api/v1 that takes no token, and who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentPrincipal, issue_staff_token
from api.deps import SessionDep, SettingsDep
from api.throttle import LoginThrottle
from ticketing.enums import StaffRole
from ticketing.errors import NotFound, Unauthorized
from ticketing.models import Agent
from ticketing.services import staff as staff_service
from ticketing.services import staff_admin

# Public on purpose: this is where a token comes from. Everything else needs one.
public_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "wang.fang", "password": "correct horse"}]},
    )

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class StaffRead(BaseModel):
    id: int
    username: str
    display_name: str
    role: StaffRole
    languages: list[str]
    queues: list[str]
    must_change_password: bool = False


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    staff: StaffRead


def _staff_read(agent: Agent) -> StaffRead:
    return StaffRead(
        id=agent.id,
        username=agent.username,
        display_name=agent.display_name,
        role=agent.role,
        languages=list(agent.languages),
        queues=sorted(queue.key for queue in agent.queues),
        must_change_password=agent.must_change_password,
    )


@public_router.post(
    "/login",
    response_model=LoginResponse,
    responses={
        401: {"description": "Wrong username or password (`invalid_credentials`)"},
        429: {
            "description": "Too many failed log-ins for this account or address "
            "(`too_many_attempts`); see Retry-After"
        },
    },
)
def login(
    payload: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> LoginResponse:
    """Exchange a staff username and password for a Bearer token."""
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    throttle.check(payload.username, address)
    try:
        agent = staff_service.authenticate(
            session, username=payload.username, password=payload.password
        )
    except Unauthorized:
        throttle.failed(payload.username, address)
        raise
    throttle.succeeded(payload.username, address)
    issued = issue_staff_token(agent, settings)
    return LoginResponse(
        access_token=issued.token, expires_at=issued.expires_at, staff=_staff_read(agent)
    )


@router.get(
    "/me",
    response_model=StaffRead,
    responses={
        401: {"description": "Missing or invalid token"},
        404: {"description": "The caller is not a staff account"},
    },
)
def me(principal: CurrentPrincipal, session: SessionDep) -> StaffRead:
    """The staff account behind the token."""
    agent = (
        staff_service.get_active(session, agent_id=principal.agent_id)
        if principal.agent_id is not None
        else None
    )
    if agent is None:
        raise NotFound("This token does not belong to a staff account.", code="not_staff")
    return _staff_read(agent)


class PasswordChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"current_password": "temporary 12345", "new_password": "my own secret"}]
        },
    )

    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Annotated[str, Field(min_length=1, max_length=256)]


@router.post(
    "/password",
    response_model=StaffRead,
    responses={
        401: {"description": "Missing or invalid token"},
        403: {"description": "The current password is wrong (`wrong_password`)"},
        404: {"description": "The caller is not a staff account"},
        422: {"description": "The new password is too short or the same as the current one"},
    },
)
def change_password(
    payload: PasswordChange, principal: CurrentPrincipal, session: SessionDep
) -> StaffRead:
    """Replace your password; after a reset, the only thing a staff token may do."""
    agent = staff_admin.change_own_password(
        session,
        principal=principal,
        current_password=payload.current_password,
        new_password=payload.new_password,
    )
    return _staff_read(agent)
