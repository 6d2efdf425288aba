"""Bulk imports of customer records from other channels (stores, marketplaces, the app).

An import is read and checked when it is uploaded (a file that cannot be read is a
422 and leaves nothing behind), then applied in the background: cleansing each row,
folding duplicates inside the file together, matching the store by the blind index,
and merging with the profile store's rule (most recent update first, then own channels
before third parties; ``merges.merge``). Everything an import changes, its report,
rejected rows and conflict log are written in ONE transaction, which also marks it
done: a failed import changes nothing. Progress is committed beside it in the
database, so every API instance reports the same status.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ticketing.customer_files import FIELDS, OpenedFile, open_file, template_header
from ticketing.enums import IdentityKind
from ticketing.errors import Conflict, NotFound, ValidationFailed
from ticketing.models import (
    AuditEntry,
    CustomerImport,
    CustomerImportConflict,
    CustomerImportRejection,
    CustomerSource,
    CustomerTag,
    Identity,
    ImportChannel,
    utcnow,
)
from ticketing.principals import Principal
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.repositories import imports as imports_repo
from ticketing.services.cleansing import ChannelBook, Checked, Record, channel_book, check_row
from ticketing.services.customers import DEFAULT_LANGUAGE
from ticketing.services.merges import merge_precedence

logger = logging.getLogger(__name__)

QUALITY_FLOOR = 0.9
PAUSE_AFTER = 3
# A running import whose worker has not written for this long died with its instance.
STALE_AFTER = timedelta(minutes=5)
PROGRESS_EVERY_SECONDS = 0.5
_OLDEST = datetime.min.replace(tzinfo=UTC)


class ImportNotFound(NotFound):
    code = "import_not_found"


class ImportChannelNotFound(NotFound):
    code = "import_channel_not_found"


class ChannelPaused(Conflict):
    code = "channel_paused"


class ChannelNotPaused(Conflict):
    code = "channel_not_paused"


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
    _audit(
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


@dataclass
class Group:
    """Records of one person inside the file, merged by the store's rule."""

    records: list[Record]
    name: str | None = None
    id_number: str | None = None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    top: Record | None = None
    conflicts: list[dict[str, str]] = field(default_factory=list)

    @property
    def updated_at(self) -> datetime | None:
        return self.top.updated_at if self.top else None


def _key(record: Record, book: ChannelBook) -> tuple[tuple[datetime, int], int]:
    # The profile store's rule (most recent update, then own channels before third
    # parties); between two rows of the file equal on both, the later row.
    precedence = merge_precedence(record.updated_at or _OLDEST, book.rank(record.channel))
    return (precedence, record.row)


def _rule(winner: Record, loser: Record, book: ChannelBook) -> str:
    if (winner.updated_at or _OLDEST) != (loser.updated_at or _OLDEST):
        return "updated_at"
    if book.rank(winner.channel) != book.rank(loser.channel):
        return "channel_priority"
    return "file_order"


