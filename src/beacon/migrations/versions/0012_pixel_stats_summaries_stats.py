"""Stats summaries (`beacon.pixel.stats.models`), back-filled from pixel_rollups.

Creates `pixel_stats_agents`, `pixel_stats_sites` and `pixel_stats_urls` (month rows at four
device / country levels; agents also day rows, URLs also day rows over every device and
country: `stats.models`) and fills them from the full grain, so an existing
install answers the stats API from them right after the upgrade; the collector's flush keeps
them in step from then on (`beacon.pixel.rollups.increment`). ``dims_hash`` and ``url_hash``
are md5 of the values joined by U+001F (`stats.summaries.md5`), computed here in SQL.

The lazily filled stats cache of 0007 (`pixel_stats_traffic`, `pixel_stats_days`) is dropped:
`pixel_stats_agents` holds the same sums, always current.

Revision ID: 0012_pixel_stats_summaries_stats
Revises: 0011_pixel_viewability
Create Date: 2026-12-03
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012_pixel_stats_summaries_stats"
down_revision = "0011_pixel_viewability"
branch_labels = None
depends_on = None

_TYPES = ("human", "bot", "ai_agent")
_LEVEL = ("campaign_id", "span", "device", "geo", "period")


def _summary(table: str, *columns: Any) -> None:
    op.create_table(
        table,
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
        sa.Column("span", sa.String(5), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("geo", sa.String(2), nullable=False),
        *columns,
    )


def upgrade() -> None:
    _summary(
        "pixel_stats_agents",
        sa.Column("traffic_type", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(*_LEVEL, "traffic_type", "agent", name="uq_pixel_stats_agents_key"),
    )
    _summary(
        "pixel_stats_sites",
        sa.Column("dims_hash", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("macros", sa.Text(), nullable=False),
        sa.Column("misrepresented", sa.Boolean(), nullable=False),
        *(sa.Column(kind, sa.BigInteger(), nullable=False) for kind in _TYPES),
        sa.UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_stats_sites_campaign_dims"),
    )
    op.create_index("ix_pixel_stats_sites_level", "pixel_stats_sites", list(_LEVEL))
    _summary(
        "pixel_stats_urls",
        sa.Column("dims_hash", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_hash", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("human", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_stats_urls_campaign_dims"),
    )
    op.create_index("ix_pixel_stats_urls_top", "pixel_stats_urls", [*_LEVEL, "human"])
    op.create_index(
        "ix_pixel_stats_urls_url",
        "pixel_stats_urls",
        ["campaign_id", "span", "device", "geo", "url_hash", "period"],
    )
    backfill(op.get_bind())
    op.drop_table("pixel_stats_days")
    op.drop_table("pixel_stats_traffic")


def downgrade() -> None:
    # The 0007 cache comes back empty: the stats service of that revision fills it on demand.
    def campaign(table: str) -> sa.Column[int]:
        return sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey(
                "pixel_campaigns.id",
                ondelete="CASCADE",
                name=f"fk_{table}_campaign_id_pixel_campaigns",
            ),
            primary_key=True,
        )

    op.create_table(
        "pixel_stats_traffic",
        campaign("pixel_stats_traffic"),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("device", sa.String(16), primary_key=True),
        sa.Column("geo", sa.String(2), primary_key=True),
        sa.Column("traffic_type", sa.String(16), primary_key=True),
        sa.Column("agent", sa.String(100), primary_key=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pixel_stats_days",
        campaign("pixel_stats_days"),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("loads", sa.BigInteger(), nullable=False),
    )
    op.drop_table("pixel_stats_urls")
    op.drop_table("pixel_stats_sites")
    op.drop_table("pixel_stats_agents")


class _Sql:
    """The dialect's spelling of md5, a date as text and a date's month."""

    def __init__(self, bind: sa.Connection) -> None:
        if bind.dialect.name == "postgresql":
            self.hash_function, self.separator = "md5", "chr(31)"
            self.day_text = "to_char({0}, 'YYYY-MM-DD')"
            self.month = "date_trunc('month', {0})::date"
        else:
            bind.connection.driver_connection.create_function(  # type: ignore[union-attr]
                "beacon_md5", 1, _md5, deterministic=True
            )
            self.hash_function, self.separator = "beacon_md5", "char(31)"
            self.day_text, self.month = "{0}", "substr({0}, 1, 8) || '01'"

    def md5(self, *columns: str) -> str:
        return f"{self.hash_function}({f' || {self.separator} || '.join(columns)})"


def _insert(
    bind: sa.Connection,
    sql: _Sql,
    table: str,
    *,
    source: str,
    level: tuple[str, str, str, str],
    keys: tuple[str, ...],
    measures: dict[str, str],
    where: str,
) -> None:
    """INSERT one span and level of ``table`` from ``source`` grouped by its keys."""
    span, period, device, geo = level
    flag = "CASE WHEN g.misrepresented THEN '1' ELSE '0' END"
    hashed = [sql.day_text.format("g.period"), "g.device", "g.geo"]
    hashes: dict[str, str] = {}
    if table == "pixel_stats_sites":
        hashes["dims_hash"] = sql.md5("g.span", *hashed, "g.domain", "g.macros", flag)
    elif table == "pixel_stats_urls":
        hashes["dims_hash"] = sql.md5("g.span", *hashed, "g.url", "g.domain")
        hashes["url_hash"] = sql.md5("g.url")
    selected = [f"{span} AS span", f"{period} AS period", f"{device} AS device", f"{geo} AS geo"]
    inner = ", ".join(
        ["campaign_id", *selected, *keys, *(f"{e} AS {m}" for m, e in measures.items())]
    )
    groups = ", ".join(str(i) for i in range(1, 6 + len(keys)))
    names = ["campaign_id", "span", "period", "device", "geo", *keys]
    outer = ", ".join([*(f"g.{n}" for n in names), *hashes.values(), *(f"g.{m}" for m in measures)])
    bind.execute(
        sa.text(
            f"INSERT INTO {table} ({', '.join([*names, *hashes, *measures])}) "
            f"SELECT {outer} FROM (SELECT {inner} FROM {source} WHERE {where} "
            f"GROUP BY {groups}) AS g"
        )
    )


def backfill(bind: sa.Connection) -> None:
    """Fill the summaries from pixel_rollups: the finest rows from the full grain, the other
    levels from those (far fewer rows to read). Also what the stats benchmark runs after
    bulk-loading pixel_rollups."""
    sql = _Sql(bind)
    month = sql.month.format("date")
    by_type = {
        kind: f"sum(CASE WHEN traffic_type = '{kind}' THEN hits ELSE 0 END)" for kind in _TYPES
    }
    specs: list[tuple[str, tuple[str, ...], dict[str, str], dict[str, str], str]] = [
        ("pixel_stats_agents", ("traffic_type", "agent"), {"hits": "sum(hits)"},
         {"hits": "sum(hits)"}, "traffic_type IN ('human', 'bot', 'ai_agent')"),
        ("pixel_stats_sites", ("domain", "macros", "misrepresented"), by_type,
         {kind: f"sum({kind})" for kind in _TYPES},
         "traffic_type IN ('human', 'bot', 'ai_agent')"),
        ("pixel_stats_urls", ("url", "domain"), {"human": "sum(hits)"},
         {"human": "sum(human)"}, "traffic_type = 'human'"),
    ]  # fmt: skip
    for table, keys, from_rollups, resum, where in specs:
        # The finest rows first (agents: days; others: months), straight from the full grain.
        span, period = ("'day'", "date") if table == "pixel_stats_agents" else ("'month'", month)
        _insert(bind, sql, table, source="pixel_rollups", level=(span, period, "device", "geo"),
                keys=keys, measures=from_rollups, where=where)  # fmt: skip
        finest = f"span = {span} AND device <> '*' AND geo <> '*'"
        for device, geo in (("device", "'*'"), ("'*'", "geo"), ("'*'", "'*'")):
            _insert(bind, sql, table, source=table, level=(span, "period", device, geo),
                    keys=keys, measures=resum, where=finest)  # fmt: skip
        if table == "pixel_stats_agents":  # months from the days, at every level
            _insert(bind, sql, table, source=table,
                    level=("'month'", sql.month.format("period"), "device", "geo"),
                    keys=keys, measures=resum, where="span = 'day'")  # fmt: skip
        elif table == "pixel_stats_urls":  # days over every device and country
            _insert(bind, sql, table, source="pixel_rollups", level=("'day'", "date", "'*'", "'*'"),
                    keys=keys, measures=from_rollups, where=where)  # fmt: skip


def _md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()
