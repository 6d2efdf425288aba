"""Tickets over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from api.auth import BotOnly, BotOrStaff, StaffOnly, SupervisorOnly
from api.deps import SessionDep, VaultDep, end_unit_of_work
from ticketing.enums import Channel, Priority, TicketStatus
from ticketing.errors import ValidationFailed
from ticketing.models import Ticket
from ticketing.principals import Principal
from ticketing.privacy import Vault
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.repositories.tickets import TicketFilter
from ticketing.schemas import (
    AssignmentCreate,
    CancellationCreate,
    EscalationCreate,
    HistoryEntry,
    MessageCreate,
    MessageDelivery,
    MessageRead,
    RatingCreate,
    RatingRead,
    SlaState,
    TextRevealCreate,
    TextRevealRead,
    TicketCreate,
    TicketPage,
    TicketRead,
    TicketSummary,
    TicketUpdate,
)
from ticketing.services import access, assignment, lifecycle, sla_clocks, ticket_text
from ticketing.services import notices as notices_service
from ticketing.services import ratings as ratings_service
from ticketing.services import thread as thread_service
from ticketing.services import tickets as tickets_service
from ticketing.services import work as work_service

router = APIRouter(prefix="/tickets", tags=["tickets"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Your role may not do this"},
    404: {"description": "No such ticket, or not one you may see (`ticket_not_found`)"},
    409: {
        "description": "Conflict: stale version (`version_conflict`), forbidden status change "
        "(`invalid_transition`), closed ticket, or Idempotency-Key reused"
    },
    413: {"description": "Body too large"},
    422: {"description": "Invalid payload; `details` names each field"},
}


def ticket_read(
    ticket: Ticket,
    *,
    principal: Principal,
    session: Session,
    vault: Vault,
    pushes: bool = True,
) -> TicketRead:
    """The HTTP view of a loaded ticket, with the messages this caller may read.

    Free text is shown as the caller's role may see it; showing any in clear is audited.
    ``pushes=False``: the caller knows nothing of this ticket was pushed yet (no query).
    """
    assert ticket.number is not None
    texts = ticket_text.TextView(principal=principal, vault=vault)
    shown = {name: texts.ticket(ticket, name) for name in ticket_text.TICKET_TEXTS}
    messages = [
        (message, texts.message(message))
        for message in access.visible_messages(ticket, principal=principal)
    ]
    texts.audit(session, ticket=ticket)
    # Only a ticket with a conversation has anything pushed (no query for the others).
    pushed = (
        notices_service.delivery_states(session, ticket_id=ticket.id)
        if ticket.conversation_id and pushes
        else {}
    )
    return TicketRead(
        number=ticket.number,
        status=ticket.status,
        priority=ticket.priority,
        queue=ticket.queue.key,
        category=ticket.category,
        channel=ticket.channel,
        language=ticket.language,
        customer_id=ticket.customer_id,
        subject=shown["subject"].text or "",
        description=shown["description"].text or "",
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        version=ticket.version,
        queue_names={"en": ticket.queue.name_en, "zh": ticket.queue.name_zh},
        assignee=ticket.assignee.username if ticket.assignee else None,
        escalation_level=ticket.escalation_level,
        escalation_reason=shown["escalation_reason"].text,
        first_responded_at=ticket.first_responded_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        sla_state=sla_clocks.sla_state(ticket),
        masked_texts=[name for name, text in shown.items() if text.masked],
        messages=[
            MessageRead(
                id=message.id,
                author_type=message.author_type,
                author_name=message.author_name,
                body=body.text or "",
                public=message.public,
                created_at=message.created_at,
                masked=body.masked,
                delivery=(
                    MessageDelivery(
                        status=state.status,  # type: ignore[arg-type]
                        at=state.at,
                        channel=state.channel,
                    )
                    if (state := pushed.get(message.id)) is not None
                    else None
                ),
            )
            for message, body in messages
        ],
    )


def ticket_summary(ticket: Ticket) -> TicketSummary:
    """The list view of a ticket."""
    assert ticket.number is not None
    return TicketSummary(
        number=ticket.number,
        status=ticket.status,
        priority=ticket.priority,
        queue=ticket.queue.key,
        category=ticket.category,
        channel=ticket.channel,
        language=ticket.language,
        customer_id=ticket.customer_id,
        subject=ticket.subject,
        assignee=ticket.assignee.username if ticket.assignee else None,
        escalation_level=ticket.escalation_level,
        version=ticket.version,
        sla_state=sla_clocks.sla_state(ticket),
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        first_responded_at=ticket.first_responded_at,
    )


@router.get(
    "",
    response_model=TicketPage,
    responses={code: _ERRORS[code] for code in (401, 403, 422)},
)
def list_tickets(
    session: SessionDep,
    principal: BotOrStaff,
    status_: Annotated[list[TicketStatus] | None, Query(alias="status")] = None,
    queue: Annotated[list[str] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    assignee: Annotated[
        str | None, Query(description="`me`, `none` (unassigned) or a username", max_length=64)
    ] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    sla_state: Annotated[SlaState | None, Query()] = None,
    created_after: Annotated[AwareDatetime | None, Query()] = None,
    created_before: Annotated[AwareDatetime | None, Query()] = None,
    sort: Annotated[
        str,
        Query(
            description="created_at, updated_at, priority, first_response_due_at, "
            "resolution_due_at or number; prefix - for descending",
            max_length=40,
        ),
    ] = "-created_at",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TicketPage:
    """Tickets the caller may see, filtered, sorted and paginated."""
    assignee_id: int | None = None
    unassigned = False
    if assignee == "me":
        assignee_id = principal.agent_id if principal.agent_id is not None else -1
    elif assignee == "none":
        unassigned = True
    elif assignee:
        agent = agents_repo.get_by_username(session, assignee)
        assignee_id = agent.id if agent else -1
    flt = TicketFilter(
        statuses=status_ or (),
        queue_keys=queue or (),
        priorities=priority or (),
        channels=channel or (),
        assignee_id=assignee_id,
        unassigned=unassigned,
        customer_id=customer_id,
        sla_state=sla_state,
        created_after=created_after,
        created_before=created_before,
    )
    items, total = work_service.list_visible(
        session, principal=principal, flt=flt, sort=sort, limit=limit, offset=offset
    )
    return TicketPage(
        items=[ticket_summary(t) for t in items], total=total, limit=limit, offset=offset
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead,
    responses={
        200: {"description": "Replay of an earlier request with this Idempotency-Key"},
        **{code: _ERRORS[code] for code in (401, 409, 413, 422)},
        403: {
            "description": "The bot for another conversation (`not_your_conversation`), or "
            "staff claiming `customer.contact_verified` (`channel_verification_only`)"
        },
    },
)
def create_ticket(
    payload: TicketCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: BotOrStaff,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> TicketRead:
    """Open a ticket (201), or return the ticket an earlier identical request opened (200)."""
    access.check_own_conversation(
        principal,
        channel=payload.customer.channel.value,
        external_id=payload.customer.external_id,
        refusal="the bot opens tickets only for the customer of its conversation",
    )
    creation = tickets_service.create_ticket(
        session,
        vault=vault,
        principal=principal,
        payload=payload,
        idempotency_key=idempotency_key,
    )
    if not creation.created:
        response.status_code = status.HTTP_200_OK
    answer = ticket_read(
        creation.ticket,
        principal=principal,
        session=session,
        vault=vault,
        # Only an assignment pushes anything during a creation (its notice); no other
        # transaction can have pushed anything of a ticket that is not committed yet.
        pushes=not creation.created or creation.ticket.assignee_id is not None,
    )
    end_unit_of_work(session)  # here, in this thread: one trip to the thread pool less
    return answer


@router.get(
    "/{number}",
    response_model=TicketRead,
    responses={code: _ERRORS[code] for code in (401, 404)},
)
def get_ticket(
    number: str, session: SessionDep, vault: VaultDep, principal: BotOrStaff
) -> TicketRead:
    """A ticket and its thread, by number (``SD-100001``, any case)."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    return ticket_read(ticket, principal=principal, session=session, vault=vault)


