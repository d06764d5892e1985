"""Viewability measured by the script tag (`beacon.pixel.viewability_models`): the per-impression
join state of impressions and their `measurable` / `viewable` events, and the counters reports read.

Revision ID: 0011_pixel_viewability
Revises: 0009_pixel_ingest_files
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0011_pixel_viewability"
down_revision = "0009_pixel_ingest_files"
branch_labels = None
depends_on = None

_COUNTER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _campaign_fk(table: str) -> sa.Column[int]:
    return sa.Column(
        "campaign_id",
        sa.Integer(),
        sa.ForeignKey(
            "pixel_campaigns.id", ondelete="CASCADE", name=f"fk_{table}_campaign_id_pixel_campaigns"
        ),
        primary_key=True,
    )


def _dimensions() -> list[sa.Column[object]]:
    return [
        sa.Column("domain", sa.String(255), nullable=False, server_default=""),
        sa.Column("url", sa.Text(), nullable=False, server_default=""),
        sa.Column("device", sa.String(16), nullable=False, server_default=""),
        sa.Column("geo", sa.String(2), nullable=False, server_default=""),
        sa.Column("macros", sa.Text(), nullable=False, server_default=""),
    ]


def upgrade() -> None:
    op.create_table(
        "pixel_impression_views",
        _campaign_fk("pixel_impression_views"),
        sa.Column("impression_id", sa.String(64), primary_key=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("has_impression", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("human", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("date", sa.Date(), nullable=True),
        *_dimensions(),
        sa.Column("measurable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("viewable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("counted_measurable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("counted_viewable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("added_measurable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("added_viewable", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_pixel_impression_views_seen_at", "pixel_impression_views", ["seen_at"])
    op.create_table(
        "pixel_viewability",
        _campaign_fk("pixel_viewability"),
        sa.Column("dims_hash", sa.String(32), primary_key=True),
        sa.Column("date", sa.Date(), nullable=False),
        *_dimensions(),
        sa.Column("measurable", _COUNTER, nullable=False, server_default="0"),
        sa.Column("viewable", _COUNTER, nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_pixel_viewability_campaign_date", "pixel_viewability", ["campaign_id", "date"]
    )


def downgrade() -> None:
    op.drop_table("pixel_viewability")
    op.drop_table("pixel_impression_views")
