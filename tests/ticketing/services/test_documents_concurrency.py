"""Two supervisors saving the canned replies over the same version at the same moment,
on the real PostgreSQL (SQLite serialises writers, so the race cannot happen there).

``ticketing/services/documents.py`` locks the document's row before it compares the
version the editor read: one save wins, the other is a 409 and changes nothing. The test
of the test takes the lock away, where the same check must fail.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url
from tests.support_service.race import run_threads
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


def check_one_save_per_version(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 1 is stored; two supervisors who both read it save their edits at once.

    The worst moment is forced with signals, never with time: the first saver reads the
    document (holding its lock, if there is one) and waits; the second saver then reads
    too, and the first goes on once the second has either read the row (there was no
    lock) or is waiting on the lock (``pg_stat_activity``). With the lock the second
    then reads version 2 and is refused; without it both saves pass the version check.
    """
    with database.sessions.begin() as session:
        canned.replace(session, principal=SUPERVISOR, replies=replies("初版"), version=0)

    first_read, second_went_on = threading.Event(), threading.Event()
    second_pid: list[int] = []
    stored = documents.stored

    def ordered_read(session: Session, model: type[Any], *, lock: bool = False) -> Any:
        if not first_read.is_set():
            row = stored(session, model, lock=lock)
            first_read.set()
            assert second_went_on.wait(30), "the second saver never read nor waited"
            return row
        second_pid.append(int(session.scalar(text("SELECT pg_backend_pid()"))))
        row = stored(session, model, lock=lock)
        second_went_on.set()  # it read the row: nothing held it back
        return row

    monkeypatch.setattr(documents, "stored", ordered_read)

    def save(word: str) -> str:
        with database.sessions.begin() as session:
            canned.replace(session, principal=SUPERVISOR, replies=replies(word), version=1)
        return "saved"

    def second() -> str:
        assert first_read.wait(30)
        return save("乙")

    def watch() -> str:
        with database.engine.connect() as connection:
            while not second_went_on.is_set():
                if second_pid:
                    waiting = connection.scalar(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": second_pid[0]},
                    )
                    connection.rollback()  # the activity view is fixed for a transaction
                    if waiting == "Lock":
                        second_went_on.set()  # held back by the first saver's lock
                second_went_on.wait(0.01)  # polls PostgreSQL's view until either happens
        return "watched"

    result = run_threads([lambda: save("甲"), second, watch], timeout=60)
    assert result.outcomes[2] == "watched", result.explain()
    outcomes = sorted(result.outcomes[:2])
    assert outcomes == ["saved", "version_conflict"], result.explain()
    with database.sessions() as session:
        row = session.scalar(select(CannedReplies))
        assert row is not None and row.version == 2
        assert row.document["zh"][0]["title"] == "甲"  # the first save; the second's is not there
        saves = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "canned_changed")
        )
    assert saves == 2, "one audit entry per save that happened (version 1, version 2)"


def test_two_saves_over_one_version_one_wins(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_one_save_per_version(clean_database, monkeypatch)


def test_without_the_row_lock_both_saves_pass_the_version_check(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = document_repo.stored

    def stored_without_lock(session: Session, model: type[Any], *, lock: bool = False) -> Any:
        return stored(session, model, lock=False)

    # The save reads the row through the name its module imported.
    monkeypatch.setattr(documents, "stored", stored_without_lock)
    with pytest.raises(AssertionError, match=re.escape("'saved': 2")):
        check_one_save_per_version(clean_database, monkeypatch)
