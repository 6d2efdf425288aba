"""Customer imports: the quality report, the rejected rows and the end of an import.

The report counts completeness, validity, duplicates and matches, for the whole file
and per source channel; :func:`finish` writes it with the rejections, conflicts and
audit entries in the import's one transaction and marks the import done.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ticketing.customer_files import FIELDS, OpenedFile
from ticketing.models import AuditEntry, CustomerImportConflict, CustomerImportRejection, utcnow
from ticketing.privacy import Vault
from ticketing.repositories import imports as imports_repo
from ticketing.services.cleansing import ChannelBook, Checked
from ticketing.services.import_apply import Applier
from ticketing.services.import_channels import QUALITY_FLOOR, update_channels


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


def finish(
    session: Session,
    vault: Vault,
    *,
    applier: Applier,
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
    newly_paused = update_channels(
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
