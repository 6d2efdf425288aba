"""``python -m ticketing.rotate_keys``: re-encrypt personal data with the active data key.

Rotation: put a new key first in ``DESK_DATA_KEYS`` (keep the old ones after it), restart
the API so new values use it, run this, then drop the old key from the setting.
Blind indexes do not change (they use ``DESK_BLIND_INDEX_KEY``). Ticket text sealed by
:mod:`ticketing.privacy_text` (messages, subjects, descriptions, history values, rating
comments: every ``*_enc`` column) is re-encrypted too, a batch of rows at a time; the
masked copies beside it do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ticketing.db import Database
from ticketing.privacy import Vault
from ticketing.privacy_text import SEALED_COLUMNS
from ticketing.repositories import customers as customers_repo
from ticketing.settings import get_settings


@dataclass(frozen=True)
class Rotation:
    """How many values were re-encrypted, and how many were already on the active key."""

    rotated: int
    current: int


def rotate(session: Session, *, vault: Vault) -> Rotation:
    """Re-encrypt every value not sealed with the active key (in this transaction)."""
    rotated = current = 0
    customers, identities, tickets = customers_repo.all_encrypted(session)
    targets = [
        *((c, attr) for c in customers for attr in ("display_name_enc", "id_number_enc")),
        *((i, "value_enc") for i in identities),
        *((t, "contact_enc") for t in tickets),
    ]
    prefix = f"{vault.active_key_id}:"
    for row, attr in targets:
        token = getattr(row, attr)
        if token is None:
            continue
        if token.startswith(prefix):
            current += 1
            continue
        setattr(row, attr, vault.encrypt(vault.decrypt(token)))
        if hasattr(row, "version") and attr == "contact_enc":
            row.version += 1
        rotated += 1
    session.flush()
    text_rotated, text_current = _rotate_text(session, vault=vault)
    return Rotation(rotated=rotated + text_rotated, current=current + text_current)


TEXT_BATCH = 500


def _rotate_text(session: Session, *, vault: Vault) -> tuple[int, int]:
    """Re-encrypt sealed ticket text column by column, in batches (no ORM objects, so no
    version bumps: the text itself does not change)."""
    rotated = current = 0
    prefix = f"{vault.active_key_id}:"
    for model, columns in SEALED_COLUMNS.items():
        for name in columns:
            column = getattr(model, f"{name}_enc")
            current += (
                session.scalar(
                    select(func.count()).select_from(model).where(column.startswith(prefix))
                )
                or 0
            )
            last = 0
            while True:
                batch = session.execute(
                    select(model.id, column)
                    .where(model.id > last, column.is_not(None), ~column.startswith(prefix))
                    .order_by(model.id)
                    .limit(TEXT_BATCH)
                ).all()
                if not batch:
                    break
                for row_id, token in batch:
                    session.execute(
                        update(model)
                        .where(model.id == row_id)
                        .values({column.key: vault.encrypt(vault.decrypt(token))})
                        .execution_options(synchronize_session=False)
                    )
                rotated += len(batch)
                last = batch[-1][0]
    return rotated, current


def main() -> None:
    """Rotate the database named by DATABASE_URL in one transaction."""
    settings = get_settings()
    database = Database.from_settings(settings)
    try:
        with database.sessions.begin() as session:
            result = rotate(session, vault=Vault.from_settings(settings))
        print(f"[rotate] {result.rotated} values re-encrypted, {result.current} already current")
    finally:
        database.dispose()


if __name__ == "__main__":
    main()
