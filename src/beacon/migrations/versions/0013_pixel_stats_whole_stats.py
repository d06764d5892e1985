"""Stats `whole` rows: each campaign's folded months summed (`beacon.pixel.stats.models`).

The folding job now keeps, next to the month rows of `pixel_stats_agents`, `pixel_stats_sites`
and `pixel_stats_urls`, rows of span `whole` (period 1970-01-01) holding the sum of every
folded month, so a range covering most of a campaign reads one row set. Campaigns folded
before this revision get theirs here, summed from their month rows (no new table or column).

Revision ID: 0013_stats
Revises: 0012_stats
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0013_stats"
down_revision = "0012_stats"
branch_labels = None
depends_on = None

_WHOLE = "'whole', DATE '1970-01-01'"
_SUMS = {
    "pixel_stats_agents": (("traffic_type", "agent"), ("hits",)),
    "pixel_stats_sites": (
        ("key_hash", "domain", "macros", "misrepresented"),
        ("human", "bot", "ai_agent"),
    ),
    "pixel_stats_urls": (("key_hash", "url", "url_hash", "domain"), ("human",)),
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    whole = "'whole', '1970-01-01'" if sqlite else _WHOLE
    for table, (keys, measures) in _SUMS.items():
        op.execute(f"DELETE FROM {table} WHERE span = 'whole'")
        # Every key column is a function of the unique key (campaign, level, hash / agent).
        group = ", ".join(("campaign_id", "device", "geo", *keys))
        sums = ", ".join(f"SUM({m})" for m in measures)
        op.execute(
            f"INSERT INTO {table} (campaign_id, span, period, device, geo, {', '.join(keys)}, "
            f"{', '.join(measures)}) "
            f"SELECT campaign_id, {whole}, device, geo, {', '.join(keys)}, {sums} "
            f"FROM {table} WHERE span = 'month' GROUP BY {group}"
        )


def downgrade() -> None:
    for table in _SUMS:
        op.execute(f"DELETE FROM {table} WHERE span = 'whole'")
