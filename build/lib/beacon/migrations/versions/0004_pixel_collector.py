"""Pixel collector: spool segments already flushed into the rollups.

Revision ID: 0004_pixel_collector
Revises: 0003_pixel_rollups
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0004_pixel_collector"
down_revision = "0003_pixel_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pixel_spool_segments",
        sa.Column("segment_id", sa.String(100), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", name="pk_pixel_spool_segments"),
    )
    op.create_index(
        "ix_pixel_spool_segments_processed_at", "pixel_spool_segments", ["processed_at"]
    )


def downgrade() -> None:
    op.drop_table("pixel_spool_segments")
