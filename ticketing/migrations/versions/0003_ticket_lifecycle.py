"""Ticket lifecycle: milestones, escalation record, reopen link, satisfaction ratings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("first_responded_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True)))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("escalation_reason", sa.Text()))
        batch.add_column(sa.Column("reopened_from_id", sa.Integer()))
        batch.add_column(sa.Column("first_response_warning_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("resolution_warning_at", sa.DateTime(timezone=True)))
        batch.create_foreign_key(
            op.f("fk_tickets_reopened_from_id_tickets"), "tickets", ["reopened_from_id"], ["id"]
        )
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("escalation_level", server_default=None)
    op.create_table(
        "satisfaction_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_satisfaction_ratings_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_satisfaction_ratings_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_ratings")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_satisfaction_ratings_ticket_id")),
    )
    op.create_index(
        op.f("ix_satisfaction_ratings_customer_id"), "satisfaction_ratings", ["customer_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_satisfaction_ratings_customer_id"), table_name="satisfaction_ratings")
    op.drop_table("satisfaction_ratings")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint(op.f("fk_tickets_reopened_from_id_tickets"), type_="foreignkey")
        batch.drop_column("resolution_warning_at")
        batch.drop_column("first_response_warning_at")
        batch.drop_column("reopened_from_id")
        batch.drop_column("escalation_reason")
        batch.drop_column("escalation_level")
        batch.drop_column("closed_at")
        batch.drop_column("resolved_at")
        batch.drop_column("first_responded_at")
