"""The ticketing service's data contracts (pydantic): what clients send and what they read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
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


class RetentionPeriod(BaseModel):
    """One line of the retention schedule."""

    data: str
    kept: str
    setting: str
    value: float
    default: float
    then: str


class RetentionRunRead(BaseModel):
    """A retention run (or, for a dry run, what one would do): counts only."""

    at: datetime
    actor: str
    dry_run: bool
    counts: dict[str, Any]


class RetentionScheduleRead(BaseModel):
    """The retention schedule as configured, and its last run."""

    periods: list[RetentionPeriod]
    run_every_hours: float
    scheduler_in_this_process: bool
    conversation_store: str | None
    last_run: RetentionRunRead | None
    next_run_due_at: datetime | None


class RetentionRunRequest(BaseModel):
    """Run the schedule now; ``dry_run`` only counts what is due."""

    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = False
