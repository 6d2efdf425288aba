"""Bulk imports of customer records from other channels (stores, marketplaces, the app).

An import is read and checked when it is uploaded (a file that cannot be read is a
422 and leaves nothing behind), then applied in the background: cleansing each row,
folding duplicates inside the file together, matching the store by the blind index,
and merging with the profile store's rule (most recent update first, then own channels
before third parties; ``merges.merge``). Everything an import changes, its report,
rejected rows and conflict log are written in ONE transaction, which also marks it
done: a failed import changes nothing. Progress is committed beside it in the
database, so every API instance reports the same status.

This module is the import as a job (start, progress, run, failure, what it left); the
steps are beside it: reading a file (``ticketing.customer_files``), checking a row
(``services.cleansing``), folding the file's rows into people
(``services.import_grouping``), writing them to the store (``services.import_apply``),
the quality report (``services.import_report``) and the channels' pauses
(``services.import_channels``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from ticketing.customer_files import OpenedFile, open_file
from ticketing.errors import NotFound, ValidationFailed
from ticketing.models import CustomerImport, CustomerImportConflict, utcnow
from ticketing.principals import Principal
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.repositories import imports as imports_repo
from ticketing.services.cleansing import Checked, channel_book, check_row
from ticketing.services.import_apply import Applier
from ticketing.services.import_audit import audit
from ticketing.services.import_channels import ChannelPaused
from ticketing.services.import_grouping import group_records
from ticketing.services.import_report import finish

logger = logging.getLogger(__name__)

# A running import whose worker has not written for this long died with its instance.
STALE_AFTER = timedelta(minutes=5)
PROGRESS_EVERY_SECONDS = 0.5


class ImportNotFound(NotFound):
    code = "import_not_found"


def effective_status(record: CustomerImport, *, now: datetime | None = None) -> str:
    """running, done or failed; a running import nobody has worked on lately failed."""
    moment = now or utcnow()
    if record.status == "running" and record.heartbeat_at < moment - STALE_AFTER:
        return "failed"
    return record.status


STALE_ERROR = (
    "the API instance running this import stopped before it finished; nothing was imported"
)


def start(
    session: Session,
    *,
    vault: Vault,
    content: bytes,
    filename: str | None,
    principal: Principal,
    default_channel: str | None = None,
    encoding: str | None = None,
) -> tuple[CustomerImport, OpenedFile]:
    """Check an uploaded file and record a running import; the caller then runs it."""
    book = channel_book()
    channel_key = None
    if default_channel:
        channel_key = book.channel(default_channel)
        if channel_key is None:
            raise ValidationFailed(
                f"channel must be one of {list(book.keys)}", field="channel", code="unknown_channel"
            )
        if channel_key in imports_repo.paused_channels(session):
            raise ChannelPaused(
                f"imports from {channel_key} are paused after three low-quality imports; "
                "an admin resumes the channel"
            )
    opened = open_file(content, encoding=encoding)
    record = imports_repo.add(
        session,
        CustomerImport(
            status="running",
            phase="queued",
            file_format=opened.file_format,
            encoding=opened.encoding,
            filename_enc=vault.encrypt(filename) if filename else None,
            file_sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            default_channel=channel_key,
            created_by=principal.name,
            created_by_role=principal.role.value,
            created_at=utcnow(),
            heartbeat_at=utcnow(),
            total_rows=len(opened.rows),
            progress=0.0,
            report={},
        ),
    )
    audit(
        session,
        actor=principal.name,
        role=principal.role.value,
        action="import_start",
        details={"import": record.id, "rows": len(opened.rows)},
    )
    return record, opened


def get(session: Session, import_id: int) -> CustomerImport:
    """An import; 404 when there is none."""
    record = imports_repo.get(session, import_id)
    if record is None:
        raise ImportNotFound(f"no import {import_id}")
    if effective_status(record) == "failed" and record.status == "running":
        record.status = "failed"
        record.error = STALE_ERROR
        record.finished_at = utcnow()
        session.flush()
    return record


class Progress:
    """Commits an import's progress in a session of its own (seen by every instance)."""

    def __init__(self, sessions: sessionmaker[Session], import_id: int) -> None:
        self.sessions = sessions
        self.import_id = import_id
        self.last = 0.0
        dialect = sessions.kw["bind"].dialect.name if "bind" in sessions.kw else ""
        # SQLite has one writer: while the rows are applied, progress waits for the end.
        self.during_apply = dialect != "sqlite"

    def update(self, phase: str, fraction: float, *, force: bool = False) -> None:
        """Record the phase and the share done, at most every half second."""
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        with self.sessions() as session:
            imports_repo.set_progress(
                session,
                self.import_id,
                phase=phase,
                progress=round(min(max(fraction, 0.0), 1.0), 4),
                heartbeat_at=utcnow(),
            )
            session.commit()

    def fail(self, message: str) -> None:
        """Mark the import failed (its own transaction; the data one rolled back)."""
        with self.sessions() as session:
            imports_repo.set_progress(
                session,
                self.import_id,
                status="failed",
                phase="failed",
                error=message,
                finished_at=utcnow(),
                heartbeat_at=utcnow(),
            )
            session.commit()


