"""Pixel hit rollups.

Revision ID: 0003_pixel_rollups
Revises: 0002_pixel_campaigns
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_pixel_rollups"
down_revision = "0002_pixel_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pixel_rollups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey(
                "pixel_campaigns.id",
                ondelete="CASCADE",
                name="fk_pixel_rollups_campaign_id_pixel_campaigns",
            ),
            nullable=False,
        ),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("dims_hash", sa.String(40), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("geo", sa.String(2), nullable=False),
        sa.Column("traffic_type", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("macros", sa.Text(), nullable=False),
        sa.Column("misrepresented", sa.Boolean(), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_rollups_campaign_dims"),
    )
    op.create_index("ix_pixel_rollups_campaign_date", "pixel_rollups", ["campaign_id", "date"])


def downgrade() -> None:
    op.drop_table("pixel_rollups")
