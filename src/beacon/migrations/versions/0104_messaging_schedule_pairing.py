"""Messaging: campaigns stored with a ``sendAt`` beside schedule mode ``now``.

Before this release a schedule of a ``sendAt`` without a ``mode`` was stored as mode ``now``
beside its ``sendAt``; publishing arms only mode ``at``, so such a campaign never sent at its
time, and a GET of it gave a schedule that a PATCH now refuses (mode ``now`` with a ``sendAt``
is a 422). What its author meant is kept where nothing acted on it yet: a **draft** gets mode
``at`` (publishing arms it, or preflight says the time has passed). A campaign already
published behaved as mode ``now`` (it waited for ``POST /send``): it keeps that mode, and the
``sendAt`` nothing read is cleared, so what is shown is what it does.

Revision ID: 0104_messaging_schedule_pairing
Revises: 0103_messaging_handover_claims
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0104_messaging_schedule_pairing"
down_revision = "0103_messaging_handover_claims"
branch_labels = None
depends_on = None

_campaigns = sa.table(
    "messaging_campaigns",
    sa.column("status", sa.String()),
    sa.column("schedule_mode", sa.String()),
    sa.column("send_at", sa.DateTime()),
)


def upgrade() -> None:
    unpaired = sa.and_(_campaigns.c.schedule_mode == "now", _campaigns.c.send_at.is_not(None))
    op.execute(
        sa.update(_campaigns)
        .where(unpaired, _campaigns.c.status == "draft")
        .values(schedule_mode="at")
    )
    op.execute(
        sa.update(_campaigns).where(unpaired, _campaigns.c.status != "draft").values(send_at=None)
    )


def downgrade() -> None:
    """Nothing to undo: the rows it changed are valid under the older rule too."""
