"""The retention scheduler: in a thread, as a command, and as two instances at once."""

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from tests.support_service import protections
from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import ticket_payload
from ticketing.db import Database
from ticketing.enums import TicketStatus
from ticketing.models import AuditEntry, IdempotencyKey, RelayDelivery, Ticket, utcnow
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.retention import RetentionScheduler, run_once
from ticketing.schemas import TicketCreate
from ticketing.services import retention
from ticketing.services.tickets import create_ticket
from ticketing.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = retention.Schedule(
    closed_ticket_days=365,
    idempotency_key_days=7,
    relay_days=30,
    conversation_days=30,
    audit_years=3,
    run_hours=24,
)


def due_items(database: Database, vault: Vault, count: int) -> None:
    """``count`` tickets closed 400 days ago, each with an old key and an old delivery."""
    long_ago = utcnow() - timedelta(days=400)
    with database.sessions.begin() as session:
        for index in range(count):
            sender = f"old-{index}"
            payload = TicketCreate.model_validate(
                ticket_payload(
                    customer={"channel": "web", "external_id": sender},
                    description=f"电话 1391234{index:04d}",
                )
            )
            principal = Principal(
                name="bot_service", role=Role.BOT_SERVICE, conversation=("web", sender)
            )
            ticket = create_ticket(
                session,
                vault=vault,
                principal=principal,
                payload=payload,
                idempotency_key=f"key-{index}",
                now=long_ago,
            ).ticket
            session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id)
                .values(status=TicketStatus.CLOSED, closed_at=long_ago)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.ticket_id == ticket.id)
                .values(created_at=long_ago)
                .execution_options(synchronize_session=False)
            )
            session.add(
                RelayDelivery(
                    ticket_id=ticket.id,
                    kind="reply",
                    conversation_id=f"web:{sender}",
                    created_at=long_ago,
                    next_attempt_at=long_ago,
                    attempts=1,
                    delivered_at=long_ago,
                )
            )


def runs(database: Database) -> list[AuditEntry]:
    with database.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == "retention").order_by(AuditEntry.id)
            )
        )


def purged_count(database: Database) -> int:
    with database.sessions() as session:
        return (
            session.scalar(
                select(func.count(Ticket.id)).where(Ticket.personal_data_purged_at.is_not(None))
            )
            or 0
        )


def test_run_once_purges_when_due_and_then_not_again(
    clean_database: Database, vault: Vault
) -> None:
    due_items(clean_database, vault, 2)
    first = run_once(clean_database, SCHEDULE, None)
    assert first is not None and first.tickets_anonymised == 2
    assert run_once(clean_database, SCHEDULE, None) is None
    assert [entry.details["tickets_anonymised"] for entry in runs(clean_database)] == [2]


