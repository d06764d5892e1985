"""Why an invalid hit is invalid: `pixel_rollups.ivt_reason` (GIVT reasons, docs/measure.md).

'' for human hits. Rows counted before this revision keep '' and their `dims_hash` (the key
appends the reason only when set); reports derive a reason for them from the traffic type and
agent (`beacon.pixel.reports.aggregation_repository.ivt_reason`), so nothing is rewritten here. A
partial index over the invalid rows keeps the campaign summary's `by_reason` breakdown from
reading the human ones.

Revision ID: 0010_pixel_ivt_reason
Revises: 0009_pixel_ingest_files
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_pixel_ivt_reason"
down_revision = "0009_pixel_ingest_files"
branch_labels = None
depends_on = None

_INVALID = sa.text("traffic_type <> 'human'")


def upgrade() -> None:
    op.add_column(
        "pixel_rollups",
        sa.Column("ivt_reason", sa.String(16), nullable=False, server_default=""),
    )
    op.create_index(
        "ix_pixel_rollups_invalid",
        "pixel_rollups",
        ["campaign_id", "date"],
        postgresql_where=_INVALID,
        sqlite_where=_INVALID,
    )


def downgrade() -> None:
    op.drop_index("ix_pixel_rollups_invalid", table_name="pixel_rollups")
    with op.batch_alter_table("pixel_rollups") as table:
        table.drop_column("ivt_reason")
