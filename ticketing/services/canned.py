"""Canned replies of the agent console: per language, a title and a body each.

The packaged set is ``api/static/console/canned.json``; a supervisor's edit is stored
(``canned_replies``), versioned (409 on a stale edit), checked whole (422 naming the
entry and the reason, nothing saved) and audited. The console reads them through the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ticketing.errors import Conflict, ValidationFailed
from ticketing.models import CannedReplies
from ticketing.principals import Principal
from ticketing.repositories import documents as document_repo
from ticketing.services import documents

PACKAGED = Path(__file__).resolve().parents[2] / "api" / "static" / "console" / "canned.json"
LANGUAGES = ("zh", "en")
MAX_REPLIES = 50
MAX_TITLE = 60
MAX_BODY = 2000
ROW_ID = 1


class StaleReplies(Conflict):
    code = "version_conflict"


@dataclass(frozen=True)
class Replies:
    """The canned replies in force and their version (0: the packaged set)."""

    replies: dict[str, list[dict[str, str]]]
    version: int
    updated_by: str | None
    updated_at: datetime | None


def packaged() -> dict[str, list[dict[str, str]]]:
    """The packaged canned replies."""
    data: dict[str, list[dict[str, str]]] = json.loads(PACKAGED.read_text(encoding="utf-8"))
    return data


def read(session: Session) -> Replies:
    """The replies in force."""
    row = document_repo.stored(session, CannedReplies)
    if row is None:
        return Replies(packaged(), 0, None, None)
    return Replies(dict(row.document), row.version, row.updated_by, row.updated_at)  # type: ignore[arg-type]


def validate(replies: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The replies cleaned (trimmed), or ValidationFailed naming the entry and the reason."""
    if unknown := sorted(set(replies) - set(LANGUAGES)):
        raise ValidationFailed(f"unknown language {unknown[0]!r}", field=f"replies.{unknown[0]}")
    clean: dict[str, list[dict[str, str]]] = {}
    for language in LANGUAGES:
        entries = replies.get(language, [])
        if not isinstance(entries, list) or len(entries) > MAX_REPLIES:
            raise ValidationFailed(
                f"a list of at most {MAX_REPLIES} replies", field=f"replies.{language}"
            )
        clean[language] = []
        for index, entry in enumerate(entries):
            where = f"replies.{language}[{index}]"
            if not isinstance(entry, dict) or set(entry) != {"title", "body"}:
                raise ValidationFailed("each reply has exactly a title and a body", field=where)
            title, body = str(entry["title"]).strip(), str(entry["body"]).strip()
            if not 1 <= len(title) <= MAX_TITLE:
                raise ValidationFailed(
                    f"a title has 1 to {MAX_TITLE} characters", field=f"{where}.title"
                )
            if not 1 <= len(body) <= MAX_BODY:
                raise ValidationFailed(
                    f"a body has 1 to {MAX_BODY} characters", field=f"{where}.body"
                )
            clean[language].append({"title": title, "body": body})
    return clean


def replace(
    session: Session, *, principal: Principal, replies: dict[str, Any], version: int
) -> Replies:
    """Save a new set over ``version`` (the one the editor read)."""
    clean = validate(replies)
    row = documents.save(
        session,
        CannedReplies,
        row_id=ROW_ID,
        document=clean,
        version=version,
        principal=principal,
        stale=StaleReplies,
        what="the canned replies",
        action="canned_changed",
        field="canned_replies",
    )
    return Replies(clean, row.version, row.updated_by, row.updated_at)
