"""People: the browsers each person signed in on (``console_devices``), whose failed
sign-ins count against a quota of their own rather than the email's.

Revision ID: 0017_people_devices
Revises: 0008_people
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0017_people_devices"
down_revision = "0008_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_devices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_console_devices_user_id_users"),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_console_devices_token_hash"),
    )
    op.create_index("ix_console_devices_user_id", "console_devices", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_console_devices_user_id", table_name="console_devices")
    op.drop_table("console_devices")
