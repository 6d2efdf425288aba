"""Switches that take one concurrency protection out of the desk, for tests of the tests.

A race test is only worth something if it fails when the protection it guards is gone.
Each switch here removes one protection for the duration of a test (through pytest's
``monkeypatch``, so everything is restored afterwards); the proofs next to the race
tests turn one off and expect the race test's own check to fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Select

from ticketing.enums import TicketStatus
from ticketing.models import Ticket
from ticketing.repositories import idempotency as idempotency_repo
from ticketing.repositories import tickets as tickets_repo


def without_row_locks(monkeypatch: pytest.MonkeyPatch, *, of: type, waiting: bool = False) -> None:
    """``SELECT ... FOR UPDATE [SKIP LOCKED] OF <of>`` loses its lock (or, with
    ``waiting``, keeps a lock that waits for other holders instead of skipping them)."""
    original = Select.with_for_update

    def with_for_update(self: Select[Any], **kwargs: Any) -> Select[Any]:
        if kwargs.get("of") is not of:
            return original(self, **kwargs)
        if waiting:
            return original(self, **{**kwargs, "skip_locked": False})
        return self

    monkeypatch.setattr(Select, "with_for_update", with_for_update)


def without_version_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticket UPDATEs no longer say ``WHERE version = <the version read>``."""
    mapper = Ticket.__mapper__
    monkeypatch.setattr(mapper, "version_id_col", None)
    # The mapper memoises its UPDATE statement, version clause included: start afresh.
    monkeypatch.setattr(mapper, "_memoized_values", {})


def without_conditional_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim's UPDATE no longer requires the ticket to be unassigned."""

    def claim(session: Session, *, ticket_id: int, agent_id: int, now: datetime) -> bool:
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(
                assignee_id=agent_id,
                status=TicketStatus.OPEN,
                version=Ticket.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return True

    monkeypatch.setattr(tickets_repo, "claim", claim)


def without_idempotency_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idempotency keys are neither looked up nor stored: every request is new."""
    monkeypatch.setattr(idempotency_repo, "get", lambda session, *, key, principal: None)
    monkeypatch.setattr(idempotency_repo, "claim", lambda session, **_: -1)
    monkeypatch.setattr(idempotency_repo, "settle", lambda session, **_: None)


def skip_locked_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``FOR UPDATE SKIP LOCKED`` waits for the rows others hold instead."""
    original = Select.with_for_update

    def with_for_update(self: Select[Any], **kwargs: Any) -> Select[Any]:
        return original(self, **{**kwargs, "skip_locked": False})

    monkeypatch.setattr(Select, "with_for_update", with_for_update)
