"""The ticket API's data contracts (pydantic): what clients send and read about tickets.

Unlike the other routers' models, which sit beside their routes in ``api/routers/``,
these live in ``ticketing/`` because the services take them as input too
(``services.tickets.create_ticket`` takes a :class:`TicketCreate`). The contact types
(:data:`PhoneNumber`, :data:`EmailAddress`) are shared with the customers' routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from ticketing.enums import (
    AuthorType,
    Category,
    Channel,
    EscalationSource,
    Language,
    Priority,
    RevealReason,
    TicketStatus,
)
from ticketing.errors import ValidationFailed
from ticketing.privacy import normalise_email, normalise_phone

MAX_DESCRIPTION_CHARS = 4000
SlaState = Literal["ok", "warning", "breached"]
MAX_TRANSCRIPT_LINES = 200


def _phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return normalise_phone(value)
    except ValidationFailed as error:
        raise ValueError(error.message) from error


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return normalise_email(value)
    except ValidationFailed as error:
        raise ValueError(error.message) from error


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DESCRIPTION_CHARS)
]
PhoneNumber = Annotated[str | None, AfterValidator(_phone)]
EmailAddress = Annotated[str | None, AfterValidator(_email)]


class CustomerCreate(BaseModel):
    """Who the ticket is for, as the channel knows them, plus any contact they gave."""

    channel: Channel
    external_id: Annotated[Text, StringConstraints(max_length=200)]
    language: Language | None = None
    phone: PhoneNumber = Field(default=None, max_length=40)
    email: EmailAddress = Field(default=None, max_length=254)
    display_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    contact_verified: bool = Field(
        default=False,
        description="True only when the channel proved the contact (a carrier's caller "
        "number); a verified contact links this identity to the customer who owns it. "
        "Only the bot's service token may send true (staff: 403 `channel_verification_only`).",
    )


class TranscriptLine(BaseModel):
    """One line of the conversation that led to the ticket."""

    author_type: AuthorType
    body: Description
    at: AwareDatetime | None = None


class TicketCreate(BaseModel):
    """A new ticket, as the bot (or another client) opens it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer": {
                        "channel": "rest",
                        "external_id": "sender-123",
                        "language": "zh",
                        "phone": "13800138000",
                        "email": None,
                        "display_name": None,
                    },
                    "description": "我的宽带从昨天开始就连不上了",
                    "category": "technical_support",
                    "channel": "rest",
                    "language": "zh",
                    "urgency": None,
                    "subject": None,
                    "transcript": [
                        {
                            "author_type": "customer",
                            "body": "我的宽带从昨天开始就连不上了",
                            "at": "2026-11-23T07:00:00Z",
                        }
                    ],
                },
                {
                    "customer": {
                        "channel": "rest",
                        "external_id": "sam",
                        "language": "en",
                        "email": "sam@example.com",
                    },
                    "description": "My internet has been down since yesterday",
                    "category": "technical_support",
                    "channel": "rest",
                    "language": "en",
                },
            ]
        }
    )

    customer: CustomerCreate
    description: Description
    category: Category = Category.GENERAL
    channel: Channel
    language: Language
    urgency: Priority | None = None
    subject: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    transcript: list[TranscriptLine] = Field(default_factory=list, max_length=MAX_TRANSCRIPT_LINES)

    @field_validator("category", mode="before")
    @classmethod
    def _missing_category_is_general(cls, value: Any) -> Any:
        return Category.GENERAL if value is None else value

    @field_validator("transcript", mode="before")
    @classmethod
    def _missing_transcript_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class MessageDelivery(BaseModel):
    """How a message pushed to the customer stands: ``held`` (their quiet hours; ``at``
    is when it goes), ``queued``, ``sent`` (``at`` is when) or ``failed``."""

    status: Literal["held", "queued", "sent", "failed"]
    at: datetime | None
    channel: str


class MessageRead(BaseModel):
    """One message of a ticket's thread."""

    id: int
    author_type: AuthorType
    author_name: str | None
    body: str
    public: bool
    created_at: datetime
    masked: bool = Field(
        default=False,
        description="Personal data in the body is masked for you; "
        "`POST /tickets/{number}/reveal` shows it in full (audited).",
    )
    delivery: MessageDelivery | None = Field(
        default=None,
        description="For a reply or progress notice pushed to the customer: whether it was sent.",
    )


