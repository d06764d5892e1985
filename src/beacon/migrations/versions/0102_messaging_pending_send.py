"""Messaging: at most one pending ``/send`` run per campaign, enforced by a partial unique index.

Concurrent ``POST /campaigns/:id/send`` could each create a run due now (the check and the
insert were not serialised). The service now locks the campaign; this index is the database's
guard behind that lock. Runs created by the old race and still pending would violate it: of
each campaign's pending send-now runs the first created is kept (it is the one the scheduler
would start first) and the others are cancelled, as ``POST /cancel`` would have cancelled them.

Revision ID: 0102_messaging_pending_send
Revises: 0101_messaging_engine
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0102_messaging_pending_send"
down_revision = "0101_messaging_engine"
branch_labels = None
depends_on = None

PENDING_SEND = "trigger = 'send_now' AND status = 'scheduled'"
DUPLICATE = "cancelled by migration 0102: another run of this campaign was already sent now"


def cancel_duplicates(conn: sa.Connection) -> int:
    """Cancel every pending send-now run but the first created of its campaign; how many."""
    executions = sa.table(
        "messaging_executions",
        sa.column("id", sa.Uuid()),
        sa.column("campaign_id", sa.Uuid()),
        sa.column("trigger", sa.String()),
        sa.column("status", sa.String()),
        sa.column("created_at", UTCDateTime()),
        sa.column("completed_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
        sa.column("error", sa.Text()),
    )
    rows = conn.execute(
        sa.select(executions.c.id, executions.c.campaign_id)
        .where(executions.c.trigger == "send_now", executions.c.status == "scheduled")
        .order_by(executions.c.campaign_id, executions.c.created_at, executions.c.id)
    ).all()
    seen: set[Any] = set()
    duplicates = []
    for execution_id, campaign_id in rows:
        if campaign_id in seen:
            duplicates.append(execution_id)
        seen.add(campaign_id)
    if duplicates:
        now = datetime.now(UTC)
        conn.execute(
            sa.update(executions)
            .where(executions.c.id.in_(duplicates))
            .values(status="cancelled", completed_at=now, updated_at=now, error=DUPLICATE)
        )
    return len(duplicates)


def upgrade() -> None:
    cancel_duplicates(op.get_bind())
    op.create_index(
        "uq_messaging_executions_pending_send",
        "messaging_executions",
        ["campaign_id"],
        unique=True,
        postgresql_where=sa.text(PENDING_SEND),
        sqlite_where=sa.text(PENDING_SEND),
    )


def downgrade() -> None:
    op.drop_index("uq_messaging_executions_pending_send", table_name="messaging_executions")
