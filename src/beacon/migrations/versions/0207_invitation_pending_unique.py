"""People: at most one open invitation per account and address, enforced by a partial unique
index.

Two invitations of one address posted at once could both pass the service's check for a
pending invitation and both be inserted: two live links, and withdrawing the one the page
shows left the other working. The index covers invitations neither accepted nor revoked
(``OPEN``); expiry is a matter of time, which no index condition can read, so the service
retires an address's expired open invitation when it invites the address again.

Open invitations stored by the old race would violate the index: of each account's open
invitations of an address the newest (latest ``created_at``, then highest id) is kept, the
link most recently sent, and the older ones are revoked now, as withdrawing them would have
(their links stop working; nothing else refers to an invitation).

Revision ID: 0207_invitation_pending_unique
Revises: 0206_activation_root_dot
Create Date: 2026-12-07
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0207_invitation_pending_unique"
down_revision = "0206_activation_root_dot"
branch_labels = None
# The invitations table comes from the people branch.
depends_on = "0008_people"

INDEX = "uq_invitations_open_email"
OPEN = "accepted_at IS NULL AND revoked_at IS NULL"

_invitations = sa.table(
    "invitations",
    sa.column("id", sa.Integer()),
    sa.column("account_id", sa.Integer()),
    sa.column("email", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("accepted_at", UTCDateTime()),
    sa.column("revoked_at", UTCDateTime()),
)


def revoke_duplicates(conn: sa.Connection) -> int:
    """Revoke every open invitation but the newest of its account and address; how many."""
    rows = conn.execute(
        sa.select(_invitations.c.id, _invitations.c.account_id, _invitations.c.email)
        .where(_invitations.c.accepted_at.is_(None), _invitations.c.revoked_at.is_(None))
        .order_by(
            _invitations.c.account_id,
            _invitations.c.email,
            _invitations.c.created_at.desc(),
            _invitations.c.id.desc(),
        )
    ).all()
    seen: set[tuple[int, str]] = set()
    older: list[int] = []
    for invitation_id, account_id, email in rows:
        if (account_id, email) in seen:
            older.append(invitation_id)
        seen.add((account_id, email))
    for start in range(0, len(older), 500):
        conn.execute(
            sa.update(_invitations)
            .where(_invitations.c.id.in_(older[start : start + 500]))
            .values(revoked_at=datetime.now(UTC))
        )
    return len(older)


def upgrade() -> None:
    revoke_duplicates(op.get_bind())
    op.create_index(
        INDEX,
        "invitations",
        ["account_id", "email"],
        unique=True,
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    """The index goes; the invitations revoked by the upgrade stay revoked."""
    op.drop_index(INDEX, table_name="invitations")
