"""Live handoff: the conversation a ticket came from, and the relay's outbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("conversation_id", sa.String(length=200), nullable=True))
    op.create_table(
        "relay_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_relay_deliveries_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["ticket_messages.id"],
            name=op.f("fk_relay_deliveries_message_id_ticket_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_deliveries")),
    )
    op.create_index(op.f("ix_relay_deliveries_ticket_id"), "relay_deliveries", ["ticket_id"])
    op.create_index(
        op.f("ix_relay_deliveries_next_attempt_at"), "relay_deliveries", ["next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_relay_deliveries_next_attempt_at"), table_name="relay_deliveries")
    op.drop_index(op.f("ix_relay_deliveries_ticket_id"), table_name="relay_deliveries")
    op.drop_table("relay_deliveries")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("conversation_id")
