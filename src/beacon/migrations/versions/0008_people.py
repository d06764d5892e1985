"""People: console users, memberships, sessions and invitations; archived pixel campaigns;
when a pixel rollup row last counted a hit (the console's live tag test).

Revision ID: 0008_people
Revises: 0003_pixel_rollups
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0008_people"
down_revision = "0003_pixel_rollups"
branch_labels = None
depends_on = None


def _fk(column: str, table: str, ondelete: str, source: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey(f"{table}.id", ondelete=ondelete, name=f"fk_{source}_{column}_{table}"),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("user_id", "users", "CASCADE", "memberships"),
        _fk("account_id", "accounts", "CASCADE", "memberships"),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "account_id", name="uq_memberships_user_account"),
    )
    op.create_index("ix_memberships_account_id", "memberships", ["account_id"])
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _fk("user_id", "users", "CASCADE", "console_sessions"),
        _fk("account_id", "accounts", "SET NULL", "console_sessions", nullable=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_console_sessions_token_hash"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("account_id", "accounts", "CASCADE", "invitations"),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _fk("invited_by", "users", "SET NULL", "invitations", nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )
    op.create_index("ix_invitations_account_id", "invitations", ["account_id"])
    op.add_column("pixel_campaigns", sa.Column("archived_at", UTCDateTime(), nullable=True))
    op.add_column("pixel_rollups", sa.Column("last_hit_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pixel_rollups") as batch:
        batch.drop_column("last_hit_at")
    with op.batch_alter_table("pixel_campaigns") as batch:
        batch.drop_column("archived_at")
    op.drop_table("invitations")
    op.drop_table("console_sessions")
    op.drop_table("memberships")
    op.drop_table("users")
