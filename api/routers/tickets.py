"""Tickets over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response, status

from api.auth import require_roles
from api.deps import SessionDep, VaultDep
from ticketing.models import Ticket
from ticketing.principals import Principal, Role
from ticketing.schemas import MessageRead, TicketCreate, TicketRead
from ticketing.services import tickets as tickets_service

router = APIRouter(prefix="/tickets", tags=["tickets"])

TicketWriter = Annotated[
    Principal,
    Depends(require_roles(Role.BOT_SERVICE, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)),
]
TicketReader = Annotated[
    Principal,
    Depends(require_roles(Role.BOT_SERVICE, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    404: {"description": "No such ticket (`ticket_not_found`)"},
    409: {"description": "Idempotency-Key reused for a different request"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid payload; `details` names each field"},
}


def ticket_read(ticket: Ticket, *, principal: Principal) -> TicketRead:
    """The HTTP view of a loaded ticket, with the messages this caller may read."""
    assert ticket.number is not None
    return TicketRead(
        number=ticket.number,
        status=ticket.status,
        priority=ticket.priority,
        queue=ticket.queue.key,
        category=ticket.category,
        channel=ticket.channel,
        language=ticket.language,
        customer_id=ticket.customer_id,
        subject=ticket.subject,
        description=ticket.description,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        messages=[
            MessageRead(
                id=message.id,
                author_type=message.author_type,
                author_name=message.author_name,
                body=message.body,
                public=message.public,
                created_at=message.created_at,
            )
            for message in tickets_service.visible_messages(ticket, principal=principal)
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead,
    responses={
        200: {"description": "Replay of an earlier request with this Idempotency-Key"},
        **{code: _ERRORS[code] for code in (401, 409, 413, 422)},
    },
)
def create_ticket(
    payload: TicketCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: TicketWriter,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> TicketRead:
    """Open a ticket (201), or return the ticket an earlier identical request opened (200)."""
    creation = tickets_service.create_ticket(
        session,
        vault=vault,
        principal=principal,
        payload=payload,
        idempotency_key=idempotency_key,
    )
    if not creation.created:
        response.status_code = status.HTTP_200_OK
    return ticket_read(creation.ticket, principal=principal)


@router.get(
    "/{number}",
    response_model=TicketRead,
    responses={code: _ERRORS[code] for code in (401, 404)},
)
def get_ticket(number: str, session: SessionDep, principal: TicketReader) -> TicketRead:
    """A ticket and its thread, by number (``SD-100001``, any case)."""
    ticket = tickets_service.get_ticket(session, number=number)
    return ticket_read(ticket, principal=principal)
