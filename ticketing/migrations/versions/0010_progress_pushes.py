"""Progress pushed to the customer: which notice a relay delivery carries.

``relay_deliveries.notice`` names the progress notice (``assigned``, ``waiting``,
``resolved``, ``late``) a ``notice`` delivery sends; null for the other kinds.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relay_deliveries") as batch:
        batch.add_column(sa.Column("notice", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("relay_deliveries") as batch:
        batch.drop_column("notice")
