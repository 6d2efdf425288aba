"""The retention schedule: how long the desk keeps what, and the purge that applies it.

- closed tickets' personal data: ``closed_ticket_retention_days`` after closing, then
  texts, contact, conversation id and rating comment are removed; number, statuses,
  times, queue, category, SLA clocks and scores stay for the reports;
- idempotency keys: ``idempotency_key_retention_days``, then deleted;
- relay deliveries: ``relay_retention_days`` after delivery (or giving up), then
  deleted; pending ones never;
- conversations (Rasa's trackers): ``conversation_retention_days`` after the last
  message, then deleted (:mod:`ticketing.conversation_store`);
- the audit log: ``audit_retention_years`` (at least 3), then deleted.

One purge runs at a time across every instance: it takes a lock first (an advisory
lock on PostgreSQL) and, when the scheduler asks, runs only if the last audited run is
older than ``retention_run_hours``. Every run is audited with its counts, never content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ticketing.conversation_store import ConversationPurge, ConversationStore
from ticketing.errors import Conflict
from ticketing.models import AuditEntry, utcnow
from ticketing.repositories import audit as audit_repo
from ticketing.repositories import retention as retention_repo
from ticketing.settings import MIN_AUDIT_RETENTION_YEARS, Settings

logger = logging.getLogger(__name__)

AUDIT_ACTION = "retention"
SCHEDULER_ACTOR = "system:retention"
# What a purged ticket's texts read afterwards.
PURGED = "[removed after the retention period]"
BATCH = 500
AUDIT_MARGIN = timedelta(days=1)


class RetentionBusy(Conflict):
    """Another instance is purging right now."""

    code = "retention_busy"


@dataclass(frozen=True)
class Schedule:
    """The periods of the retention schedule."""

    closed_ticket_days: int
    idempotency_key_days: int
    relay_days: int
    conversation_days: float
    audit_years: int
    run_hours: float

    def __post_init__(self) -> None:
        if self.audit_years < MIN_AUDIT_RETENTION_YEARS:
            raise ValueError(f"the audit log is kept at least {MIN_AUDIT_RETENTION_YEARS} years")

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        """The schedule the settings configure."""
        return cls(
            closed_ticket_days=settings.closed_ticket_retention_days,
            idempotency_key_days=settings.idempotency_key_retention_days,
            relay_days=settings.relay_retention_days,
            conversation_days=settings.conversation_retention_days,
            audit_years=settings.audit_retention_years,
            run_hours=settings.retention_run_hours,
        )

    @property
    def conversation_seconds(self) -> int:
        """The conversations' retention in whole seconds (Redis expiries are integers)."""
        return max(1, round(self.conversation_days * 86_400))

    def audit_cutoff(self, now: datetime) -> datetime:
        """``audit_years`` calendar years and a day before now (29 February counts as 28).

        The day's margin: on PostgreSQL the audit log's trigger refuses to delete entries
        younger than 3 years by the database's clock, and one refused row would fail the
        whole purge if this host's clock ran ahead of it.
        """
        year = now.year - self.audit_years
        try:
            moment = now.replace(year=year)
        except ValueError:
            moment = now.replace(year=year, day=28)
        return moment - AUDIT_MARGIN

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Everything older than these moments is due."""
        return {
            "closed_tickets": now - timedelta(days=self.closed_ticket_days),
            "idempotency_keys": now - timedelta(days=self.idempotency_key_days),
            "relay_deliveries": now - timedelta(days=self.relay_days),
            "audit_log": self.audit_cutoff(now),
        }

    def periods(self) -> dict[str, Any]:
        """The periods as the audit entry and the admin page show them."""
        return {
            "closed_ticket_days": self.closed_ticket_days,
            "idempotency_key_days": self.idempotency_key_days,
            "relay_days": self.relay_days,
            "conversation_days": self.conversation_days,
            "audit_years": self.audit_years,
        }


@dataclass
class PurgeResult:
    """What one run removed (or, in a dry run, would remove): counts only."""

    tickets_anonymised: int = 0
    idempotency_keys_deleted: int = 0
    relay_deliveries_deleted: int = 0
    audit_entries_deleted: int = 0
    conversations: ConversationPurge | None = None
    dry_run: bool = False
    at: datetime = field(default_factory=utcnow)

    def counts(self) -> dict[str, Any]:
        """The counts, for the audit entry and the API."""
        return {
            "tickets_anonymised": self.tickets_anonymised,
            "idempotency_keys_deleted": self.idempotency_keys_deleted,
            "relay_deliveries_deleted": self.relay_deliveries_deleted,
            "audit_entries_deleted": self.audit_entries_deleted,
            "conversations": (
                None if self.conversations is None else self.conversations.as_details()
            ),
        }


def purge(
    session: Session,
    *,
    schedule: Schedule,
    conversations: ConversationStore | None,
    actor: str,
    role: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeResult:
    """Apply the schedule once, in the caller's transaction, which must hold the lock
    (:func:`run`). Audited unless a dry run."""
    moment = now or utcnow()
    cut = schedule.cutoffs(moment)
    result = PurgeResult(dry_run=dry_run, at=moment)
    if dry_run:
        result.tickets_anonymised = retention_repo.count_closed_tickets_due(
            session, closed_before=cut["closed_tickets"]
        )
        result.idempotency_keys_deleted = retention_repo.count_idempotency_keys(
            session, created_before=cut["idempotency_keys"]
        )
        result.relay_deliveries_deleted = retention_repo.count_relay_deliveries(
            session,
            finished_before=cut["relay_deliveries"],
            closed_before=cut["closed_tickets"],
        )
        result.audit_entries_deleted = retention_repo.count_audit_entries(
            session, before=cut["audit_log"]
        )
        if conversations is not None:
            result.conversations = conversations.due(
                retention_seconds=schedule.conversation_seconds, now=moment.timestamp()
            )
        return result

    while True:
        ids = retention_repo.closed_tickets_due(
            session, closed_before=cut["closed_tickets"], limit=BATCH
        )
        if not ids:
            break
        result.relay_deliveries_deleted += retention_repo.anonymise_tickets(
            session, ids, marker=PURGED, now=moment
        )
        result.tickets_anonymised += len(ids)
    result.idempotency_keys_deleted = retention_repo.delete_idempotency_keys(
        session, created_before=cut["idempotency_keys"]
    )
    result.relay_deliveries_deleted += retention_repo.delete_relay_deliveries(
        session, finished_before=cut["relay_deliveries"]
    )
    result.audit_entries_deleted = retention_repo.delete_audit_entries(
        session, before=cut["audit_log"]
    )
    if conversations is not None:
        result.conversations = conversations.purge(
            retention_seconds=schedule.conversation_seconds, now=moment.timestamp()
        )
    audit_repo.add(
        session,
        AuditEntry(
            at=moment,
            actor=actor,
            role=role,
            action=AUDIT_ACTION,
            customer_id=None,
            details={**result.counts(), "periods": schedule.periods()},
        ),
    )
    return result


def is_due(session: Session, *, schedule: Schedule, now: datetime) -> bool:
    """Whether the last audited run is older than the schedule's interval (or none ran)."""
    last = retention_repo.last_run_at(session, action=AUDIT_ACTION)
    return last is None or now - last >= timedelta(hours=schedule.run_hours)


def run(
    session: Session,
    *,
    schedule: Schedule,
    conversations: ConversationStore | None,
    actor: str,
    role: str,
    only_if_due: bool,
    now: datetime | None = None,
) -> PurgeResult | None:
    """Take the lock, then purge; None when another instance holds the lock (or, with
    ``only_if_due``, when the last run is recent). The caller commits."""
    moment = now or utcnow()
    if not retention_repo.try_lock(session):
        if only_if_due:
            return None
        raise RetentionBusy("another instance is applying the retention schedule right now")
    if only_if_due and not is_due(session, schedule=schedule, now=moment):
        return None
    return purge(
        session,
        schedule=schedule,
        conversations=conversations,
        actor=actor,
        role=role,
        now=moment,
    )


def last_run(session: Session) -> AuditEntry | None:
    """The newest retention run's audit entry."""
    entries = audit_repo.search(session, action=AUDIT_ACTION, limit=1)
    return entries[0] if entries else None
