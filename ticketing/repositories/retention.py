"""Queries of the retention schedule: what is past its period, and removing it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from ticketing.enums import AuthorType, TicketStatus
from ticketing.models import (
    AuditEntry,
    IdempotencyKey,
    RelayDelivery,
    SatisfactionRating,
    Ticket,
    TicketEvent,
    TicketMessage,
)

# pg_try_advisory_xact_lock(class, key): the class says "the desk's retention run", the
# key is the desk's schema, so two desks in one database (tests) do not block each other.
LOCK_CLASS = 0x64657372  # "desr"
# The scheduled backup's lock: another class, so a backup and a purge may run together.
BACKUP_LOCK_CLASS = 0x64657362  # "desb"

# History entries whose values are free text (the rest are statuses, queues, priorities:
# statistics the reports read).
TEXT_HISTORY_FIELDS = ("subject", "description", "escalation_reason", "cancel_reason")


def try_lock(session: Session, *, lock_class: int = LOCK_CLASS) -> bool:
    """Take the retention lock for this transaction; False if another instance holds it.

    PostgreSQL: an advisory transaction lock (released at commit or rollback). SQLite
    has one writer at a time anyway (its transactions begin IMMEDIATE), so the lock is
    the database's own.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    locked = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:class, hashtext(current_schema()))"),
        {"class": lock_class},
    ).scalar_one()
    return bool(locked)


def last_run_at(session: Session, *, action: str) -> datetime | None:
    """When the last retention run was audited."""
    return session.scalar(select(func.max(AuditEntry.at)).where(AuditEntry.action == action))


def closed_tickets_due(session: Session, *, closed_before: datetime, limit: int) -> list[int]:
    """Ids of closed tickets past the period whose personal data is still there.

    Rows another transaction holds are skipped (PostgreSQL), never waited for.
    """
    query = (
        select(Ticket.id)
        .where(
            Ticket.status == TicketStatus.CLOSED,
            Ticket.closed_at < closed_before,
            Ticket.personal_data_purged_at.is_(None),
        )
        .order_by(Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def count_closed_tickets_due(session: Session, *, closed_before: datetime) -> int:
    """How many closed tickets are past the period (for a dry run)."""
    return (
        session.scalar(
            select(func.count(Ticket.id)).where(
                Ticket.status == TicketStatus.CLOSED,
                Ticket.closed_at < closed_before,
                Ticket.personal_data_purged_at.is_(None),
            )
        )
        or 0
    )


def anonymise_tickets(
    session: Session, ticket_ids: Sequence[int], *, marker: str, now: datetime
) -> int:
    """Remove the personal data of these tickets; numbers, statuses, times, queues,
    categories, SLA clocks and rating scores stay for the reports. Returns how many
    relay deliveries of theirs went with it."""
    ids = list(ticket_ids)
    session.execute(
        update(TicketMessage)
        .where(TicketMessage.ticket_id.in_(ids))
        .values(body=marker, body_enc=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(TicketMessage)
        .where(TicketMessage.ticket_id.in_(ids), TicketMessage.author_type == AuthorType.CUSTOMER)
        .values(author_name=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(TicketEvent)
        .where(
            TicketEvent.ticket_id.in_(ids),
            or_(
                TicketEvent.field.in_(TEXT_HISTORY_FIELDS),
                TicketEvent.old_value_enc.is_not(None),
                TicketEvent.new_value_enc.is_not(None),
            ),
        )
        .values(old_value=marker, new_value=marker, old_value_enc=None, new_value_enc=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(SatisfactionRating)
        .where(SatisfactionRating.ticket_id.in_(ids))
        .values(comment=None, comment_enc=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Ticket)
        .where(Ticket.id.in_(ids))
        .values(
            subject=marker,
            subject_enc=None,
            description=marker,
            description_enc=None,
            escalation_reason=None,
            escalation_reason_enc=None,
            contact_enc=None,
            conversation_id=None,
            personal_data_purged_at=now,
            version=Ticket.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    # The outbox rows of these tickets name their conversation; delivered or failed
    # ones are history, and a closed ticket has nothing left to deliver.
    result = session.execute(
        delete(RelayDelivery)
        .where(RelayDelivery.ticket_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_idempotency_keys(session: Session, *, created_before: datetime) -> int:
    """Forget idempotency keys older than the cut-off; how many."""
    result = session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < created_before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_idempotency_keys(session: Session, *, created_before: datetime) -> int:
    """How many idempotency keys are older than the cut-off."""
    return (
        session.scalar(
            select(func.count(IdempotencyKey.id)).where(IdempotencyKey.created_at < created_before)
        )
        or 0
    )


def _finished_before(cutoff: datetime) -> object:
    # Only deliveries that are over (delivered, or given up): one still being retried
    # is the customer's reply on its way, never dropped.
    return or_(RelayDelivery.delivered_at < cutoff, RelayDelivery.failed_at < cutoff)


def delete_relay_deliveries(session: Session, *, finished_before: datetime) -> int:
    """Delete relay deliveries delivered or given up before the cut-off; how many."""
    result = session.execute(
        delete(RelayDelivery)
        .where(_finished_before(finished_before))  # type: ignore[arg-type]
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_relay_deliveries(
    session: Session, *, finished_before: datetime, closed_before: datetime
) -> int:
    """How many relay deliveries a purge deletes: finished before the cut-off, or of a
    closed ticket it anonymises."""
    of_due_tickets = RelayDelivery.ticket_id.in_(
        select(Ticket.id).where(
            Ticket.status == TicketStatus.CLOSED,
            Ticket.closed_at < closed_before,
            Ticket.personal_data_purged_at.is_(None),
        )
    )
    return (
        session.scalar(
            select(func.count(RelayDelivery.id)).where(
                or_(_finished_before(finished_before), of_due_tickets)  # type: ignore[arg-type]
            )
        )
        or 0
    )


def delete_audit_entries(session: Session, *, before: datetime) -> int:
    """Delete audit entries older than the cut-off (at least 3 years; the database's
    trigger refuses younger ones on PostgreSQL); how many."""
    result = session.execute(
        delete(AuditEntry)
        .where(AuditEntry.at < before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_audit_entries(session: Session, *, before: datetime) -> int:
    """How many audit entries are older than the cut-off."""
    return session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.at < before)) or 0
