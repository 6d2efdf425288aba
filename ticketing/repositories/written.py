"""Rows written with Core statements, put into the session as if they had been loaded."""

from __future__ import annotations

from typing import TypeVar, cast

from sqlalchemy import Table, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from ticketing.models import Base

Model = TypeVar("Model", bound=Base)


def as_loaded(session: Session, row: Model, *related: Base) -> Model:
    """Put an object built with the values just INSERTed (its id included) into the session
    as if a SELECT had loaded it: no re-read, and no INSERT at the next flush.

    ``related``: objects it holds in its relationships, written the same way (a ticket's
    thread). Columns not given are NULL in the row just written (the INSERT named every
    column with a default), so they are set to None rather than left to a lazy refresh.
    """
    for item in (row, *related):
        table = cast(Table, inspect(type(item)).local_table)
        for column in table.columns:
            if column.key not in item.__dict__:
                setattr(item, column.key, None)
        make_transient_to_detached(item)
    session.add(row)
    return row


def known(session: Session, row: Model) -> Model:
    """The session's instance of a row known to be stored with exactly these values (built,
    not read): the one already in the session if any, else this one, as if loaded."""
    make_transient_to_detached(row)
    return session.merge(row, load=False)
