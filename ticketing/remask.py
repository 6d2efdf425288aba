"""``python -m ticketing.remask``: mask stored ticket texts again with today's detection.

Texts sealed before a detector existed (names, before ``ticketing/privacy_names.py``)
keep in their masked copies what that detector would have masked. This applies the
current detection (:func:`ticketing.privacy_text.find_personal_data`, with the
customer's own name from the profile) to every sealed text column (thread messages,
subjects, descriptions, escalation reasons, history values, rating comments):

- a row with a sealed full text (``<column>_enc``): its masked copy is made again from the
  full text; the full text does not change;
- a row without one (nothing was found when it was written, or erasure or the retention
  schedule dropped the full text): its stored copy *is* all there is, so detection runs on
  it; when it finds something, the stored copy becomes the full text, sealed, and the
  masked copy replaces it.

Nothing is ever unmasked: a row where today's detection finds nothing is left alone.
Running it again changes nothing (idempotent). Rows are read and written a batch at a
time, each batch in its own transaction, so an interrupted run resumes where it stopped
when started again; writes are plain UPDATEs (no ORM objects, so the flush hook does not
seal the masked copy a second time and versions do not change).

- Without ``--apply`` it is a dry run: it counts what would change and writes nothing.
- Progress goes to stderr, one line per batch.
- Once across instances: on PostgreSQL a session advisory lock (per schema) is held for
  the whole run; a second run started meanwhile says so and exits with status 3.
- One audit entry per applied run (action ``remask``, actor ``system:remask``) with the
  counts per column, never a text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.orm import Session

from ticketing.db import Database
from ticketing.models import (
    AuditEntry,
    Customer,
    SatisfactionRating,
    Ticket,
    utcnow,
)
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.privacy_text import SEALED_COLUMNS, column_limit, find_personal_data, mask_findings
from ticketing.repositories import audit as audit_repo
from ticketing.settings import Settings, get_settings

AUDIT_ACTION = "remask"
ACTOR = "system:remask"
ROLE = "system"
# Advisory lock class of this command (the retention schedule's is another).
LOCK_CLASS = 0x72656D61  # "rema"
DEFAULT_BATCH = 500
EXIT_BUSY = 3


class RemaskBusy(RuntimeError):
    """Another instance is re-masking this database right now."""


@dataclass
class ColumnCount:
    """What one column's pass saw: rows checked, re-masked, and unreadable (key missing)."""

    checked: int = 0
    remasked: int = 0
    unreadable: int = 0


@dataclass
class RemaskResult:
    """Counts per ``table.column``, never a text."""

    dry_run: bool
    columns: dict[str, ColumnCount] = field(default_factory=dict)

    @property
    def remasked(self) -> int:
        """Rows whose masked copy changed (or would change, in a dry run)."""
        return sum(c.remasked for c in self.columns.values())

    def counts(self) -> dict[str, Any]:
        """The counts, for the audit entry and the command's output."""
        return {
            "dry_run": self.dry_run,
            "remasked": self.remasked,
            "checked": sum(c.checked for c in self.columns.values()),
            "unreadable": sum(c.unreadable for c in self.columns.values()),
            "columns": {name: vars(count) for name, count in self.columns.items()},
        }


class _Names:
    """The customers' own names, decrypted once per customer for the run."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._known: dict[int, tuple[str, ...]] = {}

    def of(self, session: Session, customer_ids: set[int]) -> dict[int, tuple[str, ...]]:
        missing = customer_ids - self._known.keys()
        if missing:
            rows = session.execute(
                select(Customer.id, Customer.display_name_enc).where(Customer.id.in_(missing))
            ).all()
            for customer_id, token in rows:
                names: tuple[str, ...] = ()
                if token:
                    try:
                        names = (self._vault.decrypt(token),)
                    except DecryptionFailed:
                        names = ()
                self._known[customer_id] = names
            for customer_id in missing - self._known.keys():
                self._known[customer_id] = ()
        return {c: self._known[c] for c in customer_ids}


def _customer_column(model: type[Any]) -> Any:
    """The expression giving a row's customer id (a ticket's, or the rating's own)."""
    if model is Ticket or model is SatisfactionRating:
        return model.customer_id
    return Ticket.customer_id