@router.patch(
    "/{number}",
    response_model=TicketRead,
    responses={code: _ERRORS[code] for code in (401, 403, 404, 409, 422)},
)
def update_ticket(
    number: str,
    payload: TicketUpdate,
    session: SessionDep,
    vault: VaultDep,
    principal: BotOrStaff,
) -> TicketRead:
    """Change status, priority, queue, category or subject; send the version you read."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    ticket = work_service.update(
        session, ticket=ticket, principal=principal, version=payload.version, changes=changes
    )
    return ticket_read(ticket, principal=principal, session=session, vault=vault)


@router.get(
    "/{number}/history",
    response_model=list[HistoryEntry],
    responses={code: _ERRORS[code] for code in (401, 403, 404)},
)
def ticket_history(
    number: str, session: SessionDep, vault: VaultDep, principal: StaffOnly
) -> list[HistoryEntry]:
    """Every change of the ticket: who, when, from what to what (text shown by role)."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    texts = ticket_text.TextView(principal=principal, vault=vault)
    entries = []
    for e in tickets_repo.history(session, ticket.id):
        old = texts.show(e.old_value, e.old_value_enc)
        new = texts.show(e.new_value, e.new_value_enc)
        entries.append(
            HistoryEntry(
                id=e.id,
                actor=e.actor,
                field=e.field,
                old_value=old.text,
                new_value=new.text,
                at=e.created_at,
                masked=old.masked or new.masked,
            )
        )
    texts.audit(session, ticket=ticket)
    return entries


