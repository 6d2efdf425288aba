"""The desk's queues, for pickers in the console and the dashboard."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import StaffOnly
from api.deps import SessionDep
from ticketing.repositories import queues as queues_repo

router = APIRouter(prefix="/queues", tags=["queues"])


class QueueRead(BaseModel):
    key: str
    names: dict[str, str]


@router.get(
    "",
    response_model=list[QueueRead],
    responses={
        401: {"description": "Missing or invalid token"},
        403: {"description": "Staff only"},
    },
)
def list_queues(session: SessionDep, _principal: StaffOnly) -> list[QueueRead]:
    """Every queue with its names in both languages."""
    return [
        QueueRead(key=q.key, names={"en": q.name_en, "zh": q.name_zh})
        for q in queues_repo.list_all(session)
    ]
