"""Administration: staff accounts (supervisors and admins; the admin role is admins' own)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminOnly, StaffOnly, SupervisorOnly
from api.deps import SessionDep
from ticketing.enums import AgentPresence, StaffRole
from ticketing.models import Agent
from ticketing.repositories import agents as agents_repo
from ticketing.services import canned as canned_service
from ticketing.services import policy as policy_service
from ticketing.services import staff_admin

router = APIRouter(prefix="/admin", tags=["admin"])

_ERRORS = {
    401: {"description": "Missing or invalid token"},
    403: {
        "description": "Not a supervisor or admin; or a supervisor touching an admin account "
        "or granting admin (`admin_required`)"
    },
    404: {"description": "No such staff account (`staff_not_found`)"},
    409: {
        "description": "Stale version (`version_conflict`), username taken (`username_taken`), "
        "the last active admin (`last_admin`), your own account (`self_deactivation`)"
    },
    422: {"description": "Invalid payload or value; `details` names the field"},
}

Username = Annotated[str, Path(max_length=64)]
Password = Annotated[str, Field(min_length=1, max_length=256)]


class StaffAdminRead(BaseModel):
    username: str
    display_name: str
    role: StaffRole
    languages: list[str]
    queues: list[str]
    capacity: int
    presence: AgentPresence
    active: bool
    must_change_password: bool
    load: int
    version: int


class StaffCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "li.na",
                    "display_name": "Li Na",
                    "role": "agent",
                    "languages": ["zh", "en"],
                    "queues": ["technical_support"],
                    "capacity": 5,
                    "password": "temporary password 1",
                }
            ]
        },
    )

    username: Annotated[str, Field(min_length=1, max_length=64)]
    display_name: Annotated[str, Field(min_length=1, max_length=200)]
    role: StaffRole = StaffRole.AGENT
    languages: Annotated[list[str], Field(min_length=1, max_length=4)]
    queues: Annotated[list[str], Field(max_length=20)] = []
    capacity: Annotated[int, Field(ge=0, le=50)] = 5
    password: Password


class StaffUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version": 3, "capacity": 6, "queues": ["billing"]}]},
    )

    version: Annotated[int, Field(ge=0, description="The version you read")]
    display_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    role: StaffRole | None = None
    languages: Annotated[list[str] | None, Field(min_length=1, max_length=4)] = None
    queues: Annotated[list[str] | None, Field(max_length=20)] = None
    capacity: Annotated[int | None, Field(ge=0, le=50)] = None


class VersionOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=0, description="The version you read")]


class Deactivation(VersionOnly):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": 2, "reassign_to": "li.na"}]}
    )

    reassign_to: Annotated[
        str | None,
        Field(
            max_length=64,
            description="Give their unfinished tickets to this agent; "
            "otherwise automatic assignment, else the waiting line",
        ),
    ] = None


class PasswordReset(VersionOnly):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version": 2, "password": "temporary password 2"}]},
    )

    password: Password


class StaffChangeRead(BaseModel):
    """The account after the change, and where its tickets went (number -> agent or null)."""

    staff: StaffAdminRead
    reassigned: dict[str, str | None]


def _read(session: SessionDep, agent: Agent, load: int | None = None) -> StaffAdminRead:
    if load is None:
        load = agents_repo.open_load(session, [agent.id])[agent.id]
    return StaffAdminRead(
        username=agent.username,
        display_name=agent.display_name,
        role=agent.role,
        languages=list(agent.languages),
        queues=sorted(q.key for q in agent.queues),
        capacity=agent.capacity,
        presence=agent.presence,
        active=agent.active,
        must_change_password=agent.must_change_password,
        load=load,
        version=agent.version,
    )


@router.get(
    "/staff", response_model=list[StaffAdminRead], responses={k: _ERRORS[k] for k in (401, 403)}
)
def list_staff(session: SessionDep, _principal: SupervisorOnly) -> list[StaffAdminRead]:
    """Every staff account, deactivated ones too, with its version."""
    agents = agents_repo.list_all_staff(session)
    load = agents_repo.open_load(session, [a.id for a in agents])
    return [_read(session, a, load[a.id]) for a in agents]


@router.post(
    "/staff",
    status_code=201,
    response_model=StaffAdminRead,
    responses={k: _ERRORS[k] for k in (401, 403, 409, 422)},
)
def create_staff(
    payload: StaffCreate, session: SessionDep, principal: SupervisorOnly
) -> StaffAdminRead:
    """Open an account; the person chooses their own password at first log-in."""
    agent = staff_admin.create(
        session,
        principal=principal,
        username=payload.username,
        display_name=payload.display_name,
        role=payload.role,
        languages=payload.languages,
        queues=payload.queues,
        capacity=payload.capacity,
        password=payload.password,
    )
    return _read(session, agent)


@router.patch(
    "/staff/{username}",
    response_model=StaffChangeRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 409, 422)},
)
def edit_staff(
    username: Username, payload: StaffUpdate, session: SessionDep, principal: SupervisorOnly
) -> StaffChangeRead:
    """Change name, role, languages, queues (skills) or capacity."""
    change = staff_admin.edit(
        session,
        principal=principal,
        username=username,
        version=payload.version,
        changes=payload.model_dump(exclude_unset=True, exclude={"version"}),
    )
    return StaffChangeRead(staff=_read(session, change.agent), reassigned=change.reassigned)


@router.post(
    "/staff/{username}/deactivate",
    response_model=StaffChangeRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 409, 422)},
)
def deactivate_staff(
    username: Username, payload: Deactivation, session: SessionDep, principal: SupervisorOnly
) -> StaffChangeRead:
    """Switch an account off; its unfinished tickets are handed over."""
    change = staff_admin.deactivate(
        session,
        principal=principal,
        username=username,
        version=payload.version,
        reassign_to=payload.reassign_to,
    )
    return StaffChangeRead(staff=_read(session, change.agent), reassigned=change.reassigned)


@router.post(
    "/staff/{username}/reactivate",
    response_model=StaffAdminRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 409, 422)},
)
def reactivate_staff(
    username: Username, payload: VersionOnly, session: SessionDep, principal: SupervisorOnly
) -> StaffAdminRead:
    """Switch an account back on."""
    agent = staff_admin.reactivate(
        session, principal=principal, username=username, version=payload.version
    )
    return _read(session, agent)


@router.post(
    "/staff/{username}/password",
    response_model=StaffAdminRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 409, 422)},
)
def reset_password(
    username: Username, payload: PasswordReset, session: SessionDep, principal: SupervisorOnly
) -> StaffAdminRead:
    """Set a temporary password; the person must change it at their next log-in."""
    agent = staff_admin.reset_password(
        session,
        principal=principal,
        username=username,
        version=payload.version,
        password=payload.password,
    )
    return _read(session, agent)


class RoutingPolicyRead(BaseModel):
    """The routing policy in force: version 0 is the packaged routing.yml, never edited."""

    policy: dict[str, Any]
    version: int
    updated_by: str | None
    updated_at: datetime | None


class RoutingPolicyWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=0, description="The version you read")]
    policy: Annotated[
        dict[str, Any],
        Field(
            description="queues, categories, sla, escalation, business_hours, ... as routing.yml"
        ),
    ]


def _policy_read(document: policy_service.PolicyDocument) -> RoutingPolicyRead:
    return RoutingPolicyRead(
        policy=document.document,
        version=document.version,
        updated_by=document.updated_by,
        updated_at=document.updated_at,
    )


@router.get(
    "/routing", response_model=RoutingPolicyRead, responses={k: _ERRORS[k] for k in (401, 403)}
)
def read_routing(session: SessionDep, _principal: AdminOnly) -> RoutingPolicyRead:
    """Queues, routes by category, SLA targets, escalation tiers: the policy in force."""
    return _policy_read(policy_service.read(session))


@router.put(
    "/routing",
    response_model=RoutingPolicyRead,
    responses={k: _ERRORS[k] for k in (401, 403, 409, 422)},
)
def replace_routing(
    payload: RoutingPolicyWrite, session: SessionDep, principal: AdminOnly
) -> RoutingPolicyRead:
    """Replace the policy; every API worker applies it from its next request."""
    return _policy_read(
        policy_service.replace(
            session, principal=principal, document=payload.policy, version=payload.version
        )
    )


class CannedRead(BaseModel):
    """The console's canned replies per language (version 0: the packaged set)."""

    replies: dict[str, list[dict[str, str]]]
    version: int
    updated_by: str | None
    updated_at: datetime | None


