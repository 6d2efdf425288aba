"""Bulk imports of customer records: imports with their progress and report, rejected
rows (encrypted), merge conflicts, where each profile's values came from, and the
source channels with their quality streak and pause.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "customer_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("encoding", sa.String(length=32), nullable=True),
        sa.Column("filename_enc", sa.Text(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("default_channel", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_by_role", sa.String(length=32), nullable=False),
        _when("created_at"),
        _when("heartbeat_at"),
        _when("finished_at", nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("merged_count", sa.Integer(), nullable=False),
        sa.Column("unchanged_count", sa.Integer(), nullable=False),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_imports")),
    )
    op.create_index(op.f("ix_customer_imports_status"), "customer_imports", ["status"])
    op.create_index(op.f("ix_customer_imports_file_sha256"), "customer_imports", ["file_sha256"])
    op.create_table(
        "customer_import_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("row_enc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["customer_imports.id"],
            name=op.f("fk_customer_import_rejections_import_id_customer_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_import_rejections")),
    )
    op.create_index(
        op.f("ix_customer_import_rejections_import_id"),
        "customer_import_rejections",
        ["import_id"],
    )
    op.create_table(
        "customer_import_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("winner", sa.String(length=32), nullable=False),
        sa.Column("loser", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["customer_imports.id"],
            name=op.f("fk_customer_import_conflicts_import_id_customer_imports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_import_conflicts_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_import_conflicts")),
    )
    op.create_index(
        op.f("ix_customer_import_conflicts_import_id"), "customer_import_conflicts", ["import_id"]
    )
    op.create_index(
        op.f("ix_customer_import_conflicts_customer_id"),
        "customer_import_conflicts",
        ["customer_id"],
    )
    op.create_table(
        "customer_sources",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        _when("record_updated_at", nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_sources_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["customer_imports.id"],
            name=op.f("fk_customer_sources_import_id_customer_imports"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_sources")),
    )
    op.create_table(
        "import_channels",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("low_quality_streak", sa.Integer(), nullable=False),
        sa.Column("last_quality", sa.Float(), nullable=True),
        _when("paused_at", nullable=True),
        sa.Column("paused_import_id", sa.Integer(), nullable=True),
        _when("resumed_at", nullable=True),
        sa.Column("resumed_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_import_channels")),
    )


def downgrade() -> None:
    op.drop_table("import_channels")
    op.drop_table("customer_sources")
    op.drop_table("customer_import_conflicts")
    op.drop_table("customer_import_rejections")
    op.drop_table("customer_imports")
