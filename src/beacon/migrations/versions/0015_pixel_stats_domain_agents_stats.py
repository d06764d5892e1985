"""Stats rows per domain (`beacon.pixel.stats.models.PixelStatsDomainAgent`), and indexes of
the site and URL summaries by domain.

A ``domain`` filter on `GET /v1/pixel/campaigns/{id}/stats` read the full grain for its
series, devices, countries and agents; the folding job now keeps those per domain, at the real
device and country, for every folded day, month and the whole campaign. Days folded before this
revision get theirs here, from the full grain of those days (their coarser levels, month and
whole rows summed from them), so the summaries stay whole without folding anything again.

Revision ID: 0015_stats
Revises: 0014_stats
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_stats"
down_revision = "0014_stats"
branch_labels = None
depends_on = None

_TABLE = "pixel_stats_domain_agents"
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KEY = ("domain", "device", "geo", "traffic_type", "agent")
_KEYS = ", ".join(_KEY)


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", _ID, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey(
                "pixel_campaigns.id",
                ondelete="CASCADE",
                name=f"fk_{_TABLE}_campaign_id_pixel_campaigns",
            ),
            nullable=False,
        ),
        sa.Column("span", sa.String(5), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("geo", sa.String(2), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("traffic_type", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "campaign_id",
            "domain",
            "span",
            "period",
            "device",
            "geo",
            "traffic_type",
            "agent",
            name="uq_pixel_stats_domain_agents_key",
        ),
    )
    op.create_index(
        "ix_pixel_stats_domain_agents_period", _TABLE, ["campaign_id", "span", "period"]
    )
    by_domain = ["campaign_id", "domain", "span", "device", "geo", "period"]
    op.create_index("ix_pixel_stats_sites_domain", "pixel_stats_sites", by_domain)
    op.create_index("ix_pixel_stats_urls_domain", "pixel_stats_urls", by_domain)
    backfill(op.get_bind())


def backfill(bind: sa.Connection) -> None:
    """The rows of every day already folded, from the full grain; their months and whole."""
    sqlite = bind.dialect.name == "sqlite"
    columns = f"campaign_id, span, period, {_KEYS}, hits"
    keys = ", ".join(f"r.{k}" for k in _KEY)
    statements = [
        f"INSERT INTO {_TABLE} ({columns}) "
        f"SELECT r.campaign_id, 'day', r.date, {keys}, SUM(r.hits) "
        "FROM pixel_rollups r JOIN pixel_stats_folded f "
        "ON f.campaign_id = r.campaign_id AND f.date = r.date "
        "WHERE r.traffic_type IN ('human', 'bot', 'ai_agent') "
        f"GROUP BY r.campaign_id, r.date, {keys}"
    ]
    # The coarser levels of those days: every device ('*'), every country, both.
    for device, geo, kept in (
        ("device", "'*'", "device, "),
        ("'*'", "geo", "geo, "),
        ("'*'", "'*'", ""),
    ):
        statements.append(
            f"INSERT INTO {_TABLE} ({columns}) "
            f"SELECT campaign_id, span, period, domain, {device}, {geo}, traffic_type, agent, "
            f"SUM(hits) FROM {_TABLE} WHERE span = 'day' AND device != '*' AND geo != '*' "
            f"GROUP BY campaign_id, span, period, {kept}domain, traffic_type, agent"
        )
    month = (
        "date(period, 'start of month')" if sqlite else "CAST(date_trunc('month', period) AS date)"
    )
    whole = "'1970-01-01'" if sqlite else "DATE '1970-01-01'"
    for span, period, groups in (("month", month, f"{month}, "), ("whole", whole, "")):
        statements.append(
            f"INSERT INTO {_TABLE} ({columns}) "
            f"SELECT campaign_id, '{span}', {period}, {_KEYS}, SUM(hits) FROM {_TABLE} "
            f"WHERE span = 'day' GROUP BY campaign_id, {groups}{_KEYS}"
        )
    for statement in statements:
        bind.execute(sa.text(statement))


def downgrade() -> None:
    op.drop_index("ix_pixel_stats_urls_domain", table_name="pixel_stats_urls")
    op.drop_index("ix_pixel_stats_sites_domain", table_name="pixel_stats_sites")
    op.drop_table(_TABLE)