def run(
    sessions: sessionmaker[Session],
    vault: Vault,
    *,
    import_id: int,
    opened: OpenedFile,
    now: datetime | None = None,
) -> None:
    """Apply a checked file (in the background); the outcome is in the import's row."""
    progress = Progress(sessions, import_id)
    try:
        _run(sessions, vault, progress=progress, import_id=import_id, opened=opened, now=now)
    except Exception as error:
        logger.exception("customer import %s failed (%s)", import_id, type(error).__name__)
        progress.fail(
            f"the import failed ({type(error).__name__}); nothing was imported. "
            "Try again; if it fails again, tell the desk's administrator the import id"
        )


def _run(
    sessions: sessionmaker[Session],
    vault: Vault,
    *,
    progress: Progress,
    import_id: int,
    opened: OpenedFile,
    now: datetime | None,
) -> None:
    moment = now or utcnow()
    book = channel_book()
    with sessions() as session:
        record = imports_repo.get(session, import_id)
        if record is None:
            raise ImportNotFound(f"no import {import_id}")
        paused = imports_repo.paused_channels(session)
        default_channel = record.default_channel
        actor, role = record.created_by, record.created_by_role
        session.commit()

    total = max(len(opened.rows), 1)
    progress.update("reading", 0.0, force=True)
    checks: list[Checked] = []
    for index, row in enumerate(opened.rows):
        checks.append(
            check_row(row, book=book, default_channel=default_channel, paused=paused, now=moment)
        )
        if index % 200 == 0:
            progress.update("reading", 0.5 * index / total)
    accepted = [c.record for c in checks if c.record is not None]
    groups = group_records(accepted, book)
    progress.update("applying", 0.5, force=True)

    with sessions() as session:
        imports_repo.lock_imports(session)
        applier = Applier(
            session,
            vault,
            book=book,
            import_id=import_id,
            actor=actor,
            role=role,
            now=moment,
            progress=progress if progress.during_apply else None,
            total=total,
        )
        applier.apply(groups)
        report = finish(
            session,
            vault,
            applier=applier,
            checks=checks,
            opened=opened,
            paused=paused,
            book=book,
        )
        session.commit()
    logger.info(
        "customer import %s done: %s created, %s merged, %s unchanged, %s rejected",
        import_id,
        report["created"],
        report["merged"],
        report["unchanged"],
        report["rejected"],
    )


def rejected_rows(
    session: Session, *, vault: Vault, import_id: int, principal: Principal
) -> list[tuple[int, list[dict[str, str]], dict[str, str | None]]]:
    """An import's rejected rows in clear (row, reasons, cells), for download; audited."""
    get(session, import_id)
    rows = []
    for rejection in imports_repo.rejections(session, import_id):
        try:
            cells = json.loads(vault.decrypt(rejection.row_enc))
        except DecryptionFailed:
            cells = {}
        rows.append((rejection.row_number, rejection.reasons, cells))
    audit(
        session,
        actor=principal.name,
        role=principal.role.value,
        action="import_rejections",
        details={"import": import_id, "rows": len(rows)},
    )
    return rows


def recent(session: Session, *, limit: int = 20) -> list[CustomerImport]:
    """The newest imports first (a running one whose worker died shows as failed)."""
    return imports_repo.recent(session, limit=limit)


def conflicts(session: Session, import_id: int) -> list[CustomerImportConflict]:
    """The conflicts an import logged; 404 for an unknown import."""
    get(session, import_id)
    return imports_repo.conflicts(session, import_id)
