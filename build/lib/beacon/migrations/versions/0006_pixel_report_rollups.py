"""Report-grain pixel rollups (site-day, URL-day, URL-month), back-filled from pixel_rollups.

Each table sums `pixel_rollups` over fewer dimensions; the collector's flush keeps them in
step from now on (`beacon.pixel.rollups.increment`). ``dims_hash`` is md5 of the grain's
values joined by U+001F (`rollups.coarse_hash`), computed here in SQL.

Revision ID: 0006_pixel_report_rollups
Revises: 0005_pixel_reports
Create Date: 2026-11-23
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006_pixel_report_rollups"
down_revision = "0005_pixel_reports"
branch_labels = None
depends_on = None


def _common(table: str) -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey(
                "pixel_campaigns.id",
                ondelete="CASCADE",
                name=f"fk_{table}_campaign_id_pixel_campaigns",
            ),
            nullable=False,
        ),
        sa.Column("dims_hash", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("macros", sa.Text(), nullable=False),
        sa.Column("misrepresented", sa.Boolean(), nullable=False),
    ]


def _create(table: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        table,
        *_common(table),
        *columns,
        sa.UniqueConstraint("campaign_id", "dims_hash", name=f"uq_{table}_campaign_dims"),
    )


def upgrade() -> None:
    _create(
        "pixel_site_days",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("human", sa.BigInteger(), nullable=False),
        sa.Column("bot", sa.BigInteger(), nullable=False),
        sa.Column("ai_agent", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_pixel_site_days_campaign_date",
        "pixel_site_days",
        ["campaign_id", "date", "domain", "macros"],
    )
    _create(
        "pixel_url_days",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("human", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_pixel_url_days_campaign_date", "pixel_url_days", ["campaign_id", "date"])
    _create(
        "pixel_url_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("human", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_pixel_url_months_campaign_month", "pixel_url_months", ["campaign_id", "month"]
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("pixel_url_months")
    op.drop_table("pixel_url_days")
    op.drop_table("pixel_site_days")


def backfill(bind: sa.Connection) -> None:
    """Fill the report-grain tables from pixel_rollups (one INSERT .. SELECT .. GROUP BY each).

    Also what the report benchmark runs after bulk-loading pixel_rollups.
    """
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        hash_function, day_text = "md5", "to_char({0}, 'YYYY-MM-DD')"
        month, separator = "date_trunc('month', date)::date", "chr(31)"
    else:
        bind.connection.driver_connection.create_function(  # type: ignore[union-attr]
            "beacon_md5", 1, _md5, deterministic=True
        )
        hash_function, day_text, month = "beacon_md5", "{0}", "substr(date, 1, 8) || '01'"
        separator = "char(31)"

    def dims_hash(*columns: str) -> str:
        return f"{hash_function}({f' || {separator} || '.join(columns)})"

    flag = "CASE WHEN misrepresented THEN '1' ELSE '0' END"
    measures = ", ".join(
        f"sum(CASE WHEN traffic_type = '{t}' THEN hits ELSE 0 END)"
        for t in ("human", "bot", "ai_agent")
    )
    site_hash = dims_hash(day_text.format("date"), "domain", "macros", flag)
    bind.execute(
        sa.text(
            "INSERT INTO pixel_site_days (campaign_id, date, dims_hash, domain, macros, "
            "misrepresented, human, bot, ai_agent) "
            f"SELECT campaign_id, date, {site_hash}, domain, macros, misrepresented, {measures} "
            "FROM pixel_rollups WHERE traffic_type IN ('human', 'bot', 'ai_agent') "
            "GROUP BY campaign_id, date, domain, macros, misrepresented"
        )
    )
    for table, period, period_expression in (
        ("pixel_url_days", "date", "date"),
        ("pixel_url_months", "month", month),
    ):
        url_hash = dims_hash(day_text.format("g.period"), "domain", "url", "macros", flag)
        bind.execute(
            sa.text(
                f"INSERT INTO {table} (campaign_id, {period}, dims_hash, domain, url, macros, "
                "misrepresented, human) "
                f"SELECT campaign_id, g.period, {url_hash}, domain, url, macros, "
                "misrepresented, human FROM ("
                f"SELECT campaign_id, {period_expression} AS period, domain, url, macros, "
                "misrepresented, sum(hits) AS human FROM pixel_rollups "
                "WHERE traffic_type = 'human' "
                "GROUP BY campaign_id, period, domain, url, macros, misrepresented) AS g"
            )
        )


def _md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()
