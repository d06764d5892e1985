"""`pixel_site_days`' secondary index without the macros JSON: (campaign_id, date, domain).

Every reader of the site-days (reports' site grain and totals, the console's daily series, the
stats summaries and folds) selects by campaign and date, some also by domain, and reads the
counters from the table; none seeks or sorts on ``macros``. Carrying that JSON in the index
made each new site-day row the most expensive insert of the flush on SQLite (issue 19).
Existing rows are kept; only the index is rebuilt.

Revision ID: 0016_ingest
Revises: 0015_stats
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0016_ingest"
down_revision = "0015_stats"
branch_labels = None
depends_on = None

_TABLE = "pixel_site_days"
_INDEX = "ix_pixel_site_days_campaign_date"


def upgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
    op.create_index(_INDEX, _TABLE, ["campaign_id", "date", "domain"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
    op.create_index(_INDEX, _TABLE, ["campaign_id", "date", "domain", "macros"])
