"""Activation: inventory, segments, activations (deals), deliveries, segment reports.

Revision ID: 0300_activation
Revises: 0200_contextual_store
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0300_activation"
down_revision = "0200_contextual_store"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _account(table: str) -> sa.Column:
    return sa.Column(
        "account_id",
        sa.Integer(),
        sa.ForeignKey("accounts.id", ondelete="CASCADE", name=f"fk_{table}_account_id_accounts"),
        nullable=False,
    )


def _job_columns() -> list[sa.Column]:
    return [
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("run_after", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.Column("processed_date", UTCDateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "activation_inventory",
        sa.Column("id", BIG_ID, primary_key=True),
        _account("activation_inventory"),
        sa.Column("url_hash", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "url_hash", name="uq_activation_inventory_account_url"),
    )
    op.create_table(
        "activation_inventory_sync",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey(
                "accounts.id",
                ondelete="CASCADE",
                name="fk_activation_inventory_sync_account_id_accounts",
            ),
            primary_key=True,
        ),
        sa.Column("last_rollup_id", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "activation_segments",
        sa.Column("id", sa.Integer(), primary_key=True),
        _account("activation_segments"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("url_count", sa.Integer(), nullable=True),
        sa.Column("domain_count", sa.Integer(), nullable=True),
        sa.Column("top_domains", sa.Text(), nullable=True),
        sa.Column("last_updated_date", UTCDateTime(), nullable=False),
        *_job_columns(),
    )
    op.create_index("ix_activation_segments_account_id", "activation_segments", ["account_id"])
    op.create_index("ix_activation_segments_status", "activation_segments", ["status"])
    op.create_table(
        "activation_segment_urls",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column(
            "segment_id",
            sa.Integer(),
            sa.ForeignKey(
                "activation_segments.id",
                ondelete="CASCADE",
                name="fk_activation_segment_urls_segment_id_activation_segments",
            ),
            nullable=False,
        ),
        sa.Column("url_hash", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.UniqueConstraint("segment_id", "url_hash", name="uq_activation_segment_urls_member"),
    )
    op.create_index(
        "ix_activation_segment_urls_domain", "activation_segment_urls", ["segment_id", "domain"]
    )
    op.create_table(
        "activation_activations",
        sa.Column("id", sa.Integer(), primary_key=True),
        _account("activation_activations"),
        sa.Column("segment_ids", sa.Text(), nullable=False),
        sa.Column("dsp", sa.String(100), nullable=False),
        sa.Column("buyer_seat", sa.String(200), nullable=False),
        sa.Column("deal_id", sa.String(200), nullable=True),
        sa.Column("ttl_hours", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("geo", sa.Text(), nullable=True),
        sa.Column("formats", sa.Text(), nullable=True),
        sa.Column("devices", sa.Text(), nullable=True),
        sa.Column("kpis", sa.Text(), nullable=True),
        sa.Column("budget", sa.Text(), nullable=True),
        *_job_columns(),
        sa.UniqueConstraint("deal_id", name="uq_activation_activations_deal_id"),
    )
    op.create_index(
        "ix_activation_activations_account_id", "activation_activations", ["account_id"]
    )
    op.create_index("ix_activation_activations_status", "activation_activations", ["status"])
    op.create_table(
        "activation_deal_segments",
        sa.Column(
            "activation_id",
            sa.Integer(),
            sa.ForeignKey(
                "activation_activations.id",
                ondelete="CASCADE",
                name="fk_activation_deal_segments_activation",
            ),
            primary_key=True,
        ),
        sa.Column(
            "segment_id",
            sa.Integer(),
            sa.ForeignKey(
                "activation_segments.id",
                ondelete="CASCADE",
                name="fk_activation_deal_segments_segment_id_activation_segments",
            ),
            primary_key=True,
        ),
    )
    op.create_index(
        "ix_activation_deal_segments_segment_id", "activation_deal_segments", ["segment_id"]
    )
    op.create_table(
        "activation_delivery_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        _account("activation_delivery_batches"),
        sa.Column("batch_id", sa.String(100), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("received_date", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "batch_id", name="uq_activation_delivery_batches_key"),
    )
    op.create_table(
        "activation_deliveries",
        sa.Column("id", BIG_ID, primary_key=True),
        _account("activation_deliveries"),
        sa.Column(
            "batch_pk",
            sa.Integer(),
            sa.ForeignKey(
                "activation_delivery_batches.id",
                ondelete="CASCADE",
                name="fk_activation_deliveries_batch_pk_activation_delivery_batches",
            ),
            nullable=False,
        ),
        sa.Column("deal_id", sa.String(200), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("geo", sa.String(2), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("spend_micros", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_activation_deliveries_deal_date",
        "activation_deliveries",
        ["account_id", "deal_id", "date"],
    )
    op.create_index("ix_activation_deliveries_batch", "activation_deliveries", ["batch_pk"])
    op.create_table(
        "activation_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        _account("activation_reports"),
        sa.Column("segment_ids", sa.Text(), nullable=True),
        sa.Column("requested_deal_ids", sa.Text(), nullable=True),
        sa.Column("deal_ids", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("filters", sa.Text(), nullable=True),
        sa.Column("dimensions", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        *_job_columns(),
    )
    op.create_index("ix_activation_reports_account_id", "activation_reports", ["account_id"])
    op.create_index("ix_activation_reports_status", "activation_reports", ["status"])
    op.create_table(
        "activation_report_rows",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column(
            "report_id",
            sa.Integer(),
            sa.ForeignKey(
                "activation_reports.id",
                ondelete="CASCADE",
                name="fk_activation_report_rows_report_id_activation_reports",
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.UniqueConstraint("report_id", "position", name="uq_activation_report_rows_position"),
    )


def downgrade() -> None:
    for table in (
        "activation_report_rows",
        "activation_reports",
        "activation_deliveries",
        "activation_delivery_batches",
        "activation_deal_segments",
        "activation_activations",
        "activation_segment_urls",
        "activation_segments",
        "activation_inventory_sync",
        "activation_inventory",
    ):
        op.drop_table(table)
