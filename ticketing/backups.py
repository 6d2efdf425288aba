"""Scheduled backups: ``scripts/backup.py backup`` every ``DESK_BACKUP_HOURS``, once
across instances.

The retention scheduler's thread asks on each check (:mod:`ticketing.retention`). A
backup is claimed in a short transaction of its own: the backup lock (a PostgreSQL
advisory lock) and no backup started within the interval, then an audit entry
``backup`` (``status: started``) that the other instances see; the dump itself runs
outside any transaction (on SQLite a held write lock would stall the desk's writers),
and a second entry records how it ended (the file, its size and row count; never
content). A failed backup is logged and retried at the next interval.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ticketing.db import Database
from ticketing.models import AuditEntry, utcnow
from ticketing.repositories import audit as audit_repo
from ticketing.repositories import retention as retention_repo
from ticketing.settings import Settings

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
BACKUP_SCRIPT = ROOT / "scripts" / "backup.py"
AUDIT_ACTION = "backup"
ACTOR = "system:backup"
TIMEOUT_SECONDS = 6 * 3600


@dataclass(frozen=True)
class BackupOutcome:
    """How one scheduled backup ended."""

    ok: bool
    file: str | None = None
    bytes: int | None = None
    rows: int | None = None
    error: str | None = None


def _claim(database: Database, *, hours: float, now: datetime) -> bool:
    """Whether this instance takes the next backup (and, if so, announce it)."""
    with database.sessions.begin() as session:
        if not retention_repo.try_lock(session, lock_class=retention_repo.BACKUP_LOCK_CLASS):
            return False
        last = retention_repo.last_run_at(session, action=AUDIT_ACTION)
        if last is not None and now - last < timedelta(hours=hours):
            return False
        _audit(session, now=now, details={"status": "started"})
        return True


def _audit(session: Session, *, now: datetime, details: dict[str, object]) -> None:
    audit_repo.add(
        session,
        AuditEntry(
            at=now,
            actor=ACTOR,
            role="system",
            action=AUDIT_ACTION,
            customer_id=None,
            details=details,
        ),
    )


def _newest_manifest(directory: Path) -> dict[str, Any] | None:
    manifests = sorted(directory.glob("*.json"))
    return json.loads(manifests[-1].read_text()) if manifests else None


def back_up(settings: Settings) -> BackupOutcome:
    """Run ``scripts/backup.py backup`` for the settings' database, into backup_dir."""
    directory = Path(settings.backup_dir)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DESK_DATA_KEYS": settings.data_keys.get_secret_value(),
    }
    try:
        result = subprocess.run(
            [sys.executable, str(BACKUP_SCRIPT), "--dir", str(directory), "backup"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return BackupOutcome(ok=False, error=type(error).__name__)
    if result.returncode != 0:
        # backup.py's messages name files, URLs without passwords and key ids, never data.
        lines = (result.stdout + result.stderr).strip().splitlines()
        return BackupOutcome(ok=False, error=(lines[-1] if lines else "failed")[:300])
    manifest: dict[str, Any] = _newest_manifest(directory.resolve()) or {}
    tables = manifest.get("tables")
    size = manifest.get("bytes")
    return BackupOutcome(
        ok=True,
        file=str(manifest["file"]) if manifest.get("file") else None,
        bytes=size if isinstance(size, int) else None,
        rows=sum(int(n) for n in tables.values()) if isinstance(tables, dict) else None,
    )


def run_if_due(
    database: Database, settings: Settings, *, now: datetime | None = None
) -> BackupOutcome | None:
    """Back up when this instance claims the due backup; None when it is not due here."""
    if settings.backup_hours <= 0:
        return None
    moment = now or utcnow()
    if not _claim(database, hours=settings.backup_hours, now=moment):
        return None
    outcome = back_up(settings)
    with database.sessions.begin() as session:
        details: dict[str, object] = {"status": "done" if outcome.ok else "failed"}
        if outcome.ok:
            details.update(file=outcome.file, bytes=outcome.bytes, rows=outcome.rows)
        else:
            details["error"] = outcome.error
        _audit(session, now=utcnow(), details=details)
    if outcome.ok:
        logger.info("scheduled backup %s (%s bytes)", outcome.file, outcome.bytes)
    else:
        logger.error("scheduled backup failed: %s", outcome.error)
    return outcome