class CannedWrite(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "version": 0,
                    "replies": {
                        "zh": [{"title": "问候", "body": "您好，我是客服。"}],
                        "en": [{"title": "Greeting", "body": "Hello, this is the desk."}],
                    },
                }
            ]
        },
    )

    version: Annotated[int, Field(ge=0, description="The version you read")]
    replies: dict[str, Any]


def _canned_read(replies: canned_service.Replies) -> CannedRead:
    return CannedRead(
        replies=replies.replies,
        version=replies.version,
        updated_by=replies.updated_by,
        updated_at=replies.updated_at,
    )


@router.put(
    "/canned",
    response_model=CannedRead,
    responses={k: _ERRORS[k] for k in (401, 403, 409, 422)},
)
def replace_canned(
    payload: CannedWrite, session: SessionDep, principal: SupervisorOnly
) -> CannedRead:
    """Replace the console's canned replies (both languages at once)."""
    return _canned_read(
        canned_service.replace(
            session, principal=principal, replies=payload.replies, version=payload.version
        )
    )


canned_router = APIRouter(prefix="/canned", tags=["admin"])


@canned_router.get("", response_model=CannedRead, responses={k: _ERRORS[k] for k in (401, 403)})
def read_canned(session: SessionDep, _principal: StaffOnly) -> CannedRead:
    """The canned replies agents pick from in the console."""
    return _canned_read(canned_service.read(session))