def group_records(records: list[Record], book: ChannelBook) -> list[Group]:
    """Fold records sharing a phone or an e-mail together, values merged by the rule."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for index, record in enumerate(records):
        for key in (("phone", record.phone), ("email", record.email)):
            if key[1] is None:
                continue
            seen = owner.setdefault((key[0], key[1]), index)
            if seen != index:
                parent[find(index)] = find(seen)
    members: dict[int, list[Record]] = defaultdict(list)
    for index, record in enumerate(records):
        members[find(index)].append(record)
    groups = []
    for rows in members.values():
        ordered = sorted(rows, key=lambda r: _key(r, book), reverse=True)
        group = Group(records=rows, top=ordered[0])
        for name in ("name", "id_number"):
            holders = [r for r in ordered if getattr(r, name)]
            if not holders:
                continue
            winner = holders[0]
            setattr(group, name, getattr(winner, name))
            for other in holders[1:]:
                if getattr(other, name) != getattr(winner, name):
                    group.conflicts.append(
                        {
                            "field": name,
                            "winner": f"row {winner.row}",
                            "loser": f"row {other.row}",
                            "rule": _rule(winner, other, book),
                        }
                    )
        group.phones = sorted({r.phone for r in ordered if r.phone})
        group.emails = sorted({r.email for r in ordered if r.email})
        group.tags = {t for r in rows for t in r.tags}
        groups.append(group)
    return groups


@dataclass
class Tally:
    """Counts toward a quality report (the whole import, or one channel)."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    existing: int = 0
    filled: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)

    def report(self) -> dict[str, Any]:
        cells = self.rows * len(FIELDS)
        filled = sum(self.filled.values())
        invalid = sum(self.invalid.values())
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rows - self.accepted,
            "completeness": _ratio(filled, cells),
            "completeness_by_field": {f: _ratio(self.filled[f], self.rows) for f in FIELDS},
            "validity": _ratio(filled - invalid, filled),
            "validity_by_field": {
                f: _ratio(self.filled[f] - self.invalid[f], self.filled[f]) for f in FIELDS
            },
            "duplicate_rate": _ratio(self.duplicates, self.accepted),
            "existing_rate": _ratio(self.existing, self.accepted),
            "quality": _ratio(self.accepted, self.rows),
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


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
        applier = _Applier(
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
        report = _finish(
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


class _Applier:
    """Matches groups against the store and writes customers, in one transaction."""

    def __init__(
        self,
        session: Session,
        vault: Vault,
        *,
        book: ChannelBook,
        import_id: int,
        actor: str,
        role: str,
        now: datetime,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.session = session
        self.vault = vault
        self.book = book
        self.import_id = import_id
        self.actor = actor
        self.role = role
        self.now = now
        self.progress = progress
        self.total = total
        self.created = self.merged = self.unchanged = 0
        self.ambiguous_rows: set[int] = set()
        self.existing_rows: set[int] = set()
        self.audits: list[dict[str, Any]] = []
        self.conflicts: list[dict[str, Any]] = []
        self._hashes: dict[tuple[IdentityKind, str], str] = {}

    def _hash(self, kind: IdentityKind, value: str) -> str:
        key = (kind, value)
        found = self._hashes.get(key)
        if found is None:
            found = self._hashes[key] = self.vault.blind_index(kind, value)
        return found

    def _tick(self, done: int) -> None:
        if self.progress is not None:
            self.progress.update("applying", 0.5 + 0.5 * done / self.total)

    def apply(self, groups: list[Group]) -> None:
        phone_hashes = sorted({self._hash(IdentityKind.PHONE, p) for g in groups for p in g.phones})
        email_hashes = sorted({self._hash(IdentityKind.EMAIL, e) for g in groups for e in g.emails})
        owners = {
            IdentityKind.PHONE: imports_repo.owners_by_hash(
                self.session, kind=IdentityKind.PHONE, hashes=phone_hashes
            ),
            IdentityKind.EMAIL: imports_repo.owners_by_hash(
                self.session, kind=IdentityKind.EMAIL, hashes=email_hashes
            ),
        }
        fresh: list[Group] = []
        matched: list[tuple[Group, int]] = []
        for group in groups:
            found = {
                owners[kind][self._hash(kind, value)]
                for kind, values in (
                    (IdentityKind.PHONE, group.phones),
                    (IdentityKind.EMAIL, group.emails),
                )
                for value in values
                if self._hash(kind, value) in owners[kind]
            }
            if len(found) > 1:
                self.ambiguous_rows.update(r.row for r in group.records)
            elif found:
                matched.append((group, found.pop()))
                self.existing_rows.update(r.row for r in group.records)
            else:
                fresh.append(group)
        self._create(fresh, owners)
        self._merge(matched, owners, done_before=sum(len(g.records) for g in fresh))

    def _identities(
        self, customer_id: int, group: Group, owners: dict[IdentityKind, dict[str, int]]
    ) -> list[dict[str, Any]]:
        rows = []
        for kind, values in (
            (IdentityKind.PHONE, group.phones),
            (IdentityKind.EMAIL, group.emails),
        ):
            for value in values:
                value_hash = self._hash(kind, value)
                if value_hash in owners[kind]:
                    continue
                owners[kind][value_hash] = customer_id
                rows.append(
                    {
                        "customer_id": customer_id,
                        "kind": kind,
                        "value_hash": value_hash,
                        "value_enc": self.vault.encrypt(value),
                        "verified": False,
                        "created_at": self.now,
                    }
                )
        return rows

    def _create(self, groups: list[Group], owners: dict[IdentityKind, dict[str, int]]) -> None:
        done = 0
        for part in imports_repo.chunks(groups):
            ids = imports_repo.insert_customers(
                self.session,
                [
                    {
                        "language": DEFAULT_LANGUAGE,
                        "display_name_enc": self.vault.encrypt(g.name) if g.name else None,
                        "id_number_enc": self.vault.encrypt(g.id_number) if g.id_number else None,
                        "contact_preferences": {},
                        "created_at": self.now,
                        "updated_at": g.updated_at or self.now,
                    }
                    for g in part
                ],
            )
            identities: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            sources: list[dict[str, Any]] = []
            for customer_id, group in zip(ids, part, strict=True):
                identities.extend(self._identities(customer_id, group, owners))
                tags.extend(
                    {"customer_id": customer_id, "tag": tag, "created_at": self.now}
                    for tag in sorted(group.tags)
                )
                assert group.top is not None
                sources.append(
                    {
                        "customer_id": customer_id,
                        "channel": group.top.channel,
                        "record_updated_at": group.updated_at,
                        "import_id": self.import_id,
                    }
                )
                fields = [f for f in ("name", "id_number") if getattr(group, f)]
                fields += ["phone"] * bool(group.phones) + ["email"] * bool(group.emails)
                self._audit("import_create", customer_id, details={"fields": fields})
                for conflict in group.conflicts:
                    self._conflict(customer_id, conflict)
                self.created += 1
                self.merged += len(group.records) - 1
            imports_repo.insert_rows(self.session, Identity, identities)
            imports_repo.insert_rows(self.session, CustomerTag, tags)
            # New customers have no source yet: a plain insert, no look-up first.
            imports_repo.insert_rows(self.session, CustomerSource, sources)
            done += sum(len(g.records) for g in part)
            self._tick(done)

    def _decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self.vault.decrypt(token)
        except DecryptionFailed:
            return None

    def _merge(
        self,
        matched: list[tuple[Group, int]],
        owners: dict[IdentityKind, dict[str, int]],
        *,
        done_before: int,
    ) -> None:
        done = done_before
        for part in imports_repo.chunks(matched):
            ids = sorted({customer_id for _, customer_id in part})
            stored = imports_repo.customers_for_merge(self.session, ids)
            stored_tags = imports_repo.tags_of(self.session, ids)
            updates: dict[int, dict[str, Any]] = {}
            identities: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            sources: list[dict[str, Any]] = []
            for group, customer_id in part:
                current = stored[customer_id]
                changes = updates.get(customer_id, {})
                assert group.top is not None
                store_time = changes.get("updated_at", current.updated_at)
                group_key = merge_precedence(
                    group.updated_at or _OLDEST, self.book.rank(group.top.channel)
                )
                store_key = merge_precedence(store_time, self.book.rank(current.channel))
                group_wins = group_key > store_key
                changed_fields: list[str] = []
                for name, column in (("name", "display_name_enc"), ("id_number", "id_number_enc")):
                    theirs = getattr(group, name)
                    if theirs is None:
                        continue
                    mine = (
                        self.vault.decrypt(changes[column])
                        if column in changes
                        else self._decrypt(getattr(current, column))
                    )
                    if mine == theirs:
                        continue
                    if mine is not None:
                        rule = "updated_at" if group_key[0] != store_key[0] else "channel_priority"
                        self._conflict(
                            customer_id,
                            {
                                "field": name,
                                "winner": f"row {group.top.row}" if group_wins else "store",
                                "loser": "store" if group_wins else f"row {group.top.row}",
                                "rule": rule,
                            },
                        )
                    if mine is None or group_wins:
                        changes[column] = self.vault.encrypt(theirs)
                        changed_fields.append(name)
                for conflict in group.conflicts:
                    self._conflict(customer_id, conflict)
                new_identities = self._identities(customer_id, group, owners)
                identities.extend(new_identities)
                changed_fields += sorted({str(i["kind"].value) for i in new_identities})
                have = stored_tags.setdefault(customer_id, set())
                for tag in sorted(group.tags - have):
                    tags.append({"customer_id": customer_id, "tag": tag, "created_at": self.now})
                    have.add(tag)
                    if "tags" not in changed_fields:
                        changed_fields.append("tags")
                if not changed_fields:
                    self.unchanged += len(group.records)
                    continue
                self.merged += len(group.records)
                newest = max(store_time, group.updated_at or _OLDEST)
                changes["updated_at"] = newest
                updates[customer_id] = changes
                if group_wins:
                    sources.append(
                        {
                            "customer_id": customer_id,
                            "channel": group.top.channel,
                            "record_updated_at": group.updated_at,
                            "import_id": self.import_id,
                        }
                    )
                self._audit("import_update", customer_id, details={"fields": changed_fields})
            imports_repo.update_customers(
                self.session, [{"id": cid, **values} for cid, values in updates.items()]
            )
            imports_repo.insert_rows(self.session, Identity, identities)
            imports_repo.insert_rows(self.session, CustomerTag, tags)
            imports_repo.upsert_sources(self.session, _last_per_customer(sources))
            done += sum(len(g.records) for g, _ in part)
            self._tick(done)

    def _audit(
        self,
        action: str,
        customer_id: int | None,
        *,
        details: dict[str, Any],
        field_name: str | None = None,
    ) -> None:
        self.audits.append(
            {
                "at": self.now,
                "actor": self.actor,
                "role": self.role,
                "action": action,
                "customer_id": customer_id,
                "field": field_name,
                "reason": None,
                "details": {"import": self.import_id, **details},
            }
        )

    def _conflict(self, customer_id: int, conflict: dict[str, str]) -> None:
        self.conflicts.append({"import_id": self.import_id, "customer_id": customer_id, **conflict})
        self._audit(
            "import_conflict",
            customer_id,
            field_name=conflict["field"],
            details={k: conflict[k] for k in ("winner", "loser", "rule")},
        )


def _last_per_customer(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({r["customer_id"]: r for r in rows}.values())


def _finish(
    session: Session,
    vault: Vault,
    *,
    applier: _Applier,
    checks: list[Checked],
    opened: OpenedFile,
    paused: frozenset[str],
    book: ChannelBook,
) -> dict[str, Any]:
    """Rejections, conflicts, audit, quality per channel and the report; import done."""
    rejections: list[dict[str, Any]] = []
    overall = Tally()
    per_channel: dict[str, Tally] = defaultdict(Tally)
    reasons: Counter[str] = Counter()
    duplicate_rows = _duplicate_rows(checks)
    truncated = 0
    for check in checks:
        row = check.row.number
        if check.record is not None and row in applier.ambiguous_rows:
            check.reasons.append(
                {
                    "field": "phone",
                    "code": "ambiguous_match",
                    "message": "its phone and e-mail belong to different customers; "
                    "a supervisor merges them first",
                }
            )
            check.record = None
        channel_key = check.channel or "(unknown)"
        for tally in (overall, per_channel[channel_key]):
            tally.rows += 1
            tally.filled.update(check.filled)
            tally.invalid.update(check.invalid)
            if check.record is not None:
                tally.accepted += 1
                tally.duplicates += row in duplicate_rows
                tally.existing += row in applier.existing_rows
        if check.record is not None:
            truncated += check.record.name_truncated
            continue
        reasons.update(r["code"] for r in check.reasons)
        rejections.append(
            {
                "import_id": applier.import_id,
                "row_number": row,
                "channel": check.channel,
                "reasons": check.reasons,
                "row_enc": vault.encrypt(json.dumps(check.row.cells, ensure_ascii=False)),
            }
        )
    imports_repo.insert_rows(session, CustomerImportRejection, rejections)
    imports_repo.insert_rows(session, CustomerImportConflict, applier.conflicts)

    channel_reports = {key: tally.report() for key, tally in sorted(per_channel.items())}
    newly_paused = _update_channels(
        session, applier, channel_reports=channel_reports, paused=paused, book=book
    )
    for key, report in channel_reports.items():
        report["paused"] = key in paused or key in newly_paused
        report["kind"] = book.kinds.get(key)
    imports_repo.insert_rows(session, AuditEntry, applier.audits)

    record = imports_repo.get(session, applier.import_id)
    assert record is not None
    report = {
        **overall.report(),
        "created": applier.created,
        "merged": applier.merged,
        "unchanged": applier.unchanged,
        "rejected": len(rejections),
        "blank_rows": opened.blank_rows,
        "names_truncated": truncated,
        "conflicts": len(applier.conflicts),
        "rejection_reasons": dict(reasons.most_common()),
        "channels": channel_reports,
        "channels_paused": sorted(newly_paused),
        "same_file_as": imports_repo.earlier_same_file(
            session, sha256=record.file_sha256, before_id=record.id
        ),
        "quality_floor": QUALITY_FLOOR,
    }
    imports_repo.set_progress(
        session,
        applier.import_id,
        only_running=False,
        status="done",
        phase="done",
        error=None,
        progress=1.0,
        created_count=applier.created,
        merged_count=applier.merged,
        unchanged_count=applier.unchanged,
        rejected_count=len(rejections),
        report=report,
        finished_at=utcnow(),
        heartbeat_at=utcnow(),
    )
    return report


def _duplicate_rows(checks: list[Checked]) -> set[int]:
    """Rows whose phone or e-mail an earlier accepted row of the file already had."""
    seen: set[tuple[str, str]] = set()
    duplicates: set[int] = set()
    for check in checks:
        record = check.record
        if record is None:
            continue
        keys = {("phone", record.phone or ""), ("email", record.email or "")}
        keys = {k for k in keys if k[1]}
        if keys & seen:
            duplicates.add(record.row)
        seen |= keys
    return duplicates


def _update_channels(
    session: Session,
    applier: _Applier,
    *,
    channel_reports: dict[str, dict[str, Any]],
    paused: frozenset[str],
    book: ChannelBook,
) -> set[str]:
    """Count each channel's run of imports under the quality floor; pause at three."""
    known = imports_repo.channels(session, for_update=True)
    newly_paused: set[str] = set()
    for key, report in channel_reports.items():
        if key not in book.kinds or key in paused or report["rows"] == 0:
            continue
        channel = known.get(key)
        if channel is None:
            channel = ImportChannel(key=key, low_quality_streak=0)
            session.add(channel)
        quality = float(report["quality"])
        channel.last_quality = quality
        channel.low_quality_streak = (
            (channel.low_quality_streak or 0) + 1 if quality < QUALITY_FLOOR else 0
        )
        if channel.low_quality_streak >= PAUSE_AFTER and channel.paused_at is None:
            channel.paused_at = applier.now
            channel.paused_import_id = applier.import_id
            newly_paused.add(key)
            applier._audit(
                "import_channel_paused",
                None,
                details={"channel": key, "streak": channel.low_quality_streak},
            )
    session.flush()
    return newly_paused


def resume_channel(session: Session, *, key: str, principal: Principal) -> ImportChannel:
    """An admin lets a paused channel import again; its streak starts over. Audited."""
    channel = imports_repo.get_channel(session, key)
    if channel is None:
        raise ImportChannelNotFound(f"no import channel {key!r} has a record")
    if channel.paused_at is None:
        raise ChannelNotPaused(f"imports from {key} are not paused")
    channel.paused_at = None
    channel.low_quality_streak = 0
    channel.resumed_at = utcnow()
    channel.resumed_by = principal.name
    _audit(
        session,
        actor=principal.name,
        role=principal.role.value,
        action="import_channel_resumed",
        details={"channel": key},
    )
    session.flush()
    return channel


def list_channels(session: Session) -> list[dict[str, Any]]:
    """Every configured channel with its kind, streak and pause."""
    book = channel_book()
    known = imports_repo.channels(session)
    rows = []
    for key in book.keys:
        channel = known.get(key)
        rows.append(
            {
                "key": key,
                "kind": book.kinds[key],
                "low_quality_streak": channel.low_quality_streak if channel else 0,
                "last_quality": channel.last_quality if channel else None,
                "paused": bool(channel and channel.paused_at),
                "paused_at": channel.paused_at if channel else None,
                "paused_import_id": channel.paused_import_id if channel else None,
            }
        )
    return rows


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
    _audit(
        session,
        actor=principal.name,
        role=principal.role.value,
        action="import_rejections",
        details={"import": import_id, "rows": len(rows)},
    )
    return rows


def _audit(
    session: Session, *, actor: str, role: str, action: str, details: dict[str, Any]
) -> None:
    session.add(
        AuditEntry(
            at=utcnow(), actor=actor, role=role, action=action, customer_id=None, details=details
        )
    )
    session.flush()


def recent(session: Session, *, limit: int = 20) -> list[CustomerImport]:
    """The newest imports first (a running one whose worker died shows as failed)."""
    return imports_repo.recent(session, limit=limit)


def conflicts(session: Session, import_id: int) -> list[CustomerImportConflict]:
    """The conflicts an import logged; 404 for an unknown import."""
    get(session, import_id)
    return imports_repo.conflicts(session, import_id)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_template(lang: str) -> bytes:
    """The import template as a workbook: the header row, and text columns for numbers
    (so a spreadsheet keeps phone and ID numbers as typed, not 1.38E+10)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "customers"
    sheet.append(template_header(lang))
    for index, name in enumerate(FIELDS, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = 24 if name in ("email", "id_number") else 16
        if name in ("phone", "id_number", "updated_at"):
            for row in range(2, 1002):
                sheet.cell(row=row, column=index).number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
