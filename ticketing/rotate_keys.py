"""``python -m ticketing.rotate_keys``: re-encrypt personal data with the active data key.

Rotation: put a new key first in ``DESK_DATA_KEYS`` (keep the old ones after it), restart
the API so new values use it, run this, then drop the old key from the setting.
Blind indexes do not change (they use ``DESK_BLIND_INDEX_KEY``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ticketing.db import Database
from ticketing.privacy import Vault
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
    return Rotation(rotated=rotated, current=current)


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
