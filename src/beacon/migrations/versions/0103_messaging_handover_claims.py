"""Messaging: the addresses a run hands messages to, one row per (execution, address).

Contacts may share an SMS number (a family phone): each got the run's SMS, so one handset got
it several times. The row that hands a message over now claims its number in the transaction
that marks it ``injected``; the primary key lets only one row of the run claim a number.

Revision ID: 0103_messaging_handover_claims
Revises: 0102_messaging_pending_send
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0103_messaging_handover_claims"
down_revision = "0102_messaging_pending_send"
branch_labels = None
depends_on = None

RecipientId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "messaging_handover_claims",
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("recipient_id", RecipientId, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["messaging_executions.id"],
            name=op.f("fk_messaging_handover_claims_execution_id_messaging_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["messaging_recipients.id"],
            name=op.f("fk_messaging_handover_claims_recipient_id_messaging_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "execution_id", "address", name=op.f("pk_messaging_handover_claims")
        ),
    )
    op.create_index(
        op.f("ix_messaging_handover_claims_recipient_id"),
        "messaging_handover_claims",
        ["recipient_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("messaging_handover_claims")
