"""The retention schedule's rules: what a purge removes, what it keeps, and its audit."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import make_settings, ticket_payload
from ticketing.db import Database
from ticketing.enums import TicketStatus
from ticketing.models import (
    AuditEntry,
    IdempotencyKey,
    RelayDelivery,
    SatisfactionRating,
    Ticket,
    TicketEvent,
    TicketMessage,
    utcnow,
)
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import retention
from ticketing.services.tickets import create_ticket

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
SCHEDULE = retention.Schedule(
    closed_ticket_days=365,
    idempotency_key_days=7,
    relay_days=30,
    conversation_days=30,
    audit_years=3,
    run_hours=24,
)
PHONE = "13912345678"


def bot_for(sender: str) -> Principal:
    return Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=("web", sender))


def ticket(
    session: Session,
    vault: Vault,
    *,
    sender: str,
    status: TicketStatus = TicketStatus.CLOSED,
    closed_days_ago: float | None = 400,
) -> Ticket:
    """A ticket with personal data in its texts, closed (or not) some days before NOW."""
    payload = TicketCreate.model_validate(
        ticket_payload(
            customer={"channel": "web", "external_id": sender, "display_name": "李雷"},
            description=f"我叫李雷，电话 {PHONE}，宽带断了",
            subject=f"call back {PHONE}",
        )
    )
    created = create_ticket(
        session,
        vault=vault,
        principal=bot_for(sender),
        payload=payload,
        idempotency_key=f"key-{sender}",
        now=NOW - timedelta(days=500),
    ).ticket
    closed_at = None if closed_days_ago is None else NOW - timedelta(days=closed_days_ago)
    session.execute(
        update(Ticket)
        .where(Ticket.id == created.id)
        .values(status=status, closed_at=closed_at, escalation_reason=f"angry, {PHONE}")
        .execution_options(synchronize_session=False)
    )
    session.add(
        SatisfactionRating(
            ticket_id=created.id, customer_id=created.customer_id, score=4, comment=f"ring {PHONE}"
        )
    )
    session.flush()
    return created


def run(session: Session, now: datetime = NOW, **kwargs: object) -> retention.PurgeResult:
    result = retention.purge(
        session,
        schedule=SCHEDULE,
        conversations=None,
        actor="system:retention",
        role="system",
        now=now,
        **kwargs,  # type: ignore[arg-type]
    )
    session.flush()
    session.expire_all()
    return result


class TestClosedTickets:
    def test_personal_data_of_tickets_closed_past_the_period_is_removed(
        self, session: Session, vault: Vault
    ) -> None:
        old = ticket(session, vault, sender="old")
        result = run(session)
        assert result.tickets_anonymised == 1
        purged = session.get(Ticket, old.id)
        assert purged is not None
        assert purged.personal_data_purged_at == NOW
        assert (purged.subject, purged.description) == (retention.PURGED, retention.PURGED)
        assert (purged.subject_enc, purged.description_enc, purged.contact_enc) == (None,) * 3
        assert (purged.escalation_reason, purged.conversation_id) == (None, None)
        messages = session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == old.id))
        assert {(m.body, m.body_enc) for m in messages} == {(retention.PURGED, None)}
        rating = session.scalar(select(SatisfactionRating))
        assert rating is not None and (rating.score, rating.comment) == (4, None)

    def test_statistics_stay(self, session: Session, vault: Vault) -> None:
        old = ticket(session, vault, sender="old")
        before = (
            old.number,
            old.category,
            old.queue_id,
            old.priority,
            old.channel,
            old.created_at,
            old.first_response_due_at,
            old.customer_id,
        )
        run(session)
        after = session.get(Ticket, old.id)
        assert after is not None
        assert after.status is TicketStatus.CLOSED
        assert after.closed_at == NOW - timedelta(days=400)
        assert (
            after.number,
            after.category,
            after.queue_id,
            after.priority,
            after.channel,
            after.created_at,
            after.first_response_due_at,
            after.customer_id,
        ) == before
        # The "created" history entry the reports count stays as it was.
        created = session.scalar(select(TicketEvent).where(TicketEvent.field == "created"))
        assert created is not None and created.new_value == "new"

    def test_recent_closed_open_and_resolved_tickets_are_kept(
        self, session: Session, vault: Vault
    ) -> None:
        kept = [
            ticket(session, vault, sender="recent", closed_days_ago=300),
            ticket(session, vault, sender="open", status=TicketStatus.OPEN, closed_days_ago=None),
            ticket(
                session,
                vault,
                sender="resolved",
                status=TicketStatus.RESOLVED,
                closed_days_ago=None,
            ),
        ]
        assert run(session).tickets_anonymised == 0
        for item in kept:
            fresh = session.get(Ticket, item.id)
            assert fresh is not None and fresh.personal_data_purged_at is None
            assert fresh.description_enc is not None and PHONE not in fresh.description

    def test_each_ticket_is_anonymised_once(self, session: Session, vault: Vault) -> None:
        ticket(session, vault, sender="old")
        assert run(session).tickets_anonymised == 1
        assert run(session).tickets_anonymised == 0

    def test_a_dry_run_counts_and_changes_nothing(self, session: Session, vault: Vault) -> None:
        old = ticket(session, vault, sender="old")
        result = run(session, dry_run=True)
        assert (result.dry_run, result.tickets_anonymised, result.idempotency_keys_deleted) == (
            True,
            1,
            1,
        )
        fresh = session.get(Ticket, old.id)
        assert fresh is not None and fresh.personal_data_purged_at is None
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "retention")) is None


class TestKeysAndRelay:
    def test_idempotency_keys_older_than_the_period_go(
        self, session: Session, vault: Vault
    ) -> None:
        ticket(session, vault, sender="a", status=TicketStatus.OPEN, closed_days_ago=None)
        session.add(
            IdempotencyKey(
                key="fresh",
                principal="bot_service",
                request_hash="x" * 64,
                created_at=NOW - timedelta(days=6),
            )
        )
        session.flush()
        assert run(session).idempotency_keys_deleted == 1
        assert list(session.scalars(select(IdempotencyKey.key))) == ["fresh"]

    def test_finished_relay_deliveries_go_pending_ones_never(
        self, session: Session, vault: Vault
    ) -> None:
        open_ticket = ticket(
            session, vault, sender="a", status=TicketStatus.OPEN, closed_days_ago=None
        )
        old = NOW - timedelta(days=40)
        rows = {
            "delivered long ago": {"delivered_at": old},
            "failed long ago": {"failed_at": old},
            "pending since long ago": {},
            "delivered lately": {"delivered_at": NOW - timedelta(days=2)},
        }
        for label, values in rows.items():
            session.add(
                RelayDelivery(
                    ticket_id=open_ticket.id,
                    kind="reply",
                    conversation_id=label,
                    created_at=old,
                    next_attempt_at=old,
                    attempts=1,
                    **values,
                )
            )
        session.flush()
        assert run(session).relay_deliveries_deleted == 2
        left = set(session.scalars(select(RelayDelivery.conversation_id)))
        assert left == {"pending since long ago", "delivered lately"}


class TestAudit:
    def test_each_run_is_audited_with_counts_and_no_content(
        self, session: Session, vault: Vault
    ) -> None:
        ticket(session, vault, sender="old")
        run(session)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "retention"))
        assert entry is not None
        assert (entry.actor, entry.role, entry.customer_id) == ("system:retention", "system", None)
        assert entry.details["tickets_anonymised"] == 1
        assert entry.details["idempotency_keys_deleted"] == 1
        assert entry.details["periods"]["closed_ticket_days"] == 365
        assert PHONE not in str(entry.details) and "李雷" not in str(entry.details)

    def test_audit_entries_go_after_three_years_not_before(self, session: Session) -> None:
        # The real clock: on PostgreSQL the database itself refuses younger deletions.
        now = utcnow()
        three_years = SCHEDULE.audit_cutoff(now)
        for label, at in {
            "older": three_years - timedelta(days=1),
            "younger": three_years + timedelta(days=1),
        }.items():
            session.add(AuditEntry(at=at, actor=label, role="admin", action="view", details={}))
        session.flush()
        assert run(session, now=now).audit_entries_deleted == 1
        actors = set(session.scalars(select(AuditEntry.actor)))
        assert actors == {"younger", "system:retention"}

    def test_the_audit_log_is_never_kept_less_than_three_years(self, database_url: str) -> None:
        with pytest.raises(ValueError, match="at least 3 years"):
            retention.Schedule(
                closed_ticket_days=1,
                idempotency_key_days=1,
                relay_days=1,
                conversation_days=1,
                audit_years=2,
                run_hours=1,
            )
        with pytest.raises(ValueError, match="audit_retention_years"):
            make_settings(database_url, audit_retention_years=2)

    def test_the_audit_cutoff_counts_calendar_years(self) -> None:
        leap = datetime(2028, 2, 29, tzinfo=UTC)
        # A day's margin beyond the 3 years (clocks of hosts differ).
        assert SCHEDULE.audit_cutoff(leap) == datetime(2025, 2, 27, tzinfo=UTC)
        assert SCHEDULE.audit_cutoff(NOW) == datetime(2024, 5, 31, 12, 0, tzinfo=UTC)


class TestSettings:
    def test_defaults(self, database_url: str) -> None:
        schedule = retention.Schedule.from_settings(make_settings(database_url))
        assert schedule.periods() == {
            "closed_ticket_days": 365,
            "idempotency_key_days": 7,
            "relay_days": 30,
            "conversation_days": 30.0,
            "audit_years": 3,
        }
        assert schedule.run_hours == 24
        assert schedule.conversation_seconds == 30 * 86_400

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("closed_ticket_retention_days", 0),
            ("idempotency_key_retention_days", -1),
            ("relay_retention_days", 0),
            ("conversation_retention_days", 0),
            ("retention_run_hours", 0),
        ],
    )
    def test_periods_must_be_positive(self, database_url: str, name: str, value: int) -> None:
        with pytest.raises(ValueError, match=name):
            make_settings(database_url, **{name: value})


class TestWhenDue:
    def test_a_run_is_due_once_per_interval(self, session: Session, vault: Vault) -> None:
        assert retention.is_due(session, schedule=SCHEDULE, now=NOW)
        run(session)
        assert not retention.is_due(session, schedule=SCHEDULE, now=NOW + timedelta(hours=23))
        assert retention.is_due(session, schedule=SCHEDULE, now=NOW + timedelta(hours=24))

    def test_run_only_if_due_skips_a_recent_run(self, session: Session) -> None:
        first = retention.run(
            session,
            schedule=SCHEDULE,
            conversations=None,
            actor="a",
            role="system",
            only_if_due=True,
            now=NOW,
        )
        again = retention.run(
            session,
            schedule=SCHEDULE,
            conversations=None,
            actor="a",
            role="system",
            only_if_due=True,
            now=NOW + timedelta(hours=1),
        )
        forced = retention.run(
            session,
            schedule=SCHEDULE,
            conversations=None,
            actor="a",
            role="system",
            only_if_due=False,
            now=NOW + timedelta(hours=1),
        )
        assert first is not None and again is None and forced is not None


needs_postgres = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)


@needs_postgres
class TestOnPostgres:
    def test_the_database_refuses_to_delete_younger_audit_entries(
        self, clean_database: Database
    ) -> None:
        with clean_database.sessions.begin() as session:
            session.add(
                AuditEntry(
                    at=utcnow() - timedelta(days=3 * 365 - 2),
                    actor="young",
                    role="admin",
                    action="view",
                    details={},
                )
            )
            session.add(
                AuditEntry(
                    at=utcnow() - timedelta(days=3 * 366 + 1),
                    actor="old",
                    role="admin",
                    action="view",
                    details={},
                )
            )
        with (
            pytest.raises(DBAPIError, match="kept at least 3 years"),
            clean_database.engine.begin() as connection,
        ):
            connection.execute(text("DELETE FROM audit_log WHERE actor = 'young'"))
        with (
            pytest.raises(DBAPIError, match="append-only"),
            clean_database.engine.begin() as connection,
        ):
            connection.execute(text("UPDATE audit_log SET reason = 'x' WHERE actor = 'old'"))
        with clean_database.engine.begin() as connection:
            gone = connection.execute(text("DELETE FROM audit_log WHERE actor = 'old'")).rowcount
        assert gone == 1

    def test_while_another_instance_holds_the_lock_a_run_is_skipped_or_refused(
        self, clean_database: Database
    ) -> None:
        holder = clean_database.sessions()
        try:
            holder.begin()
            assert retention_lock(holder)
            with clean_database.sessions.begin() as session:
                skipped = retention.run(
                    session,
                    schedule=SCHEDULE,
                    conversations=None,
                    actor="b",
                    role="system",
                    only_if_due=True,
                    now=NOW,
                )
                assert skipped is None
                with pytest.raises(retention.RetentionBusy):
                    retention.run(
                        session,
                        schedule=SCHEDULE,
                        conversations=None,
                        actor="b",
                        role="system",
                        only_if_due=False,
                        now=NOW,
                    )
        finally:
            holder.rollback()
            holder.close()
        with clean_database.sessions.begin() as session:
            ran = retention.run(
                session,
                schedule=SCHEDULE,
                conversations=None,
                actor="b",
                role="system",
                only_if_due=True,
                now=NOW,
            )
        assert ran is not None


def retention_lock(session: Session) -> bool:
    from ticketing.repositories.retention import try_lock

    return try_lock(session)
