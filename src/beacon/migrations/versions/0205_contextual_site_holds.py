"""Sites that asked to be left alone (a page's 429 or 503), shared by every process of an
installation: a standalone worker beside the server, and a process after a restart, honour a
hold another one met (they lived in each process's memory only).

Revision ID: 0205_contextual_site_holds
Revises: 0204_contextual_last_failure
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0205_contextual_site_holds"
down_revision = "0204_contextual_last_failure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contextual_site_holds",
        sa.Column("origin", sa.Text(), primary_key=True),
        sa.Column("held_until", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_contextual_site_holds_held_until", "contextual_site_holds", ["held_until"])


def downgrade() -> None:
    op.drop_table("contextual_site_holds")
