"""Retention: when a closed ticket's personal data was purged; the audit log's 3 years.

Adds ``tickets.personal_data_purged_at`` (set by the retention schedule, so each ticket
is anonymised once). On PostgreSQL the audit log's trigger still refuses every UPDATE,
and now refuses a DELETE only of entries younger than 3 years: the retention schedule
may delete older ones, nothing may delete younger ones.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ticketing.settings.MIN_AUDIT_RETENTION_YEARS, written out: a migration stays as it was.
_AUDIT_KEPT_AT_LEAST = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < now() - interval '3 years' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only (entries are kept at least 3 years)';
END;
$$ LANGUAGE plpgsql;
"""

_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("personal_data_purged_at", sa.DateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_AUDIT_KEPT_AT_LEAST)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY)
    # SQLite 3.35+ drops a column in place; a table copy would break the tickets'
    # foreign keys (as in 0007's downgrade).
    with op.batch_alter_table("tickets", recreate="never") as batch:
        batch.drop_column("personal_data_purged_at")
