"""Request-scoped dependencies: settings, the unit-of-work session, the vault."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

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


def get_session(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """One unit of work per request: commit if the endpoint succeeded, roll back otherwise.

    A refused attempt that must be audited (``audit.audit_refusal``) is written after
    the rollback, in a transaction of its own, so the refusal leaves its trace.
    """
    session = database.sessions()
    try:
        yield session
        audit.write_kept_audit(session)
        session.commit()
    except BaseException:
        session.rollback()
        _keep_refusal_audit(session)
        raise
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