class TicketRead(BaseModel):
    """A ticket as clients see it, with the messages the caller may read."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "SD-100001",
                    "status": "new",
                    "priority": "normal",
                    "queue": "technical_support",
                    "category": "technical_support",
                    "channel": "rest",
                    "language": "zh",
                    "customer_id": 1,
                    "subject": "我的宽带从昨天开始就连不上了",
                    "description": "我的宽带从昨天开始就连不上了",
                    "created_at": "2026-11-23T07:01:00Z",
                    "updated_at": "2026-11-23T07:01:00Z",
                    "first_response_due_at": "2026-11-23T11:01:00Z",
                    "resolution_due_at": "2026-11-24T07:01:00Z",
                    "messages": [
                        {
                            "id": 1,
                            "author_type": "customer",
                            "author_name": None,
                            "body": "我的宽带从昨天开始就连不上了",
                            "public": True,
                            "created_at": "2026-11-23T07:01:00Z",
                        }
                    ],
                }
            ]
        }
    )

    number: str
    status: TicketStatus
    priority: Priority
    queue: str
    category: Category
    channel: Channel
    language: str
    customer_id: int
    subject: str
    description: str
    created_at: datetime
    updated_at: datetime
    first_response_due_at: datetime
    resolution_due_at: datetime
    version: int = 1
    queue_names: dict[str, str] = Field(
        default_factory=dict, description="The queue's name by language (`en`, `zh`)."
    )
    assignee: str | None = None
    escalation_level: int = 0
    escalation_reason: str | None = None
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    sla_state: SlaState = "ok"
    masked_texts: list[str] = Field(
        default_factory=list,
        description="Which of subject, description, escalation_reason hold masked "
        "personal data for you.",
    )
    messages: list[MessageRead]


class TicketSummary(BaseModel):
    """A ticket in a list: no thread."""

    number: str
    status: TicketStatus
    priority: Priority
    queue: str
    category: Category
    channel: Channel
    language: str
    customer_id: int
    subject: str
    assignee: str | None
    escalation_level: int
    version: int
    sla_state: SlaState
    created_at: datetime
    updated_at: datetime
    first_response_due_at: datetime
    resolution_due_at: datetime
    # When an agent first answered (None: the first-response clock still runs).
    first_responded_at: datetime | None = None


class TicketPage(BaseModel):
    """One page of a ticket list."""

    items: list[TicketSummary]
    total: int
    limit: int
    offset: int


class TicketUpdate(BaseModel):
    """An edit of a ticket, made against the version the client read."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"version": 3, "status": "pending"},
                {"version": 4, "priority": "high", "queue": "billing"},
            ]
        },
    )

    version: int = Field(ge=1, description="The ticket's version as last read; 409 if stale.")
    status: TicketStatus | None = None
    priority: Priority | None = None
    queue: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    category: Category | None = None
    subject: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None


class MessageCreate(BaseModel):
    """A reply or an internal note. The bot posts the customer's words or its own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"body": "I've reset your line; please restart the router.", "public": True},
                {"body": "Customer called twice already.", "public": False},
                {"body": "路由器重启后还是不行", "author_type": "customer"},
            ]
        },
    )

    body: Description
    public: bool = True
    author_type: AuthorType | None = Field(
        default=None, description="For the bot only: `customer` (default) or `bot`."
    )


class EscalationCreate(BaseModel):
    """Why a ticket goes up a level, and who asked."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "customer asked for a human", "source": "customer"}]
        },
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    source: EscalationSource = EscalationSource.AGENT
    transcript: list[TranscriptLine] = Field(
        default_factory=list,
        max_length=MAX_TRANSCRIPT_LINES,
        description="The conversation so far, handed to the agents (kept as internal lines).",
    )


class CancellationCreate(BaseModel):
    """Why the customer (or staff for them) cancels an unfinished ticket."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "the internet works again"},
                {"reason": "重复提交的工单"},
            ]
        },
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AssignmentCreate(BaseModel):
    """Who should work the ticket; ``force`` lets a supervisor go past the agent's capacity."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"agent": "li.na", "force": False}]}
    )

    agent: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    force: bool = False


class RatingCreate(BaseModel):
    """The customer's satisfaction with a resolved ticket."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"score": 5, "comment": "很快就解决了"}]}
    )

    score: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class RatingRead(BaseModel):
    """A stored rating."""

    ticket: str
    score: int
    comment: str | None
    created_at: datetime


class HistoryEntry(BaseModel):
    """One change in a ticket's history."""

    id: int
    actor: str
    field: str
    old_value: str | None
    new_value: str | None
    at: datetime
    masked: bool = False


class TextRevealCreate(BaseModel):
    """Which text of a ticket to show in full, and why (kept in the audit log)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "part": "message",
                    "id": 12,
                    "reason_code": "callback",
                    "reason": "customer asked us to call back",
                },
                {
                    "part": "description",
                    "reason_code": "dispute",
                    "reason": "checking the card number with billing",
                },
            ]
        },
    )

    part: Literal["subject", "description", "escalation_reason", "message", "history"]
    id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The message or history entry."
    )
    reason_code: RevealReason = Field(
        description="Why: customer_request, callback, verification, dispute or legal."
    )
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)
    ] = Field(description="What for, in words, as for a profile field. Kept in the audit log.")


class TextRevealRead(BaseModel):
    """One text in full (a history entry: its old and new value)."""

    part: str
    id: int | None
    text: str | None = None
    old_value: str | None = None
    new_value: str | None = None
