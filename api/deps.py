"""Request-scoped dependencies: settings, the unit-of-work session, the vault."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ticketing.db import Database
from ticketing.privacy import Vault
from ticketing.services import audit
from ticketing.settings import Settings

__all__ = ["DatabaseDep", "SessionDep", "SettingsDep", "VaultDep"]

logger = logging.getLogger(__name__)


# The app-state lookups are coroutines on purpose: FastAPI runs a plain ``def``
# dependency in the thread pool, a thread hop per dependency per request for a
# dictionary read.
async def get_settings_from_app(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    """The app's database (engine and session factory)."""
    database: Database = request.app.state.database
    return database


async def get_vault(request: Request) -> Vault:
    """The app's personal-data vault."""
    vault: Vault = request.app.state.vault
    return vault


async def get_session(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[Session]:
    """One unit of work per request: commit if the endpoint succeeded, roll back otherwise.

    A refused attempt that must be audited (``audit.audit_refusal``) is written after
    the rollback, in a transaction of its own, so the refusal leaves its trace.

    A coroutine that opens the session in the event loop (no I/O: the connection is
    checked out at the first statement) and ends it with one trip to the thread pool;
    as a plain generator FastAPI ran both its halves in the pool, a thread hop each.
    """
    session = database.sessions()
    try:
        yield session
    except BaseException:
        # Shielded: a cancelled request (client gone) still gives its connection back.
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_roll_back, session)
        raise
    if not _has_work(session):
        session.close()  # the endpoint ended the unit of work itself: no I/O left
        return
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(_commit, session)


def end_unit_of_work(session: Session) -> None:
    """Commit the request's unit of work from a plain ``def`` endpoint's own thread, once
    its response is built (anything the response wrote, an audit entry, included).

    For endpoints on the hot path: :func:`get_session` then has nothing left to commit
    and closes the session in the event loop, without the trip to the thread pool. A
    failure here is the endpoint's error: rolled back, and the client gets no 2xx.
    """
    audit.write_kept_audit(session)
    session.commit()


def _has_work(session: Session) -> bool:
    return bool(
        session.in_transaction()
        or session.new
        or session.dirty
        or session.deleted
        or audit.has_kept_audit(session)
    )


def _commit(session: Session) -> None:
    try:
        end_unit_of_work(session)
    except BaseException:
        _roll_back(session)
        raise
    session.close()


def _roll_back(session: Session) -> None:
    try:
        session.rollback()
        _keep_refusal_audit(session)
    finally:
        session.close()


def _keep_refusal_audit(session: Session) -> None:
    try:
        if audit.write_kept_audit(session):
            session.commit()
    except Exception:  # the request's own error is what the client must see
        session.rollback()
        logger.exception("could not write the audit entry of a refused request")


SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
DatabaseDep = Annotated[Database, Depends(get_database)]
VaultDep = Annotated[Vault, Depends(get_vault)]
# scope="function": commit right after the endpoint returns, before the response is sent,
# so a client never sees 201 for a ticket whose commit failed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
