"""Index the stats agent rows by period (`beacon.pixel.stats.models.PixelStatsAgent`).

A range that subtracts a few folded days from a month, or reads them as days, reads their agent
rows at every device and country; the unique key leads with device and country, so without
this index that read walked every day row of the campaign.

Revision ID: 0014_stats
Revises: 0013_stats
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0014_stats"
down_revision = "0013_stats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_pixel_stats_agents_period", "pixel_stats_agents", ["campaign_id", "span", "period"]
    )


def downgrade() -> None:
    op.drop_index("ix_pixel_stats_agents_period", table_name="pixel_stats_agents")
