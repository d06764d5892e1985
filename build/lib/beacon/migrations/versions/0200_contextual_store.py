"""Classification store.

Revision ID: 0200_contextual_store
Revises: 0002_pixel_campaigns
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0200_contextual_store"
down_revision = "0002_pixel_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "url_classifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url_hash", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("classification", sa.Text(), nullable=True),
        sa.Column("engine_version", sa.String(40), nullable=True),
        sa.Column("classified_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("url_hash", name="uq_url_classifications_url_hash"),
    )
    op.create_index("ix_url_classifications_domain", "url_classifications", ["domain"])


def downgrade() -> None:
    op.drop_table("url_classifications")
