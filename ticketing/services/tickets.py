"""Ticket rules: opening (routing, priority, SLA dues, idempotency) and reading."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ticketing import events, privacy_text
from ticketing.enums import AuthorType, TicketStatus
from ticketing.errors import Conflict, NotFound
from ticketing.events import DeskEvent
from ticketing.models import IdempotencyKey, Ticket, TicketEvent, TicketMessage, utcnow
from ticketing.principals import Principal
from ticketing.privacy import Vault
from ticketing.repositories import idempotency as idempotency_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.repositories import written as written_rows
from ticketing.routing import RoutingPolicy
from ticketing.schemas import TicketCreate
from ticketing.services import assignment, profiles
from ticketing.services import customers as customers_service
from ticketing.services import queues as queues_service
from ticketing.services.policy import current_policy
from ticketing.services.queues import ensure_queue

logger = logging.getLogger(__name__)

TICKET_NUMBER_PATTERN = re.compile(r"^SD-\d{6,12}$")
SUBJECT_CHARS = 80


class TicketNotFound(NotFound):
    code = "ticket_not_found"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class TicketCreation:
    """The ticket a create request stands for, and whether this request created it."""

    ticket: Ticket
    created: bool


def normalise_ticket_number(raw: str) -> str | None:
    """``sd-100001`` -> ``SD-100001``; None if it is not a ticket number at all."""
    candidate = raw.strip().upper()
    return candidate if TICKET_NUMBER_PATTERN.match(candidate) else None


def request_fingerprint(payload: TicketCreate) -> str:
    """A hash of the normalised request, to tell a retry from a different request."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def default_subject(description: str) -> str:
    """The first line of the description, shortened to fit a list view."""
    first_line = description.strip().splitlines()[0].strip()
    if len(first_line) <= SUBJECT_CHARS:
        return first_line
    return first_line[: SUBJECT_CHARS - 1].rstrip() + "…"


def create_ticket(
    session: Session,
    *,
    vault: Vault,
    principal: Principal,
    payload: TicketCreate,
    idempotency_key: str | None = None,
    policy: RoutingPolicy | None = None,
    now: datetime | None = None,
    assign: bool = True,
) -> TicketCreation:
    """Open a ticket: resolve the customer, route it, set priority and SLA dues, record it.

    With an idempotency key, a repeat of the same request returns the first ticket and
    a different request under the same key is a conflict.
    """
    privacy_text.bind_vault(session, vault)
    if payload.customer.contact_verified and not principal.is_bot:
        raise profiles.ChannelVerificationOnly("customer.contact_verified")
    fingerprint = request_fingerprint(payload)
    claim_id: int | None = None
    if idempotency_key:
        # Claim first (one INSERT ... ON CONFLICT DO NOTHING); read only when it was taken.
        claim_id = idempotency_repo.claim(
            session, key=idempotency_key, principal=principal.name, request_hash=fingerprint
        )
        if claim_id is None:
            existing = idempotency_repo.get(session, key=idempotency_key, principal=principal.name)
            if existing is None:  # pragma: no cover - the conflict means the row exists
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress",
                    code="idempotency_key_in_progress",
                )
            return _replay(session, existing, fingerprint)

    ticket = _open_ticket(
        session,
        vault=vault,
        principal=principal,
        payload=payload,
        policy=policy or current_policy(session),
        now=now or utcnow(),
    )
    if claim_id is not None:
        idempotency_repo.settle(session, claim_id=claim_id, ticket_id=ticket.id)
    if assign and assignment.assign_new_ticket(session, ticket=ticket, now=now) is not None:
        # An assignment changes more than the ticket's row (what it writes to the thread
        # and elsewhere): read the ticket again, as the response must show it all.
        reloaded = tickets_repo.get_by_id(session, ticket.id)
        assert reloaded is not None
        ticket = reloaded
    logger.info(
        "ticket %s opened in queue %s with priority %s by %s",
        ticket.number,
        ticket.queue.key,
        ticket.priority,
        principal.name,
    )
    return TicketCreation(ticket=ticket, created=True)


def _replay(session: Session, record: IdempotencyKey, fingerprint: str) -> TicketCreation:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was already used for a different request")
    ticket = tickets_repo.get_by_id(session, record.ticket_id) if record.ticket_id else None
    if ticket is None:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress",
            code="idempotency_key_in_progress",
        )
    return TicketCreation(ticket=ticket, created=False)


