"""Queries of customer imports: the imports, their rows' matches in the store, channels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, text, update
from sqlalchemy.orm import Session

from ticketing.enums import IdentityKind
from ticketing.models import (
    Customer,
    CustomerImport,
    CustomerImportConflict,
    CustomerImportRejection,
    CustomerSource,
    CustomerTag,
    Identity,
    ImportChannel,
)

CHUNK = 500
# One import applies its rows at a time, across every API instance (PostgreSQL).
IMPORT_LOCK_KEY = 0x44455349  # "DESI"


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """Slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def add(session: Session, record: CustomerImport) -> CustomerImport:
    """Insert an import and give it an id."""
    session.add(record)
    session.flush()
    return record


def get(session: Session, import_id: int) -> CustomerImport | None:
    """An import by id."""
    return session.get(CustomerImport, import_id)


def recent(session: Session, *, limit: int = 20) -> list[CustomerImport]:
    """The newest imports first."""
    return list(
        session.scalars(select(CustomerImport).order_by(CustomerImport.id.desc()).limit(limit))
    )


def earlier_same_file(session: Session, *, sha256: str, before_id: int) -> int | None:
    """The newest finished import of a file with the same content, if any."""
    return session.scalar(
        select(CustomerImport.id)
        .where(
            CustomerImport.file_sha256 == sha256,
            CustomerImport.id < before_id,
            CustomerImport.status == "done",
        )
        .order_by(CustomerImport.id.desc())
        .limit(1)
    )


def set_progress(
    session: Session, import_id: int, *, only_running: bool = True, **values: Any
) -> None:
    """Update a running import's progress columns (the caller commits).

    ``only_running=False`` for the outcome written with the rows themselves: once they
    commit, the import is done, whatever a reader concluded from a late heartbeat.
    """
    statement = update(CustomerImport).where(CustomerImport.id == import_id)
    if only_running:
        statement = statement.where(CustomerImport.status == "running")
    session.execute(statement.values(**values))


def lock_imports(session: Session) -> None:
    """Wait for any other import applying its rows (a transaction-scoped advisory lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})


def owners_by_hash(
    session: Session, *, kind: IdentityKind, hashes: Sequence[str]
) -> dict[str, int]:
    """value_hash -> customer id, for the identities of this kind among ``hashes``."""
    owners: dict[str, int] = {}
    for part in chunks(hashes):
        rows = session.execute(
            select(Identity.value_hash, Identity.customer_id).where(
                Identity.kind == kind, Identity.value_hash.in_(part)
            )
        )
        owners.update({value_hash: customer_id for value_hash, customer_id in rows})
    return owners


def customers_for_merge(session: Session, ids: Sequence[int]) -> dict[int, Row[Any]]:
    """id -> (id, display_name_enc, id_number_enc, updated_at, source channel)."""
    found: dict[int, Row[Any]] = {}
    for part in chunks(ids):
        rows = session.execute(
            select(
                Customer.id,
                Customer.display_name_enc,
                Customer.id_number_enc,
                Customer.updated_at,
                CustomerSource.channel,
            )
            .outerjoin(CustomerSource, CustomerSource.customer_id == Customer.id)
            .where(Customer.id.in_(part))
            .with_for_update(of=Customer)
        )
        found.update({row.id: row for row in rows})
    return found


def tags_of(session: Session, ids: Sequence[int]) -> dict[int, set[str]]:
    """customer id -> its tags."""
    tags: dict[int, set[str]] = {}
    for part in chunks(ids):
        for customer_id, tag in session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag).where(
                CustomerTag.customer_id.in_(part)
            )
        ):
            tags.setdefault(customer_id, set()).add(tag)
    return tags


def insert_customers(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert customers; their ids in the order given."""
    ids: list[int] = []
    for part in chunks(rows):
        result = session.execute(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True), list(part)
        )
        ids.extend(result.scalars())
    return ids


def insert_rows(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert many rows of one table."""
    for part in chunks(rows, 2000):
        session.execute(insert(model), list(part))


def update_customers(session: Session, rows: list[dict[str, Any]]) -> None:
    """Update customers by id (each dict holds ``id`` and the new values)."""
    for part in chunks(rows):
        session.execute(update(Customer), list(part))


def upsert_sources(session: Session, rows: list[dict[str, Any]]) -> None:
    """Set where each customer's values came from (replacing what was there)."""
    for part in chunks(rows):
        ids = [r["customer_id"] for r in part]
        existing = set(
            session.scalars(
                select(CustomerSource.customer_id).where(CustomerSource.customer_id.in_(ids))
            )
        )
        fresh = [r for r in part if r["customer_id"] not in existing]
        if fresh:
            session.execute(insert(CustomerSource), fresh)
        stale = [r for r in part if r["customer_id"] in existing]
        if stale:
            session.execute(update(CustomerSource), stale)


def rejections(session: Session, import_id: int) -> list[CustomerImportRejection]:
    """An import's rejected rows in file order."""
    return list(
        session.scalars(
            select(CustomerImportRejection)
            .where(CustomerImportRejection.import_id == import_id)
            .order_by(CustomerImportRejection.row_number)
        )
    )


def conflicts(session: Session, import_id: int) -> list[CustomerImportConflict]:
    """An import's logged conflicts."""
    return list(
        session.scalars(
            select(CustomerImportConflict)
            .where(CustomerImportConflict.import_id == import_id)
            .order_by(CustomerImportConflict.id)
        )
    )


def channels(session: Session, *, for_update: bool = False) -> dict[str, ImportChannel]:
    """Every import channel the desk has a record of, by key."""
    statement = select(ImportChannel)
    if for_update:
        statement = statement.with_for_update()
    return {c.key: c for c in session.scalars(statement)}


def paused_channels(session: Session) -> frozenset[str]:
    """The keys of the channels whose imports are paused."""
    return frozenset(
        session.scalars(select(ImportChannel.key).where(ImportChannel.paused_at.is_not(None)))
    )


def get_channel(session: Session, key: str) -> ImportChannel | None:
    """One channel's record, locked for an update."""
    return session.scalar(select(ImportChannel).where(ImportChannel.key == key).with_for_update())


def stale_before(session: Session, moment: datetime) -> list[int]:
    """Running imports whose worker has not been heard of since ``moment``."""
    return list(
        session.scalars(
            select(CustomerImport.id).where(
                CustomerImport.status == "running", CustomerImport.heartbeat_at < moment
            )
        )
    )
