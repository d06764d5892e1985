"""Pixel campaigns.

Revision ID: 0002_pixel_campaigns
Revises: 0001_core
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0002_pixel_campaigns"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pixel_campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_pixel_campaigns_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("use_case", sa.String(40), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.Column("last_updated_date", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_pixel_campaigns_account_id", "pixel_campaigns", ["account_id"])


def downgrade() -> None:
    op.drop_table("pixel_campaigns")