@router.post(
    "/{number}/reveal",
    response_model=TextRevealRead,
    responses={code: _ERRORS[code] for code in (401, 403, 404, 422)},
)
def reveal_text(
    number: str,
    payload: TextRevealCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: StaffOnly,
) -> TextRevealRead:
    """One text of the ticket in full (a message, the subject ...), with a reason; audited."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    revealed = ticket_text.reveal(
        session,
        vault=vault,
        ticket=ticket,
        principal=principal,
        part=payload.part,
        item_id=payload.id,
        reason_code=payload.reason_code,
        reason=payload.reason,
    )
    return TextRevealRead(
        part=revealed.part,
        id=revealed.id,
        text=revealed.text,
        old_value=revealed.old_value,
        new_value=revealed.new_value,
    )


@router.post(
    "/{number}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead,
    responses={code: _ERRORS[code] for code in (401, 403, 404, 409, 413, 422)},
)
def post_message(
    number: str,
    payload: MessageCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: BotOrStaff,
) -> TicketRead:
    """Add a public reply or (staff) an internal note to the thread."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    # The service brings the ticket current: its status and its thread with this message.
    thread_service.post_message(
        session,
        ticket=ticket,
        principal=principal,
        body=payload.body,
        public=payload.public,
        author_type=payload.author_type,
    )
    return ticket_read(ticket, principal=principal, session=session, vault=vault)


@router.post(
    "/{number}/escalate",
    response_model=TicketRead,
    responses={code: _ERRORS[code] for code in (401, 403, 404, 409, 422)},
)
def escalate_ticket(
    number: str,
    payload: EscalationCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: BotOrStaff,
) -> TicketRead:
    """Raise the ticket one escalation level (priority up; level 2 goes to supervisors)."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    source = access.escalation_source(principal, payload.source)
    if payload.transcript:
        thread_service.hand_over_transcript(
            session,
            ticket=ticket,
            lines=[(line.author_type, line.body, line.at) for line in payload.transcript],
        )
    ticket = lifecycle.escalate(
        session, ticket=ticket, principal=principal, reason=payload.reason, source=source
    )
    return ticket_read(ticket, principal=principal, session=session, vault=vault)


@router.post(
    "/{number}/cancel",
    response_model=TicketRead,
    responses={
        **{code: _ERRORS[code] for code in (401, 403, 404, 422)},
        409: {"description": "Already resolved or closed (`not_cancellable`)"},
    },
)
def cancel_ticket(
    number: str,
    payload: CancellationCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: BotOrStaff,
) -> TicketRead:
    """Close an unfinished ticket at the customer's request; the reason joins the thread."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    ticket = lifecycle.cancel(session, ticket=ticket, principal=principal, reason=payload.reason)
    return ticket_read(ticket, principal=principal, session=session, vault=vault)


@router.post(
    "/{number}/claim",
    response_model=TicketRead,
    responses={
        **{code: _ERRORS[code] for code in (401, 403, 404)},
        409: {"description": "Someone else holds the ticket (`already_claimed`)"},
    },
)
def claim_ticket(
    number: str, session: SessionDep, vault: VaultDep, principal: StaffOnly
) -> TicketRead:
    """Take an unassigned ticket of a queue you work. Of two claims at once, one wins."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    ticket = work_service.claim(session, ticket=ticket, principal=principal)
    return ticket_read(ticket, principal=principal, session=session, vault=vault)


@router.post(
    "/{number}/assign",
    response_model=TicketRead,
    responses={
        **{code: _ERRORS[code] for code in (401, 403, 404, 422)},
        409: {"description": "The agent is at capacity (`agent_at_capacity`); send force"},
    },
)
def assign_ticket(
    number: str,
    payload: AssignmentCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: SupervisorOnly,
) -> TicketRead:
    """A supervisor gives the ticket to an agent who works its queue (transfer/reassign)."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    agent = agents_repo.get_by_username(session, payload.agent)
    if agent is None or not agent.active:
        raise ValidationFailed(f"no agent {payload.agent!r}", field="agent")
    ticket = assignment.assign_to(
        session, ticket=ticket, agent=agent, actor=principal.name, force=payload.force
    )
    return ticket_read(ticket, principal=principal, session=session, vault=vault)


@router.post(
    "/{number}/rating",
    status_code=status.HTTP_201_CREATED,
    response_model=RatingRead,
    responses={
        **{code: _ERRORS[code] for code in (401, 403, 404, 422)},
        409: {
            "description": "Not resolved yet (`not_resolved`) or rated already (`already_rated`)"
        },
    },
)
def rate_ticket(
    number: str, payload: RatingCreate, session: SessionDep, principal: BotOnly
) -> RatingRead:
    """The customer's one rating (1-5) of a resolved ticket, through the bot (staff: 403)."""
    ticket = work_service.get_visible(session, number=number, principal=principal)
    rating = ratings_service.rate(
        session, ticket=ticket, score=payload.score, comment=payload.comment
    )
    return RatingRead(
        ticket=number.upper(),
        score=rating.score,
        comment=rating.comment,
        created_at=rating.created_at,
    )
