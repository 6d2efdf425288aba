"""Scheduled backups: one per interval across instances, each audited (never content)."""

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from tests.support_service.factories import make_settings
from tests.support_service.race import run_threads
from ticketing import backups
from ticketing.db import Database
from ticketing.models import AuditEntry, utcnow
from ticketing.settings import Settings


def entries(database: Database) -> list[dict[str, object]]:
    with database.sessions() as session:
        return [
            e.details
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "backup").order_by(AuditEntry.id)
            )
        ]


def dumps(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*") if p.suffix != ".json")


def test_a_due_backup_is_taken_audited_and_not_repeated_within_the_interval(
    clean_database: Database, database_url: str, settings: Settings, tmp_path: Path
) -> None:
    configured = make_settings(
        database_url, data_keys=settings.data_keys.get_secret_value(), backup_dir=str(tmp_path)
    )
    outcome = backups.run_if_due(clean_database, configured)
    assert outcome is not None and outcome.ok, outcome
    assert len(dumps(tmp_path)) == 1
    assert outcome.file == dumps(tmp_path)[0].name
    started, done = entries(clean_database)
    assert started == {"status": "started"}
    assert (done["status"], done["file"]) == ("done", outcome.file)
    assert backups.run_if_due(clean_database, configured) is None
    later = utcnow() + timedelta(hours=25)
    assert backups.run_if_due(clean_database, configured, now=later) is not None
    assert len(dumps(tmp_path)) == 2


def test_two_instances_take_one_backup(
    clean_database: Database, database_url: str, settings: Settings, tmp_path: Path
) -> None:
    configured = make_settings(
        database_url, data_keys=settings.data_keys.get_secret_value(), backup_dir=str(tmp_path)
    )
    instances = [Database.from_settings(configured) for _ in range(2)]
    try:
        result = run_threads(
            [lambda db=db: backups.run_if_due(db, configured) for db in instances], timeout=120
        )
    finally:
        for db in instances:
            db.dispose()
    taken = [v for v in result.values.values() if v is not None]
    assert len(taken) == 1, result.explain()
    assert len(dumps(tmp_path)) == 1
    assert [e["status"] for e in entries(clean_database)] == ["started", "done"]


def test_a_failed_backup_is_audited_with_its_reason_and_waits_for_the_next_interval(
    clean_database: Database, database_url: str, settings: Settings, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    configured = make_settings(
        database_url, data_keys=settings.data_keys.get_secret_value(), backup_dir=str(blocked)
    )
    outcome = backups.run_if_due(clean_database, configured)
    assert outcome is not None and not outcome.ok and outcome.error
    assert [e["status"] for e in entries(clean_database)] == ["started", "failed"]
    assert backups.run_if_due(clean_database, configured) is None


def test_no_backups_when_switched_off(
    clean_database: Database, database_url: str, tmp_path: Path
) -> None:
    configured = make_settings(database_url, backup_hours=0, backup_dir=str(tmp_path))
    assert backups.run_if_due(clean_database, configured) is None
    assert entries(clean_database) == []
