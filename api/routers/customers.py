"""The customer profile store over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.auth import AdminOnly, BotOrStaff, StaffOnly, SupervisorOnly
from api.deps import SessionDep, VaultDep
from ticketing.enums import (
    AuthorType,
    Channel,
    IdentityKind,
    Language,
    Priority,
    RevealReason,
    TicketStatus,
)
from ticketing.schemas import EmailAddress, PhoneNumber
from ticketing.services import access, conversation_erasure, erasure, merges, profiles
from ticketing.services import customers as customers_service

router = APIRouter(prefix="/customers", tags=["customers"])


class CustomerRead(BaseModel):
    """What a channel may learn about a customer: whether and how (masked) we can reach them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "language": "zh",
                    "has_phone": True,
                    "has_email": False,
                    "phone_masked": "138****8000",
                    "email_masked": None,
                }
            ]
        }
    )

    id: int
    language: str
    has_phone: bool
    has_email: bool
    phone_masked: str | None
    email_masked: str | None


class IdentityRead(BaseModel):
    """A way the desk knows a customer; contact values disclosed by role."""

    kind: str
    value: str | None
    verified: bool


class ProfileTicket(BaseModel):
    number: str
    status: TicketStatus
    priority: Priority
    queue: str
    subject: str
    created_at: datetime


class ProfileMessage(BaseModel):
    ticket_id: int
    author_type: AuthorType
    body: str
    created_at: datetime


class ProfileRating(BaseModel):
    score: int
    comment: str | None
    created_at: datetime


class ProfileRead(BaseModel):
    """The 360° view of a customer. Personal fields are masked or clear by the caller's role."""

    id: int
    language: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    id_number: str | None = None
    shown_in_clear: list[str]
    contact_preferences: dict[str, Any]
    tags: list[str]
    identities: list[IdentityRead]
    tickets: list[ProfileTicket]
    recent_messages: list[ProfileMessage]
    ratings: list[ProfileRating]
    erased: bool
    created_at: datetime
    updated_at: datetime


class ContactPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] = Field(
        default_factory=list,
        max_length=10,
        description="When not empty, the only channels progress notices may use.",
    )
    notifications: bool = Field(
        default=True,
        description="False: no progress notices (assigned, waiting, late); replies and "
        "the resolution still reach the customer.",
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone for the quiet hours (default Asia/Shanghai).",
    )
    quiet_hours: (
        tuple[
            Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")],
            Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")],
        ]
        | None
    ) = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name like Asia/Shanghai)"
            ) from None
        return value


class ProfileUpdate(BaseModel):
    """Edits of a profile; personal ones are audited."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"display_name": "李雷", "language": "zh"},
                {
                    "contact_preferences": {
                        "channels": ["wechat"],
                        "quiet_hours": ["22:00", "08:00"],
                    }
                },
            ]
        },
    )

    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None
    ) = None
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    language: Language | None = None
    contact_preferences: ContactPreferences | None = None


class TagsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"tags": ["vip"]}]})

    tags: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    ] = Field(max_length=20)


class IdentityCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "phone", "value": "13800138000", "verified": False}]
        },
    )

    kind: Literal["phone", "email"]
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    verified: bool = Field(
        default=False,
        description="Only a channel that proved the contact may set this; staff sending "
        "true get 403 `channel_verification_only`.",
    )


class RevealRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "field": "phone",
                    "reason_code": "callback",
                    "reason": "customer asked for a call back",
                },
                {
                    "field": "email",
                    "reason_code": "customer_request",
                    "reason": "客户要求把账单发到邮箱",
                },
            ]
        },
    )

    field: Literal["phone", "email", "id_number", "name"]
    reason_code: RevealReason = Field(
        description="Why: customer_request, callback, verification, dispute or legal."
    )
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)
    ] = Field(
        description="What for, in words: at least 10 characters (5 Chinese ones), not one "
        "character repeated. Kept in the audit log."
    )


class RevealRead(BaseModel):
    field: str
    value: str | None


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"other_id": 7}]})

    other_id: int = Field(ge=1, le=2**31 - 1)


class ErasureRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "PIPL deletion request #2211"}]}
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]


class CustomerSearch(BaseModel):
    """An exact phone number or e-mail address to look a customer up by."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"phone": "13800138000"}]}
    )

    phone: PhoneNumber = Field(default=None, max_length=40)
    email: EmailAddress = Field(default=None, max_length=254)


class CustomerMatch(BaseModel):
    id: int
    language: str


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
    principal: BotOrStaff,
) -> CustomerRead:
    """The customer a channel's sender id belongs to, with masked contacts only.

    The bot asks about its own conversation; staff only about a customer they may see.
    """
    access.check_own_conversation(
        principal,
        channel=channel.value,
        external_id=external_id.strip(),
        refusal="the bot looks up only the customer of its conversation",
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
    payload: CustomerSearch, session: SessionDep, vault: VaultDep, principal: StaffOnly
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
    customer_id: CustomerId, session: SessionDep, vault: VaultDep, principal: StaffOnly
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
    principal: StaffOnly,
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
    customer_id: CustomerId, payload: TagsUpdate, session: SessionDep, principal: StaffOnly
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
    principal: StaffOnly,
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
    principal: StaffOnly,
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
    principal: SupervisorOnly,
) -> ProfileRead:
    """Merge another customer into this one: tickets, identities, tags, ratings move."""
    survivor = merges.merge(
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
    principal: AdminOnly,
) -> ProfileRead:
    """Anonymise the customer on request; tickets keep their statistics, not their words,
    and their conversations with the bot are deleted."""
    conversations = conversation_erasure.conversations_of(
        session, customer_id=customer_id, vault=vault
    )
    erasure.erase(session, customer_id=customer_id, reason=payload.reason, principal=principal)
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
