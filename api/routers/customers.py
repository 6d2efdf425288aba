"""The customer profile store over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status

from api.auth import require_roles
from api.deps import SessionDep, VaultDep
from ticketing.enums import Channel, IdentityKind
from ticketing.errors import Forbidden
from ticketing.principals import Principal, Role
from ticketing.schemas import (
    CustomerMatch,
    CustomerRead,
    CustomerSearch,
    ErasureRequest,
    IdentityCreate,
    IdentityRead,
    MergeRequest,
    ProfileMessage,
    ProfileRating,
    ProfileRead,
    ProfileTicket,
    ProfileUpdate,
    RevealRead,
    RevealRequest,
    TagsUpdate,
)
from ticketing.services import conversation_erasure, profiles
from ticketing.services import customers as customers_service

router = APIRouter(prefix="/customers", tags=["customers"])

ProfileReader = Annotated[
    Principal,
    Depends(require_roles(Role.BOT_SERVICE, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)),
]


@router.get(
    "/by-identity",
    response_model=CustomerRead,
    responses={
        401: {"description": "Missing or invalid token"},
        404: {"description": "No customer under this identity (`customer_not_found`)"},
    },
)
def find_by_identity(
    channel: Channel,
    external_id: Annotated[str, Query(min_length=1, max_length=200)],
    session: SessionDep,
    vault: VaultDep,
    principal: ProfileReader,
) -> CustomerRead:
    """The customer a channel's sender id belongs to, with masked contacts only.

    The bot asks about its own conversation; staff only about a customer they may see.
    """
    if principal.is_bot and principal.conversation != (channel.value, external_id.strip()):
        raise Forbidden(
            "the bot looks up only the customer of its conversation", code="not_your_conversation"
        )
    customer = customers_service.find_by_identity(
        session, vault=vault, channel=channel, external_id=external_id
    )
    if not principal.is_bot:
        profiles.get_visible_customer(
            session, customer_id=customer.id, principal=principal, attempt="by_identity"
        )
    contacts = customers_service.contact_summary(customer, vault=vault)
    return CustomerRead(
        id=customer.id,
        language=customer.language,
        has_phone=contacts.has_phone,
        has_email=contacts.has_email,
        phone_masked=contacts.phone_masked,
        email_masked=contacts.email_masked,
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Your role may not do this"},
    404: {
        "description": "No such customer, or not one you may see (`customer_not_found`): "
        "agents see the customers who have a ticket in a queue they work or assigned to them"
    },
    409: {"description": "Conflict (`identity_taken`, `customer_erased`, `already_merged`)"},
    422: {"description": "Invalid payload; `details` names each field"},
}
StaffReader = Annotated[Principal, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
CustomerId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _profile(view: profiles.ProfileView) -> ProfileRead:
    customer = view.customer
    return ProfileRead(
        id=customer.id,
        language=customer.language,
        name=view.personal.get("name"),
        phone=view.personal.get("phone"),
        email=view.personal.get("email"),
        id_number=view.personal.get("id_number"),
        shown_in_clear=view.shown_in_clear,
        contact_preferences=customer.contact_preferences or {},
        tags=view.tags,
        identities=[IdentityRead(**i) for i in view.identities],
        tickets=[
            ProfileTicket(
                number=t.number or "",
                status=t.status,
                priority=t.priority,
                queue=t.queue.key,
                subject=t.subject,
                created_at=t.created_at,
            )
            for t in view.tickets
        ],
        recent_messages=[
            ProfileMessage(
                ticket_id=m.ticket_id,
                author_type=m.author_type,
                body=m.body,
                created_at=m.created_at,
            )
            for m in view.messages
        ],
        ratings=[
            ProfileRating(score=r.score, comment=r.comment, created_at=r.created_at)
            for r in view.ratings
        ],
        erased=customer.erased_at is not None,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


@router.post(
    "/search",
    response_model=list[CustomerMatch],
    responses={k: _ERRORS[k] for k in (401, 403, 422)},
)
def search_customers(
    payload: CustomerSearch, session: SessionDep, vault: VaultDep, principal: StaffReader
) -> list[CustomerMatch]:
    """Find a customer you may see by exact phone or e-mail (in the body, so it never lands
    in a URL log). Audited."""
    found = profiles.search(
        session, vault=vault, phone=payload.phone, email=payload.email, principal=principal
    )
    return [CustomerMatch(id=found.id, language=found.language)] if found else []


@router.get(
    "/{customer_id}", response_model=ProfileRead, responses={k: _ERRORS[k] for k in (401, 403, 404)}
)
def customer_360(
    customer_id: CustomerId, session: SessionDep, vault: VaultDep, principal: StaffReader
) -> ProfileRead:
    """The 360° view: profile, identities, tags, and of the tickets you may see their
    recent messages and CSAT. Every view is audited."""
    return _profile(
        profiles.view(session, vault=vault, customer_id=customer_id, principal=principal)
    )


@router.patch(
    "/{customer_id}",
    response_model=ProfileRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 409, 422)},
)
def update_customer(
    customer_id: CustomerId,
    payload: ProfileUpdate,
    session: SessionDep,
    vault: VaultDep,
    principal: StaffReader,
) -> ProfileRead:
    """Edit name, ID number, language or contact preferences (audited)."""
    profiles.update_profile(
        session,
        vault=vault,
        customer_id=customer_id,
        changes=payload.model_dump(exclude_unset=True),
        principal=principal,
    )
    return _profile(
        profiles.view(session, vault=vault, customer_id=customer_id, principal=principal)
    )


@router.put(
    "/{customer_id}/tags",
    response_model=list[str],
    responses={k: _ERRORS[k] for k in (401, 403, 404, 422)},
)
def set_tags(
    customer_id: CustomerId, payload: TagsUpdate, session: SessionDep, principal: StaffReader
) -> list[str]:
    """Replace the customer's tags (vip, high_value, churn_risk or free ones)."""
    return profiles.set_tags(
        session, customer_id=customer_id, tags=payload.tags, principal=principal
    )


