"""Queries on documents kept as one versioned row (the routing policy, canned replies)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session


class SingleDocument(Protocol):
    """A model with the columns of a one-row versioned document."""

    id: Any
    document: Any
    version: Any
    updated_by: Any
    updated_at: Any

    def __init__(self, **columns: Any) -> None: ...


Row = TypeVar("Row", bound=SingleDocument)


def stored(session: Session, model: type[Row], *, lock: bool = False) -> Row | None:
    """The stored row, locked when asked (PostgreSQL; SQLite serialises writers itself)."""
    query = select(model).order_by(model.id).limit(1)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row: Row | None = session.scalar(query)
    return row
