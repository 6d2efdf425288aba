"""Live handoff over HTTP: where a waiting customer stands, and handing a chat back."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import BotOrStaff, StaffOnly
from api.deps import SessionDep
from ticketing.enums import TicketStatus
from ticketing.services import outbox
from ticketing.services import queue_position as queue_service
from ticketing.services import work as work_service

router = APIRouter(prefix="/tickets", tags=["handoff"])


class HandbackRead(BaseModel):
    """The handback is on its way to the customer's conversation."""

    number: str
    queued_at: datetime


class QueuePositionRead(BaseModel):
    """Where a ticket stands: waiting (with its place) or held by an agent."""

    number: str
    status: TicketStatus
    queue: str
    queue_names: dict[str, str] = Field(description="The queue's name in en and zh")
    position: int | None = Field(
        description="1 = the next ticket an agent of the queue takes; null when not waiting"
    )
    waiting: int = Field(description="Tickets waiting in the queue, this one included")
    assignee: str | None = Field(description="The display name of the agent who holds it")


@router.post(
    "/{number}/handback",
    status_code=202,
    response_model=HandbackRead,
    responses={
        401: {"description": "Missing or invalid token"},
        403: {"description": "Your role may not do this"},
        404: {"description": "No such ticket, or not one you may see (`ticket_not_found`)"},
        409: {"description": "The ticket has no conversation to hand back (`no_conversation`)"},
    },
)
def hand_back(number: str, session: SessionDep, principal: StaffOnly) -> HandbackRead:
    """Give the customer's conversation back to the assistant without resolving the ticket.

    The bot answers the customer again (and tells them so); the ticket stays as it is.
    """
    ticket = work_service.get_visible(session, number=number, principal=principal)
    delivery = outbox.hand_back(session, ticket=ticket, principal=principal)
    assert ticket.number is not None
    return HandbackRead(number=ticket.number, queued_at=delivery.created_at)


@router.get(
    "/{number}/queue-position",
    response_model=QueuePositionRead,
    responses={
        401: {"description": "Missing or invalid token"},
        403: {"description": "Your role may not do this"},
        404: {"description": "No such ticket, or not one you may see (`ticket_not_found`)"},
    },
)
def queue_position(number: str, session: SessionDep, principal: BotOrStaff) -> QueuePositionRead:
    """The ticket's place among the tickets waiting in its queue, or who holds it."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    place = queue_service.queue_position(session, ticket=ticket)
    assert ticket.number is not None
    return QueuePositionRead(
        number=ticket.number,
        status=place.status,
        queue=place.queue,
        queue_names=place.queue_names,
        position=place.position,
        waiting=place.waiting,
        assignee=place.assignee,
    )
