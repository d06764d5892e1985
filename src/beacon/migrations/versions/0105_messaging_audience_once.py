"""Messaging: campaigns stored with a segment repeated in their audience.

Before writes kept a repeated segment once (``campaigns.service._set_audience``), a campaign
could be stored with a segment listed twice in ``audience.included`` or ``audience.excluded``;
reads then deduplicated it in each place that showed the audience. Each list is rewritten to
hold each segment once, at its first place, so the write-time rule is the only one needed.
``updated_at`` stays: the campaign's content is unchanged, only its stored form.

Campaigns are read in batches of ``BATCH``, in id order, and only the rows holding a repeat are
written, so a large table is never held in memory or rewritten whole.

Revision ID: 0105_messaging_audience_once
Revises: 0104_messaging_schedule_pairing
Create Date: 2026-12-07
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0105_messaging_audience_once"
down_revision = "0104_messaging_schedule_pairing"
branch_labels = None
depends_on = None

BATCH = 1000

_campaigns = sa.table(
    "messaging_campaigns",
    sa.column("id", sa.Uuid()),
    sa.column("audience_included", sa.JSON()),
    sa.column("audience_excluded", sa.JSON()),
)


def _once(segment_ids: object) -> object:
    """The list with each segment once, first-seen order kept; anything that is not a list of
    ids (no writer stores one) is left as it is, not rewritten or failed on."""
    if isinstance(segment_ids, list) and all(isinstance(s, str) for s in segment_ids):
        return list(dict.fromkeys(segment_ids))
    return segment_ids


def upgrade() -> None:
    conn = op.get_bind()
    table = _campaigns
    after: uuid.UUID | None = None
    while True:
        query = sa.select(table.c.id, table.c.audience_included, table.c.audience_excluded)
        if after is not None:
            query = query.where(table.c.id > after)
        rows = conn.execute(query.order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        repaired = [
            {
                "row_id": row.id,
                "included": _once(row.audience_included),
                "excluded": _once(row.audience_excluded),
            }
            for row in rows
            if _once(row.audience_included) != row.audience_included
            or _once(row.audience_excluded) != row.audience_excluded
        ]
        if repaired:
            conn.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("row_id"))
                .values(
                    audience_included=sa.bindparam("included", type_=sa.JSON()),
                    audience_excluded=sa.bindparam("excluded", type_=sa.JSON()),
                ),
                repaired,
            )
        after = rows[-1].id


def downgrade() -> None:
    """Nothing to undo: a list without repeats is valid under the older rule too."""
