"""Stats month summaries (`beacon.pixel.stats.models`) and the job that folds closed days into them.

Creates `pixel_stats_agents`, `pixel_stats_sites`, `pixel_stats_urls` (summaries),
`pixel_stats_folded` (which days are folded, with their loads) and `pixel_stats_folds` (the
folding jobs). Nothing is back-filled here: the folding job (`stats.folds`) folds every
campaign's closed days after the upgrade, and until a day is folded the stats API reads it
from the daily rollups, as before.

Revision ID: 0012_stats
Revises: 0011_pixel_viewability
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0012_stats"
down_revision = "0011_pixel_viewability"
branch_labels = None
depends_on = None

_TYPES = ("human", "bot", "ai_agent")
_LEVEL = ("campaign_id", "span", "device", "geo", "period")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _campaign(table: str, *, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "campaign_id",
        sa.Integer(),
        sa.ForeignKey(
            "pixel_campaigns.id", ondelete="CASCADE", name=f"fk_{table}_campaign_id_pixel_campaigns"
        ),
        nullable=False,
        primary_key=primary_key,
    )


def _summary(table: str, *columns: Any) -> None:
    op.create_table(
        table,
        sa.Column("id", _ID, primary_key=True),
        _campaign(table),
        sa.Column("span", sa.String(5), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("geo", sa.String(2), nullable=False),
        *columns,
    )


def upgrade() -> None:
    _summary(
        "pixel_stats_agents",
        sa.Column("traffic_type", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(*_LEVEL, "traffic_type", "agent", name="uq_pixel_stats_agents_key"),
    )
    _summary(
        "pixel_stats_sites",
        sa.Column("key_hash", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("macros", sa.Text(), nullable=False),
        sa.Column("misrepresented", sa.Boolean(), nullable=False),
        *(sa.Column(kind, sa.BigInteger(), nullable=False) for kind in _TYPES),
        sa.UniqueConstraint(*_LEVEL, "key_hash", name="uq_pixel_stats_sites_key"),
    )
    _summary(
        "pixel_stats_urls",
        sa.Column("key_hash", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_hash", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("human", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(*_LEVEL, "key_hash", name="uq_pixel_stats_urls_key"),
    )
    op.create_index("ix_pixel_stats_urls_top", "pixel_stats_urls", [*_LEVEL, "human"])
    op.create_index(
        "ix_pixel_stats_urls_url",
        "pixel_stats_urls",
        ["campaign_id", "span", "device", "geo", "url_hash", "period"],
    )
    op.create_table(
        "pixel_stats_folded",
        _campaign("pixel_stats_folded", primary_key=True),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("loads", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pixel_stats_folds",
        sa.Column("id", _ID, primary_key=True),
        _campaign("pixel_stats_folds"),
        # JobMixin
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("run_after", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.Column("processed_date", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("campaign_id", name="uq_pixel_stats_folds_campaign_id"),
    )
    op.create_index("ix_pixel_stats_folds_status", "pixel_stats_folds", ["status"])


def downgrade() -> None:
    for table in (
        "pixel_stats_folds",
        "pixel_stats_folded",
        "pixel_stats_urls",
        "pixel_stats_sites",
        "pixel_stats_agents",
    ):
        op.drop_table(table)
