"""Pixel campaign and publisher reports (the report rows are the job queue) and their rows.

Revision ID: 0005_pixel_reports
Revises: 0003_pixel_rollups
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0005_pixel_reports"
down_revision = "0003_pixel_rollups"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status IN ('pending', 'processing')")


def upgrade() -> None:
    op.create_table(
        "pixel_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_pixel_reports_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey(
                "pixel_campaigns.id",
                ondelete="CASCADE",
                name="fk_pixel_reports_campaign_id_pixel_campaigns",
            ),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("dimensions", sa.Text(), nullable=True),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("include_classification", sa.Boolean(), nullable=False),
        sa.Column("request_key", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        # JobMixin
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("run_after", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.Column("processed_date", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_pixel_reports_status", "pixel_reports", ["status"])
    op.create_index("ix_pixel_reports_account_id", "pixel_reports", ["account_id"])
    op.create_index("ix_pixel_reports_campaign_id", "pixel_reports", ["campaign_id"])
    op.create_index(
        "uq_pixel_reports_active_request",
        "pixel_reports",
        ["account_id", "request_key"],
        unique=True,
        postgresql_where=_ACTIVE,
        sqlite_where=_ACTIVE,
    )
    op.create_table(
        "pixel_report_rows",
        sa.Column(
            "report_id",
            sa.Integer(),
            sa.ForeignKey(
                "pixel_reports.id",
                ondelete="CASCADE",
                name="fk_pixel_report_rows_report_id_pixel_reports",
            ),
            primary_key=True,
        ),
        sa.Column(
            "row_number",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("payload", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pixel_report_rows")
    op.drop_table("pixel_reports")
