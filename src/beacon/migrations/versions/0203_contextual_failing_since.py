"""When a URL's current run of fetch failures began: transient failures (a site down, a
robots.txt answering 5xx) are retried until the run has lasted the retry window.

Revision ID: 0203_contextual_failing_since
Revises: 0202_contextual_page_meta_cmisc
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0203_contextual_failing_since"
down_revision = "0202_contextual_page_meta_cmisc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows failing already get it at their next failure (their window starts then).
    with op.batch_alter_table("url_classifications") as batch:
        batch.add_column(sa.Column("failing_since", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("url_classifications") as batch:
        batch.drop_column("failing_since")
