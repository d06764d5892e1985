"""Messaging execution engine: recipient batches claimed with leases, the scheduler lease, and
the template content each execution runs with.

Revision ID: 0101_messaging_engine
Revises: 0100_messaging
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0101_messaging_engine"
down_revision = "0100_messaging"
branch_labels = None
depends_on = None

RecipientId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messaging_executions") as table:
        table.add_column(sa.Column("content", sa.JSON(), nullable=True))
    op.create_table(
        "messaging_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("first_recipient_id", RecipientId, nullable=False),
        sa.Column("last_recipient_id", RecipientId, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("run_after", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.Column("processed_date", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["messaging_executions.id"],
            name=op.f("fk_messaging_batches_execution_id_messaging_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_batches")),
    )
    op.create_index(
        op.f("ix_messaging_batches_execution_id"),
        "messaging_batches",
        ["execution_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_batches_status"), "messaging_batches", ["status"], unique=False
    )
    op.create_table(
        "messaging_scheduler_leases",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_messaging_scheduler_leases")),
    )


def downgrade() -> None:
    with op.batch_alter_table("messaging_executions") as table:
        table.drop_column("content")
    op.drop_table("messaging_scheduler_leases")
    op.drop_table("messaging_batches")
