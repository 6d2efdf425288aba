"""Personal data in free text: masked copies in the text columns, full text encrypted.

Adds ``<column>_enc`` beside every text column that can hold what a customer typed
(ticket_messages.body, tickets.subject/description/escalation_reason,
ticket_events.old_value/new_value, satisfaction_ratings.comment) and seals the rows
already there: the column gets the masked copy, ``_enc`` the full text (only where
detection found personal data). Downgrade puts the full text back and drops ``_enc``.

Both directions need the data keys when there is something to seal or unseal:
``DESK_DATA_KEYS`` from the environment (``scripts/desk.py`` and ``make migrate`` pass
it), or a vault handed in by the caller as ``config.attributes["vault"]`` (tests).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:50:00
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

from ticketing.privacy import Vault
from ticketing.privacy_text import find_personal_data, seal
from ticketing.settings import parse_data_keys

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS: dict[str, tuple[str, ...]] = {
    "ticket_messages": ("body",),
    "tickets": ("subject", "description", "escalation_reason"),
    "ticket_events": ("old_value", "new_value"),
    "satisfaction_ratings": ("comment",),
}
BATCH = 500


class _Keys:
    """The vault, made only when a row needs it (an empty database needs no keys)."""

    def __init__(self) -> None:
        config = op.get_context().config
        self._vault: Vault | None = config.attributes.get("vault") if config else None

    def vault(self) -> Vault:
        if self._vault is None:
            raw = os.environ.get("DESK_DATA_KEYS", "").strip()
            if not raw:
                raise RuntimeError(
                    "migration 0007 encrypts personal data in existing ticket text and "
                    "needs DESK_DATA_KEYS in the environment"
                )
            self._vault = Vault(parse_data_keys(raw), b"")
        return self._vault


def _rows(table: sa.TableClause, column: str) -> Iterator[tuple[int, str]]:
    """(id, value) of the rows where the column is set, a batch at a time."""
    connection = op.get_bind()
    last = 0
    while True:
        batch = connection.execute(
            sa.select(table.c.id, table.c[column])
            .where(table.c.id > last, table.c[column].is_not(None))
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        for row_id, value in batch:
            yield int(row_id), str(value)
        last = batch[-1][0]


def upgrade() -> None:
    for table_name, columns in COLUMNS.items():
        with op.batch_alter_table(table_name) as batch:
            for column in columns:
                batch.add_column(sa.Column(f"{column}_enc", sa.Text(), nullable=True))
    keys = _Keys()
    connection = op.get_bind()
    for table_name, columns in COLUMNS.items():
        table = sa.table(
            table_name,
            sa.column("id", sa.Integer),
            *(sa.column(c, sa.Text) for c in columns),
            *(sa.column(f"{c}_enc", sa.Text) for c in columns),
        )
        for column in columns:
            for row_id, value in _rows(table, column):
                if not find_personal_data(value):
                    continue
                sealed = seal(value, vault=keys.vault())
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == row_id)
                    .values({column: sealed.masked, f"{column}_enc": sealed.token})
                )


def downgrade() -> None:
    keys = _Keys()
    connection = op.get_bind()
    for table_name, columns in COLUMNS.items():
        table = sa.table(
            table_name,
            sa.column("id", sa.Integer),
            *(sa.column(c, sa.Text) for c in columns),
            *(sa.column(f"{c}_enc", sa.Text) for c in columns),
        )
        for column in columns:
            for row_id, token in _rows(table, f"{column}_enc"):
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == row_id)
                    .values({column: keys.vault().decrypt(token), f"{column}_enc": None})
                )
    for table_name, columns in COLUMNS.items():
        # No table copy on SQLite (its DROP COLUMN is native since 3.35): copying tickets
        # while other tables point at it fails their foreign keys.
        with op.batch_alter_table(table_name, recreate="never") as batch:
            for column in columns:
                batch.drop_column(f"{column}_enc")
