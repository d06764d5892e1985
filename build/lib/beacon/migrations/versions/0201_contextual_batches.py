"""Batch classification jobs, their per-URL items, and background scan cursors.

Revision ID: 0201_contextual_batches
Revises: 0200_contextual_store
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0201_contextual_batches"
down_revision = "0200_contextual_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classification_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey(
                "accounts.id",
                ondelete="CASCADE",
                name="fk_classification_batches_account_id_accounts",
            ),
            nullable=False,
        ),
        sa.Column("url_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("run_after", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.Column("processed_date", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_classification_batches_account_id", "classification_batches", ["account_id"]
    )
    op.create_index("ix_classification_batches_status", "classification_batches", ["status"])
    op.create_table(
        "classification_batch_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "batch_id",
            sa.Integer(),
            sa.ForeignKey(
                "classification_batches.id",
                ondelete="CASCADE",
                name="fk_classification_batch_items_batch_id_classification_batches",
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("classification", sa.Text(), nullable=True),
        sa.Column("classified_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("batch_id", "position", name="uq_classification_batch_items_position"),
    )
    op.create_table(
        "contextual_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
    )
    # The periodic classifier looks for due rows by status and next attempt.
    op.create_index(
        "ix_url_classifications_status_next",
        "url_classifications",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_url_classifications_status_next", table_name="url_classifications")
    op.drop_table("contextual_cursors")
    op.drop_table("classification_batch_items")
    op.drop_table("classification_batches")
