"""Staff accounts: a role, a password hash and an active flag on agents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column(
                "role",
                sa.Enum(
                    "agent", "supervisor", "admin", name="staffrole", native_enum=False, length=32
                ),
                nullable=False,
                server_default="agent",
            )
        )
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    # The defaults filled existing rows; new rows get theirs from the application.
    with op.batch_alter_table("agents") as batch:
        batch.alter_column("role", server_default=None)
        batch.alter_column("active", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("active")
        batch.drop_column("password_hash")
        batch.drop_column("role")
