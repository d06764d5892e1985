"""The title and language extracted from a classified page, kept with its classification.

Revision ID: 0202_contextual_page_meta_cmisc
Revises: 0201_contextual_batches
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0202_contextual_page_meta_cmisc"
down_revision = "0201_contextual_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("url_classifications") as batch:
        batch.add_column(sa.Column("title", sa.Text(), nullable=True))
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("url_classifications") as batch:
        batch.drop_column("language")
        batch.drop_column("title")