def _open_ticket(
    session: Session,
    *,
    vault: Vault,
    principal: Principal,
    payload: TicketCreate,
    policy: RoutingPolicy,
    now: datetime,
) -> Ticket:
    customer_data = payload.customer
    # The bot's authentication already found who owns its conversation's identity.
    same_conversation = principal.conversation == (
        customer_data.channel.value,
        customer_data.external_id,
    )
    resolved = customers_service.resolve(
        session,
        vault=vault,
        channel=customer_data.channel,
        external_id=customer_data.external_id,
        language=customer_data.language or payload.language,
        phone=customer_data.phone,
        email=customer_data.email,
        display_name=customer_data.display_name,
        contact_verified=customer_data.contact_verified,
        channel_owner=(
            principal.customer_id if same_conversation else customers_service.NOT_LOOKED_UP
        ),
    )
    customer = resolved.customer
    # A customer created just now carries no tags yet, so no VIP tag to look for.
    vip = not resolved.created and profiles.is_vip(session, customer.id)
    route = policy.route(payload.category, urgency=payload.urgency, vip=vip)
    definition = next(q for q in policy.queues if q.key == route.queue_key)
    # The queue as this process last saw it stored, checked by the ticket's INSERT itself
    # (one round trip less than reading it); ensured and read when that check fails.
    queue = queues_service.remembered_queue(definition)
    dues = policy.sla.dues(route.priority, start=now)
    contact = {"phone": customer_data.phone, "email": customer_data.email}

    # Written with Core INSERTs, not the ORM's unit of work (most of a creation's CPU was
    # the flush): the rows are sealed here, as the flush hook would seal them, and the
    # ticket the response shows is built from what was written (no re-read).
    names = (
        (customer_data.display_name.strip(),)
        if resolved.created and customer_data.display_name
        else privacy_text.names_of(customer, vault)
    )
    row = privacy_text.seal_row(
        Ticket,
        {
            "status": TicketStatus.NEW,
            "priority": route.priority,
            "category": payload.category,
            "channel": payload.channel,
            "language": payload.language,
            "customer_id": customer.id,
            "subject": payload.subject or default_subject(payload.description),
            "description": payload.description,
            "escalation_reason": None,
            "contact_enc": (vault.encrypt(json.dumps(contact)) if any(contact.values()) else None),
            "first_response_due_at": dues.first_response_due_at,
            "resolution_due_at": dues.resolution_due_at,
            "first_response_warning_at": dues.first_response_warning_at,
            "resolution_warning_at": dues.resolution_warning_at,
            "created_at": now,
            "updated_at": now,
            "conversation_id": principal.rasa_conversation_id,
            "version": 1,
            "escalation_level": 0,
        },
        vault=vault,
        names=names,
    )
    row.pop("escalation_reason"), row.pop("escalation_reason_enc")
    # The customer's words first (the thread is ordered by id); the transcript is context
    # for agents, the customer already has it in their chat.
    thread = [
        privacy_text.seal_row(
            TicketMessage,
            {
                "author_type": AuthorType.CUSTOMER,
                "author_name": None,
                "body": payload.description,
                "public": True,
                "created_at": now,
            },
            vault=vault,
            names=names,
        ),
        *(
            privacy_text.seal_row(
                TicketMessage,
                {
                    "author_type": line.author_type,
                    "author_name": None,
                    "body": line.body,
                    "public": False,
                    "created_at": line.at or now,
                },
                vault=vault,
                names=names,
            )
            for line in payload.transcript
        ),
    ]
    history = privacy_text.seal_row(
        TicketEvent,
        {
            "actor": principal.name,
            "field": "created",
            "old_value": None,
            "new_value": TicketStatus.NEW.value,
            "created_at": now,
        },
        vault=vault,
        names=names,
    )
    written = (
        tickets_repo.insert_opened(session, ticket=row, queue=queue, messages=thread, event=history)
        if queue is not None
        else None
    )
    if written is None:
        queue = ensure_queue(session, definition)
        session.flush()  # a rename ensure_queue made, before the INSERT checks the names
        written = tickets_repo.insert_opened(
            session, ticket=row, queue=queue, messages=thread, event=history
        )
        if written is None:  # pragma: no cover - ensured in this very transaction
            raise RuntimeError(f"queue {definition.key!r} vanished while a ticket was opened")
        queues_service.remember(queue)
    else:
        assert queue is not None
        queue = written_rows.known(session, queue)
    ticket_id, number, message_ids, event_id = written
    # What the request wrote, put in the session as if loaded (no re-read): the response
    # is built from it, and callers that change the new ticket change it as usual.
    ticket = tickets_repo.as_loaded(
        session,
        Ticket(
            id=ticket_id,
            number=number,
            queue=queue,
            queue_id=queue.id,
            assignee=None,
            **row,
            messages=[
                TicketMessage(id=message_id, ticket_id=ticket_id, **message)
                for message_id, message in zip(message_ids, thread, strict=True)
            ],
            events=[TicketEvent(id=event_id, ticket_id=ticket_id, **history)],
        ),
    )
    events.record(
        session,
        DeskEvent(
            "ticket.created",
            ticket.number,
            {
                "queue": queue.key,
                "priority": route.priority.value,
                "channel": ticket.channel.value,
                "language": ticket.language,
            },
        ),
    )
    return ticket


def get_ticket(session: Session, *, number: str) -> Ticket:
    """A ticket by its number (any case), with its queue and thread loaded."""
    normalised = normalise_ticket_number(number)
    ticket = tickets_repo.get_by_number(session, normalised) if normalised else None
    if ticket is None:
        raise TicketNotFound(f"no ticket with number {number[:40]!r}")
    return ticket
