"""The ticketing service's data contracts (pydantic): what clients send and what they read."""

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


class MessageRead(BaseModel):
    """One message of a ticket's thread."""

    id: int
    author_type: AuthorType
    author_name: str | None
    body: str
    public: bool
    created_at: datetime


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
    assignee: str | None = None
    escalation_level: int = 0
    escalation_reason: str | None = None
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    sla_state: SlaState = "ok"
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

    actor: str
    field: str
    old_value: str | None
    new_value: str | None
    at: datetime


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
