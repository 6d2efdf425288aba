"""The service desk's tables (SQLAlchemy 2.0 declarative). Relationships never load implicitly."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum as PyEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ticketing.enums import (
    AgentPresence,
    AuthorType,
    Category,
    Channel,
    IdentityKind,
    Priority,
    StaffRole,
    TicketStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TICKET_NUMBER_PREFIX = "SD-"
TICKET_NUMBER_OFFSET = 100000


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def ticket_number(ticket_id: int) -> str:
    """The public number of a ticket: ``SD-`` + (100000 + id), so the first is SD-100001."""
    return f"{TICKET_NUMBER_PREFIX}{TICKET_NUMBER_OFFSET + ticket_id}"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_class: type[PyEnum]) -> Enum:
    """Store an enum by value in a VARCHAR: portable and migration-friendly."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Customer(TimestampMixin, Base):
    """One person across all channels."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name_enc: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    # Resident ID number (encrypted, like every personal value).
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    # {"channels": [...allowed...], "quiet_hours": ["22:00", "08:00"]}
    contact_preferences: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # Set on the customer that was merged into another (the survivor keeps everything).
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", lazy="raise", order_by="Identity.id"
    )
    tags: Mapped[list[CustomerTag]] = relationship(lazy="raise", order_by="CustomerTag.tag")


class Identity(Base):
    """A way we know a customer: a channel's sender id, a phone number or an e-mail."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[IdentityKind] = mapped_column(str_enum(IdentityKind))
    value_hash: Mapped[str] = mapped_column(String(64), index=True)
    value_enc: Mapped[str] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities", lazy="raise")


agent_queues = Table(
    "agent_queues",
    Base.metadata,
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("queue_id", ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
)


class Queue(Base):
    """Where tickets of one kind wait for agents."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))


class Agent(TimestampMixin, Base):
    """A person who works tickets."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    presence: Mapped[AgentPresence] = mapped_column(
        str_enum(AgentPresence), default=AgentPresence.OFFLINE
    )
    # Staff accounts: agents work queues; supervisors and admins are staff too.
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole), default=StaffRole.AGENT)
    # argon2id hash; None means the account cannot log in (e.g. not yet activated).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped by every administrative change; an edit names the version it read (409 if stale).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Set by a password reset: the account may only change its password until it does.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    queues: Mapped[list[Queue]] = relationship(secondary=agent_queues, lazy="raise")


class Ticket(TimestampMixin, Base):
    """A customer's request, from creation to closure."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Null only between the INSERT and the flush that derives it from the id.
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus), index=True)
    priority: Mapped[Priority] = mapped_column(str_enum(Priority))
    category: Mapped[Category] = mapped_column(str_enum(Category))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    language: Mapped[str] = mapped_column(String(8))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    # Free text is stored masked; ``<column>_enc`` holds the full text when it carried
    # personal data (sealed on flush by ticketing.privacy_text).
    subject: Mapped[str] = mapped_column(String(200))
    subject_enc: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    description_enc: Mapped[str | None] = mapped_column(Text)
    contact_enc: Mapped[str | None] = mapped_column(Text)
    first_response_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolution_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Lifecycle: when the milestones happened (the SLA clocks compare them to the dues).
    first_responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    escalation_reason_enc: Mapped[str | None] = mapped_column(Text)
    # A ticket opened for a problem that came back after its earlier ticket was closed.
    reopened_from_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # When each SLA clock reaches 80 % of its target (the warning), fixed at creation.
    first_response_warning_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolution_warning_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # SLA clocks: what the scheduler already announced (each fires once), and the pause
    # while the ticket waits on the customer.
    first_response_warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolution_warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    first_response_breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sla_paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The Rasa conversation (sender id) the customer reached the desk in, when the bot
    # opened or escalated the ticket: where agents' replies are relayed to.
    conversation_id: Mapped[str | None] = mapped_column(String(200))
    # When the retention schedule anonymised this closed ticket (ticketing/retention.py):
    # its texts, contact and conversation id are gone, its statistics kept.
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    # Optimistic concurrency: every ORM UPDATE of a ticket says WHERE version = <the
    # version read>, so of two writers that read the same version only one wins (the
    # other gets StaleDataError -> 409). The services bump the version themselves, on
    # real changes only (not when the number is filled in after the insert).
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012

    queue: Mapped[Queue] = relationship(lazy="raise")
    customer: Mapped[Customer] = relationship(lazy="raise")
    assignee: Mapped[Agent | None] = relationship(lazy="raise", foreign_keys=[assignee_id])
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", lazy="raise", order_by="TicketMessage.id"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", lazy="raise", order_by="TicketEvent.id"
    )


class RelayDelivery(Base):
    """Something to deliver to the customer's conversation: an agent's public reply, the
    news that the ticket is resolved (the bot takes over and asks for a rating), or a
    progress notice (``ticketing.services.notices``).

    Written in the same transaction as the reply or the status change (a transactional
    outbox), so nothing is lost when Rasa is down: the relay retries until delivered.
    """

    __tablename__ = "relay_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # For a progress notice (kind "notice"): which one (assigned, waiting, resolved, late).
    notice: Mapped[str | None] = mapped_column(String(16))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_messages.id"))
    conversation_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(300))


class TicketMessage(Base):
    """One message in a ticket's thread; internal notes are not public."""

    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_type: Mapped[AuthorType] = mapped_column(str_enum(AuthorType))
    author_name: Mapped[str | None] = mapped_column(String(200))
    # Masked copy; the full text in body_enc when it carried personal data.
    body: Mapped[str] = mapped_column(Text)
    body_enc: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages", lazy="raise")


