"""The stats cache (`beacon.pixel.stats.models`): traffic per day by device, country, agent.

Empty on creation: the stats service fills a day the first time it is asked for it.

Revision ID: 0007_pixel_stats_cache
Revises: 0006_pixel_report_rollups
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_pixel_stats_cache"
down_revision = "0006_pixel_report_rollups"
branch_labels = None
depends_on = None


def _campaign(table: str) -> sa.Column[int]:
    return sa.Column(
        "campaign_id",
        sa.Integer(),
        sa.ForeignKey(
            "pixel_campaigns.id", ondelete="CASCADE", name=f"fk_{table}_campaign_id_pixel_campaigns"
        ),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "pixel_stats_traffic",
        _campaign("pixel_stats_traffic"),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("device", sa.String(16), primary_key=True),
        sa.Column("geo", sa.String(2), primary_key=True),
        sa.Column("traffic_type", sa.String(16), primary_key=True),
        sa.Column("agent", sa.String(100), primary_key=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pixel_stats_days",
        _campaign("pixel_stats_days"),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("loads", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pixel_stats_days")
    op.drop_table("pixel_stats_traffic")
