"""When a URL's last fetch failed: an API request fetches a URL the worker has given up again
only some time after it (a client looping on a dead page must not hammer its site).

Revision ID: 0204_contextual_last_failure
Revises: 0203_contextual_failing_since
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0204_contextual_last_failure"
down_revision = "0203_contextual_failing_since"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows given up already have none: the next API request fetches them once, and sets it.
    with op.batch_alter_table("url_classifications") as batch:
        batch.add_column(sa.Column("last_failure_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("url_classifications") as batch:
        batch.drop_column("last_failure_at")