class TicketEvent(Base):
    """One change in a ticket's history (audit trail)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # Masked copies above; the full values here when they carried personal data.
    old_value_enc: Mapped[str | None] = mapped_column(Text)
    new_value_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events", lazy="raise")


class IdempotencyKey(Base):
    """A client's promise that a request with this key is the same request."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("key", "principal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    principal: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SatisfactionRating(Base):
    """The customer's one rating (1-5) of a resolved ticket."""

    __tablename__ = "satisfaction_ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    comment_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CustomerTag(Base):
    """A label on a customer: vip, high_value, churn_risk or a free one."""

    __tablename__ = "customer_tags"
    __table_args__ = (UniqueConstraint("customer_id", "tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AuditEntry(Base):
    """Who touched personal data, when and why. Append-only: no API edits or deletes it.

    Never holds the personal values themselves, only which field was read or changed.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32), index=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    field: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class CustomerImport(Base):
    """One bulk import of customer records from a file: its progress and its report.

    Progress lives here, not in a process, so any API instance can report it; the
    rows themselves are applied in one transaction that also sets ``status`` to done.
    """

    __tablename__ = "customer_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running, done, failed
    phase: Mapped[str] = mapped_column(String(16), default="queued")  # reading, applying
    file_format: Mapped[str] = mapped_column(String(8))  # csv, xlsx
    encoding: Mapped[str | None] = mapped_column(String(32))
    # The name the file had on the uploader's machine (it can carry personal data).
    filename_enc: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    default_channel: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    total_rows: Mapped[int | None] = mapped_column(Integer)
    # 0..1: reading and cleansing the rows is the first half, applying them the second.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class CustomerImportRejection(Base):
    """A row an import did not take, with the reasons; the row itself encrypted."""

    __tablename__ = "customer_import_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("customer_imports.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(32))
    # [{"field": ..., "code": ..., "message": ...}] (no values)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    row_enc: Mapped[str] = mapped_column(Text)


class CustomerImportConflict(Base):
    """Two sources disagreed on a field; which one won and by which rule (no values)."""

    __tablename__ = "customer_import_conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("customer_imports.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    winner: Mapped[str] = mapped_column(String(32))  # "row 12" or "store"
    loser: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(32))  # updated_at, channel_priority, file_order


class CustomerSource(Base):
    """Where a customer's profile values came from: the import channel and its date."""

    __tablename__ = "customer_sources"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    record_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    import_id: Mapped[int | None] = mapped_column(ForeignKey("customer_imports.id"))


class ImportChannel(Base):
    """A source channel of imports: its run of low-quality imports, and whether paused."""

    __tablename__ = "import_channels"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    low_quality_streak: Mapped[int] = mapped_column(Integer, default=0)
    last_quality: Mapped[float | None] = mapped_column(Float)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    paused_import_id: Mapped[int | None] = mapped_column(Integer)
    resumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resumed_by: Mapped[str | None] = mapped_column(String(100))


class FaqAnswer(Base):
    """An FAQ answer as a supervisor rewrote it (bot/domain/faq.yml holds the trained one).

    One row per topic and language; no row means the trained answer. The bot reads the
    current text on every answer (bot/nlg.py), so an edit is live on the next turn.
    """

    __tablename__ = "faq_answers"
    __table_args__ = (UniqueConstraint("topic", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RoutingPolicyDocument(Base):
    """The routing policy an admin edited (queues, routes, SLA targets, escalation).

    One row at most; without it the packaged ``ticketing/routing.yml`` applies. Every API
    worker compares ``version`` with the one it parsed and re-reads the document when it
    changed, so an edit applies everywhere without a restart.
    """

    __tablename__ = "routing_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CannedReplies(Base):
    """The canned replies of the agent console as supervisors edited them (one row at most;
    without it the packaged ``api/static/console/canned.json`` applies)."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
