"""The retention schedule, for admins: what is kept how long, the last run, a run now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, StrictBool

from api.auth import AdminOnly
from api.deps import SessionDep, SettingsDep
from ticketing.conversation_store import ConversationStore
from ticketing.models import AuditEntry
from ticketing.services import retention
from ticketing.settings import Settings


class RetentionPeriod(BaseModel):
    """One line of the retention schedule."""

    data: str
    kept: str
    setting: str
    value: float
    default: float
    then: str


class RetentionRunRead(BaseModel):
    """A retention run (or, for a dry run, what one would do): counts only."""

    at: datetime
    actor: str
    dry_run: bool
    counts: dict[str, Any]


class RetentionScheduleRead(BaseModel):
    """The retention schedule as configured, and its last run."""

    periods: list[RetentionPeriod]
    run_every_hours: float
    scheduler_in_this_process: bool
    conversation_store: str | None
    last_run: RetentionRunRead | None
    next_run_due_at: datetime | None


class RetentionRunRequest(BaseModel):
    """Run the schedule now; ``dry_run`` only counts what is due."""

    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = False


router = APIRouter(prefix="/retention", tags=["retention"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Admins only"},
}


def _periods(settings: Settings) -> list[RetentionPeriod]:
    fields = Settings.model_fields

    def line(data: str, kept: str, name: str, variable: str, then: str) -> RetentionPeriod:
        return RetentionPeriod(
            data=data,
            kept=kept,
            setting=variable,
            value=getattr(settings, name),
            default=fields[name].default,
            then=then,
        )

    return [
        line(
            "closed tickets' personal data",
            "days after the ticket was closed",
            "closed_ticket_retention_days",
            "DESK_CLOSED_TICKET_RETENTION_DAYS",
            "texts, contact, conversation id and rating comment removed; statistics kept",
        ),
        line(
            "idempotency keys",
            "days after the request",
            "idempotency_key_retention_days",
            "DESK_IDEMPOTENCY_KEY_RETENTION_DAYS",
            "deleted",
        ),
        line(
            "relay deliveries",
            "days after delivery (or giving up)",
            "relay_retention_days",
            "DESK_RELAY_RETENTION_DAYS",
            "deleted; pending ones never",
        ),
        line(
            "conversations (Rasa's trackers)",
            "days after the last message",
            "conversation_retention_days",
            "DESK_CONVERSATION_RETENTION_DAYS",
            "deleted",
        ),
        line(
            "audit log",
            "years (at least 3)",
            "audit_retention_years",
            "DESK_AUDIT_RETENTION_YEARS",
            "deleted",
        ),
    ]


def _run_read(entry: AuditEntry) -> RetentionRunRead:
    details: dict[str, Any] = dict(entry.details or {})
    details.pop("periods", None)
    return RetentionRunRead(at=entry.at, actor=entry.actor, dry_run=False, counts=details)


def _conversations(request: Request) -> ConversationStore | None:
    store: ConversationStore | None = request.app.state.conversations
    return store


@router.get("", response_model=RetentionScheduleRead, responses=_AUTH)
def get_schedule(
    session: SessionDep, settings: SettingsDep, request: Request, _principal: AdminOnly
) -> RetentionScheduleRead:
    """The retention schedule as configured, with defaults, and its last run."""
    last = retention.last_run(session)
    store = _conversations(request)
    return RetentionScheduleRead(
        periods=_periods(settings),
        run_every_hours=settings.retention_run_hours,
        scheduler_in_this_process=settings.retention_scheduler,
        conversation_store=None if store is None else store.name,
        last_run=None if last is None else _run_read(last),
        next_run_due_at=(
            None if last is None else last.at + timedelta(hours=settings.retention_run_hours)
        ),
    )


@router.post(
    "/run",
    response_model=RetentionRunRead,
    responses={
        **_AUTH,
        409: {"description": "Another instance is applying the schedule right now"},
    },
)
def run_now(
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    principal: AdminOnly,
    body: Annotated[RetentionRunRequest, Body()],
) -> RetentionRunRead:
    """Apply the schedule now (audited), or with ``dry_run`` count what is due."""
    schedule = retention.Schedule.from_settings(settings)
    store = _conversations(request)
    if body.dry_run:
        result = retention.purge(
            session,
            schedule=schedule,
            conversations=store,
            actor=principal.name,
            role=principal.role.value,
            dry_run=True,
        )
    else:
        ran = retention.run(
            session,
            schedule=schedule,
            conversations=store,
            actor=principal.name,
            role=principal.role.value,
            only_if_due=False,
        )
        assert ran is not None  # only_if_due=False: a result, or RetentionBusy
        result = ran
    return RetentionRunRead(
        at=result.at, actor=principal.name, dry_run=result.dry_run, counts=result.counts()
    )
