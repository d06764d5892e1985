"""What `beacon ingest-log` already read (`beacon.pixel.models.PixelIngestFile`): per campaign
and log file (device, inode, hash of the first bytes), the byte offset and lines reached.

Revision ID: 0009_pixel_ingest_files
Revises: 0007_pixel_stats_cache
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0009_pixel_ingest_files"
down_revision = "0007_pixel_stats_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pixel_ingest_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey(
                "pixel_campaigns.id",
                ondelete="CASCADE",
                name="fk_pixel_ingest_files_campaign_id_pixel_campaigns",
            ),
            nullable=False,
        ),
        sa.Column("device", sa.String(24), nullable=False),
        sa.Column("inode", sa.String(24), nullable=False),
        sa.Column("head_bytes", sa.Integer(), nullable=False),
        sa.Column("head_sha256", sa.String(64), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("campaign_id", "device", "inode", name="uq_pixel_ingest_files_file"),
    )


def downgrade() -> None:
    op.drop_table("pixel_ingest_files")
