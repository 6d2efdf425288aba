"""``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` on PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ticketing.models import Base


def insert_unless_taken(
    session: Session, model: type[Base], values: dict[str, Any], *, conflict: Sequence[str]
) -> int | None:
    """Insert one row unless a row with the same ``conflict`` columns exists; its new id.

    One round trip instead of a savepoint, an INSERT and a release (and a rollback to the
    savepoint when taken). The columns' own defaults (``created_at`` ...) apply as usual.
    Pending ORM objects are not flushed first: flush what the row refers to beforehand.
    """
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(table.c.id)
    )
    # The session's connection, not session.execute: a Core statement needs none of the
    # ORM's execution machinery.
    return session.connection().execute(statement).scalar()