@router.post(
    "/{customer_id}/identities",
    status_code=status.HTTP_201_CREATED,
    response_model=ProfileRead,
    responses={
        **{k: _ERRORS[k] for k in (401, 404, 422)},
        403: {"description": "Staff sent `verified: true` (`channel_verification_only`)"},
        409: {
            "description": "The contact belongs to another customer (`identity_taken`; the "
            "owner is not named, and the attempt is audited)"
        },
    },
)
def add_identity(
    customer_id: CustomerId,
    payload: IdentityCreate,
    session: SessionDep,
    vault: VaultDep,
    principal: StaffReader,
) -> ProfileRead:
    """Attach a phone number or e-mail address (unverified: only a channel proves one)."""
    profiles.add_identity(
        session,
        vault=vault,
        customer_id=customer_id,
        kind=IdentityKind(payload.kind),
        value=payload.value,
        verified=payload.verified,
        principal=principal,
    )
    return _profile(
        profiles.view(session, vault=vault, customer_id=customer_id, principal=principal)
    )


@router.post(
    "/{customer_id}/reveal",
    response_model=RevealRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 422)},
)
def reveal(
    customer_id: CustomerId,
    payload: RevealRequest,
    session: SessionDep,
    vault: VaultDep,
    principal: StaffReader,
) -> RevealRead:
    """One personal field in clear, for a reason code and a reason in words. Audited."""
    value = profiles.reveal(
        session,
        vault=vault,
        customer_id=customer_id,
        field_name=payload.field,
        reason_code=payload.reason_code,
        reason=payload.reason,
        principal=principal,
    )
    return RevealRead(field=payload.field, value=value)


@router.post(
    "/{customer_id}/merge",
    response_model=ProfileRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 409, 422)},
)
def merge(
    customer_id: CustomerId,
    payload: MergeRequest,
    session: SessionDep,
    vault: VaultDep,
    principal: Supervisor,
) -> ProfileRead:
    """Merge another customer into this one: tickets, identities, tags, ratings move."""
    survivor = profiles.merge(
        session, survivor_id=customer_id, other_id=payload.other_id, principal=principal
    )
    return _profile(
        profiles.view(session, vault=vault, customer_id=survivor.id, principal=principal)
    )


@router.post(
    "/{customer_id}/erase",
    response_model=ProfileRead,
    responses={k: _ERRORS[k] for k in (401, 403, 404, 409, 422)},
)
def erase(
    request: Request,
    customer_id: CustomerId,
    payload: ErasureRequest,
    session: SessionDep,
    vault: VaultDep,
    principal: Admin,
) -> ProfileRead:
    """Anonymise the customer on request; tickets keep their statistics, not their words,
    and their conversations with the bot are deleted."""
    conversations = conversation_erasure.conversations_of(
        session, customer_id=customer_id, vault=vault
    )
    profiles.erase(session, customer_id=customer_id, reason=payload.reason, principal=principal)
    conversation_erasure.forget(
        session,
        customer_id=customer_id,
        conversation_ids=conversations,
        store=request.app.state.conversations,
        channel_redis=request.app.state.redis,
        principal=principal,
    )
    return _profile(
        profiles.view(session, vault=vault, customer_id=customer_id, principal=principal)
    )
