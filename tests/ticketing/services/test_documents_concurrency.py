"""Two supervisors saving the canned replies over the same version at the same moment,
on the real PostgreSQL (SQLite serialises writers, so the race cannot happen there).

``ticketing/services/documents.py`` locks the document's row before it compares the
version the editor read: one save wins, the other is a 409 and changes nothing. The test
of the test takes the lock away and makes both savers read before either writes (a
barrier after the read), where the check must fail.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url
from tests.support_service.race import race
from ticketing.db import Database
from ticketing.models import AuditEntry, CannedReplies
from ticketing.principals import Principal, Role
from ticketing.repositories import documents as document_repo
from ticketing.services import canned, documents

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)

SUPERVISOR = Principal(name="staff:zhao.min", role=Role.SUPERVISOR, agent_id=None)


def replies(word: str) -> dict[str, Any]:
    return {"zh": [{"title": word, "body": f"{word}。"}], "en": [{"title": word, "body": word}]}


def check_one_save_per_version(
    database: Database, *, racing: threading.Event | None = None
) -> None:
    """Version 1 is stored; two supervisors who both read it save their edits at once."""
    with database.sessions.begin() as session:
        canned.replace(session, principal=SUPERVISOR, replies=replies("初版"), version=0)
    if racing is not None:
        racing.set()

    def saver(word: str) -> Callable[[Session], str]:
        def save(session: Session) -> str:
            canned.replace(session, principal=SUPERVISOR, replies=replies(word), version=1)
            return "saved"

        return save

    result = race([saver("甲"), saver("乙")], database)
    assert sorted(result.outcomes) == ["saved", "version_conflict"], result.explain()
    winner = "甲" if result.outcomes[0] == "saved" else "乙"
    with database.sessions() as session:
        row = session.scalar(select(CannedReplies))
        assert row is not None and row.version == 2
        assert row.document["zh"][0]["title"] == winner  # the loser's edit is not there
        saves = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "canned_changed")
        )
    assert saves == 2, "one audit entry per save that happened (version 1, version 2)"


def test_two_saves_over_one_version_one_wins(clean_database: Database) -> None:
    check_one_save_per_version(clean_database)


def test_without_the_row_lock_both_saves_pass_the_version_check(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    both_read = threading.Barrier(2, timeout=30)
    stored = document_repo.stored
    racing = threading.Event()

    def stored_without_lock(session: Session, model: type[Any], *, lock: bool = False) -> Any:
        row = stored(session, model, lock=False)
        if lock and racing.is_set():
            both_read.wait()  # each saver has read version 1 before either writes
        return row

    # The save reads the row through the name its module imported.
    monkeypatch.setattr(documents, "stored", stored_without_lock)
    with pytest.raises(AssertionError, match=re.escape("outcomes: {'saved': 2}")):
        check_one_save_per_version(clean_database, racing=racing)
