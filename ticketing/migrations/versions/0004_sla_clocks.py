"""SLA clocks: warnings and breaches recorded once, pauses, assignment time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "first_response_warned_at",
    "resolution_warned_at",
    "first_response_breached_at",
    "resolution_breached_at",
    "sla_paused_at",
    "assigned_at",
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