def _batch(
    session: Session, model: type[Any], name: str, *, after: int, size: int
) -> list[tuple[int, str | None, str | None, int | None]]:
    """(id, masked copy, sealed full text, customer id) of the next rows with text."""
    masked, sealed = getattr(model, name), getattr(model, f"{name}_enc")
    query = select(model.id, masked, sealed, _customer_column(model)).where(
        model.id > after, masked.is_not(None)
    )
    if model is not Ticket and model is not SatisfactionRating:
        query = query.join(Ticket, Ticket.id == model.ticket_id)
    rows = session.execute(query.order_by(model.id).limit(size)).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def remask_row(
    masked: str, token: str | None, *, names: tuple[str, ...], vault: Vault, limit: int | None
) -> tuple[str, str | None] | None:
    """The new (masked copy, sealed full text) of one stored text, or None to leave it.

    DecryptionFailed when its full text is sealed with a key the ring lacks."""
    full = vault.decrypt(token) if token is not None else masked
    findings = find_personal_data(full, names=names)
    if not findings:
        return None  # never unmask
    new = mask_findings(full, findings)
    new = new[:limit] if limit else new
    if new == masked:
        return None
    return new, token if token is not None else vault.encrypt(full)


def remask(
    database: Database,
    *,
    vault: Vault,
    apply: bool,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[str], None] = lambda line: None,
) -> RemaskResult:
    """Re-mask every sealed text column, a batch per transaction (see the module)."""
    result = RemaskResult(dry_run=not apply)
    names = _Names(vault)
    for model, columns in SEALED_COLUMNS.items():
        for name in columns:
            label = f"{model.__tablename__}.{name}"
            count = result.columns.setdefault(label, ColumnCount())
            limit = column_limit(model, name)
            last = 0
            while True:
                with database.sessions.begin() as session:
                    rows = _batch(session, model, name, after=last, size=batch_size)
                    if not rows:
                        break
                    known = names.of(session, {r[3] for r in rows if r[3] is not None})
                    for row_id, masked, token, customer_id in rows:
                        count.checked += 1
                        assert masked is not None
                        customer_names = known.get(customer_id, ()) if customer_id else ()
                        try:
                            change = remask_row(
                                masked, token, names=customer_names, vault=vault, limit=limit
                            )
                        except DecryptionFailed:
                            count.unreadable += 1
                            continue
                        if change is None:
                            continue
                        count.remasked += 1
                        if apply:
                            session.execute(
                                update(model)
                                .where(model.id == row_id)
                                .values({name: change[0], f"{name}_enc": change[1]})
                                .execution_options(synchronize_session=False)
                            )
                    last = rows[-1][0]
                progress(
                    f"[remask] {label}: {count.checked} checked, {count.remasked} "
                    f"{'re-masked' if apply else 'to re-mask'}"
                    + (f", {count.unreadable} unreadable" if count.unreadable else "")
                )
    if apply:
        with database.sessions.begin() as session:
            audit_repo.add(
                session,
                AuditEntry(
                    at=utcnow(),
                    actor=ACTOR,
                    role=ROLE,
                    action=AUDIT_ACTION,
                    customer_id=None,
                    details=result.counts(),
                ),
            )
    return result


@contextmanager
def exclusive(database: Database) -> Iterator[None]:
    """Hold the re-mask lock for the run (PostgreSQL); RemaskBusy when another holds it.

    SQLite has one writer at a time and one host: the database is its own lock there.
    """
    if database.engine.dialect.name != "postgresql":
        yield
        return
    connection: Connection = database.engine.connect()
    try:
        lock = {"class": LOCK_CLASS}
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:class, hashtext(current_schema()))"), lock
        ).scalar_one()
        connection.commit()
        if not taken:
            raise RemaskBusy("another instance is re-masking this database right now")
        try:
            yield
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(:class, hashtext(current_schema()))"), lock
            )
            connection.commit()
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    """Count (default) or apply (``--apply``) the re-mask of the configured database."""
    parser = argparse.ArgumentParser(
        prog="python -m ticketing.remask", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--apply", action="store_true", help="write the new masked copies (default: dry run)"
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument(
        "--env-file",
        help="KEY=VALUE lines (the demo's .run/desk.env) for settings the environment lacks",
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    settings: Settings = (
        Settings(_env_file=args.env_file)  # type: ignore[call-arg]  # the environment wins
        if args.env_file and os.path.exists(args.env_file)
        else get_settings()
    )
    database = Database.from_settings(settings)
    try:
        with exclusive(database):
            result = remask(
                database,
                vault=Vault.from_settings(settings),
                apply=args.apply,
                batch_size=args.batch_size,
                progress=lambda line: print(line, file=sys.stderr, flush=True),
            )
    except RemaskBusy as busy:
        print(f"[remask] {busy}; nothing done", file=sys.stderr)
        return EXIT_BUSY
    finally:
        database.dispose()
    print(json.dumps(result.counts()))
    if not args.apply:
        print(
            f"[remask] dry run: {result.remasked} texts would be re-masked; "
            "run again with --apply (make remask-apply) to write them",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