class CountingScheduler(RetentionScheduler):
    """The scheduler, counting the checks it has finished (a test waits on them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checks = 0
        self.checked = threading.Condition()

    def tick(self) -> None:
        try:
            super().tick()
        finally:
            with self.checked:
                self.checks += 1
                self.checked.notify_all()

    def wait_for_checks(self, count: int, timeout: float = 30) -> bool:
        with self.checked:
            return self.checked.wait_for(lambda: self.checks >= count, timeout)


def test_the_thread_runs_one_purge_per_interval(clean_database: Database, vault: Vault) -> None:
    due_items(clean_database, vault, 1)
    scheduler = CountingScheduler(clean_database, SCHEDULE, None, interval_seconds=0.05)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not runs(clean_database):
            time.sleep(0.05)
        # At least three more whole checks after the purge's (which may still be counting):
        # none of them may find a purge due.
        assert scheduler.wait_for_checks(scheduler.checks + 4), "the scheduler stopped checking"
    finally:
        scheduler.stop()
    assert not scheduler.is_alive()
    assert scheduler.runs == 1
    assert len(runs(clean_database)) == 1
    assert purged_count(clean_database) == 1


def process_environment(settings: Settings, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_")}
    env.update(
        DATABASE_URL=database_url,
        DESK_ENV="test",
        DESK_SERVICE_TOKEN=settings.service_token.get_secret_value(),
        DESK_DATA_KEYS=settings.data_keys.get_secret_value(),
        DESK_BLIND_INDEX_KEY=settings.blind_index_key.get_secret_value(),
        DESK_JWT_SECRET=settings.jwt_secret.get_secret_value(),
        # Not the desk's conversations on a shared Redis: a prefix nobody else uses.
        DESK_CONVERSATION_KEY_PREFIX=f"retention-test-{os.getpid()}",
    )
    return env


def two_instances(settings: Settings, database_url: str, flag: str) -> list[dict[str, object]]:
    """Start two ``python -m ticketing.retention`` processes together; their outputs."""
    env = process_environment(settings, database_url)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "ticketing.retention", flag],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


needs_postgres = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)


@needs_postgres
def test_two_instances_on_postgres_purge_once_per_period(
    clean_database: Database, vault: Vault, settings: Settings, database_url: str
) -> None:
    due_items(clean_database, vault, 30)
    outputs = two_instances(settings, database_url, "--once")
    assert sorted(bool(o["ran"]) for o in outputs) == [False, True]
    (entry,) = runs(clean_database)
    assert entry.details["tickets_anonymised"] == 30
    assert entry.details["idempotency_keys_deleted"] == 30
    assert entry.details["relay_deliveries_deleted"] == 30
    assert purged_count(clean_database) == 30


@needs_postgres
def test_two_forced_runs_on_postgres_handle_each_item_once(
    clean_database: Database, vault: Vault, settings: Settings, database_url: str
) -> None:
    """Without the "not due yet" check: the lock and the purge marks still make every
    ticket, key and delivery counted by exactly one run."""
    due_items(clean_database, vault, 30)
    outputs = two_instances(settings, database_url, "--now")
    ran = [o for o in outputs if o["ran"]]
    assert ran, outputs
    entries = runs(clean_database)
    assert len(entries) == len(ran)
    for key in ("tickets_anonymised", "idempotency_keys_deleted", "relay_deliveries_deleted"):
        assert sum(int(e.details[key]) for e in entries) == 30, key
    assert purged_count(clean_database) == 30
    with clean_database.sessions() as session:
        assert session.scalar(select(func.count(IdempotencyKey.id))) == 0
        assert session.scalar(select(func.count(RelayDelivery.id))) == 0


def test_the_command_counts_in_a_dry_run_and_changes_nothing(
    clean_database: Database, vault: Vault, settings: Settings, database_url: str
) -> None:
    due_items(clean_database, vault, 2)
    result = subprocess.run(
        [sys.executable, "-m", "ticketing.retention", "--dry-run"],
        cwd=ROOT,
        env=process_environment(settings, database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    due = json.loads(result.stdout.strip().splitlines()[-1])["due"]
    assert (due["tickets_anonymised"], due["relay_deliveries_deleted"]) == (2, 2)
    assert purged_count(clean_database) == 0
    assert runs(clean_database) == []


def check_a_purge_skips_a_ticket_another_transaction_holds(
    database: Database, vault: Vault
) -> None:
    """A purge runs while an agent's transaction holds one of the due tickets: it
    anonymises the others and leaves that one for the next run, without waiting.

    Whether it waited is read from PostgreSQL (a backend blocked by the holder,
    ``pg_blocking_pids``), not from how long it took.
    """
    due_items(database, vault, 3)
    with database.sessions() as session:
        held_id = session.scalar(select(Ticket.id).order_by(Ticket.id).limit(1))
    outcome: list[object] = []
    with database.engine.connect() as holder, database.engine.connect() as watcher:
        holder.begin()
        holder.execute(select(Ticket.id).where(Ticket.id == held_id).with_for_update())
        holder_pid = holder.scalar(text("SELECT pg_backend_pid()"))

        def purge() -> None:
            try:
                outcome.append(run_once(database, SCHEDULE, None, only_if_due=False))
            except BaseException as error:  # kept for the assertion below
                outcome.append(error)

        thread = threading.Thread(target=purge, daemon=True)
        thread.start()
        blocked = False
        deadline = time.monotonic() + 60
        while thread.is_alive() and not blocked and time.monotonic() < deadline:
            blocked = bool(
                watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE :holder = ANY(pg_blocking_pids(pid))"
                    ),
                    {"holder": holder_pid},
                )
            )
            watcher.rollback()  # PostgreSQL's activity view is fixed for a transaction
            thread.join(timeout=0.01)
        holder.rollback()  # lets a purge that waited go on, either way
        thread.join(timeout=60)
    assert not blocked, "the purge waited for a ticket another transaction holds"
    assert not thread.is_alive(), "the purge did not finish"
    (result,) = outcome
    assert isinstance(result, retention.PurgeResult), result
    assert result.tickets_anonymised == 2  # the held one is left for the next run
    assert purged_count(database) == 2


@needs_postgres
def test_a_purge_skips_a_ticket_another_transaction_holds(
    clean_database: Database, vault: Vault
) -> None:
    check_a_purge_skips_a_ticket_another_transaction_holds(clean_database, vault)


@needs_postgres
def test_without_skip_locked_the_purge_waits_for_the_held_ticket(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.skip_locked_waits(monkeypatch)
    with pytest.raises(AssertionError, match="waited for a ticket another transaction holds"):
        check_a_purge_skips_a_ticket_another_transaction_holds(clean_database, vault)
