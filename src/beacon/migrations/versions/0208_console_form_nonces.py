"""People: the console create forms that were posted (``console_form_nonces``).

Creating an API key or an OAuth client in the console answers the page with the secret
itself; each create form carries a one-time nonce, and its hash is recorded here with the
session that posted it and what it created, so that a reload re-posting the form (or a double
click) creates nothing. The unique hash settles two posts at once, on any of several servers.
No secret is stored.

Revision ID: 0208_console_form_nonces
Revises: 0207_invitation_pending_unique
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0208_console_form_nonces"
down_revision = "0207_invitation_pending_unique"
branch_labels = None
# The console_sessions table comes from the people branch.
depends_on = "0008_people"

TABLE = "console_form_nonces"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("nonce_hash", sa.String(64), nullable=False),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey(
                "console_sessions.id",
                ondelete="CASCADE",
                name="fk_console_form_nonces_session_id_console_sessions",
            ),
            nullable=False,
        ),
        sa.Column("created_ref", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("nonce_hash", name="uq_console_form_nonces_nonce_hash"),
    )
    op.create_index("ix_console_form_nonces_session_id", TABLE, ["session_id"])
    op.create_index("ix_console_form_nonces_created_at", TABLE, ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_console_form_nonces_created_at", table_name=TABLE)
    op.drop_index("ix_console_form_nonces_session_id", table_name=TABLE)
    op.drop_table(TABLE)
