"""The audit log, for admins: read-only. There is no route that edits or deletes it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import AdminOnly
from api.deps import SessionDep
from ticketing.repositories import audit as audit_repo


class AuditRead(BaseModel):
    """An audit log entry (no personal values, only which field)."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    customer_id: int | None
    field: str | None
    reason: str | None
    details: dict[str, Any]


router = APIRouter(prefix="/audit", tags=["audit"])


@router.get(
    "",
    response_model=list[AuditRead],
    responses={
        401: {"description": "Missing or invalid token"},
        403: {"description": "Admins only"},
    },
)
def list_audit(
    session: SessionDep,
    _principal: AdminOnly,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditRead]:
    """Who read or changed personal data, newest first."""
    entries = audit_repo.search(
        session, customer_id=customer_id, actor=actor, action=action, limit=limit, offset=offset
    )
    return [
        AuditRead(
            id=e.id,
            at=e.at,
            actor=e.actor,
            role=e.role,
            action=e.action,
            customer_id=e.customer_id,
            field=e.field,
            reason=e.reason,
            details=e.details or {},
        )
        for e in entries
    ]
