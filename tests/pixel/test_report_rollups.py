"""The report-grain rollups equal GROUP BYs of the full grain, whether written by the flush or
back-filled by their migration."""

from __future__ import annotations

import datetime as dt
import importlib
import random
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import delete, func, insert, select, text

from beacon.core.db import Database, upgrade_database
from beacon.pixel.models import (
    PixelCampaign,
    PixelRollup,
    PixelSiteDay,
    PixelUrlDay,
    PixelUrlMonth,
)
from beacon.pixel.rollups import RollupKey, canonical_macros, increment

migration = importlib.import_module("beacon.migrations.versions.0006_pixel_report_rollups")

DOMAINS = ("nytimes.com", "bbc.co.uk", "cheap.biz", "")
MACROS = ("", canonical_macros({"google-site": "nytimes.com"}), canonical_macros({"x": "é"}))
TRAFFIC = (("human", ""), ("human", ""), ("bot", "Googlebot"), ("ai_agent", "GPTBot"))


def new_campaign(db: Database) -> int:
    with db.transaction() as session:
        row = PixelCampaign(account_id=1, name="c", use_case="campaign_reporting")
        session.add(row)
        session.flush()
        return row.id


def random_hits(campaign_id: int, rng: random.Random, n: int) -> dict[RollupKey, int]:
    """``n`` random rollup increments over Jan-Mar 2026 (collisions add up)."""
    counts: dict[RollupKey, int] = {}
    for _ in range(n):
        domain = rng.choice(DOMAINS)
        macros = rng.choice(MACROS)
        traffic, agent = rng.choice(TRAFFIC)
        key = RollupKey(
            campaign_id,
            dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(90)),
            domain,
            f"https://{domain}/{rng.randrange(6)}" if domain else "",
            rng.choice(("desktop", "mobile", "")),
            rng.choice(("US", "GB", "")),
            traffic,
            agent,
            macros,
            misrepresented=bool(macros) and domain == "cheap.biz",
        )
        counts[key] = counts.get(key, 0) + rng.randrange(1, 5)
    return counts


def coarse_contents(db: Database) -> dict[str, set[tuple[object, ...]]]:
    with db.transaction() as session:
        return {
            "site": {
                (r.campaign_id, r.date, r.dims_hash, r.domain, r.macros, r.misrepresented,
                 r.human, r.bot, r.ai_agent)
                for r in session.scalars(select(PixelSiteDay))
            },
            "url_day": {
                (r.campaign_id, r.date, r.dims_hash, r.domain, r.url, r.macros,
                 r.misrepresented, r.human)
                for r in session.scalars(select(PixelUrlDay))
            },
            "url_month": {
                (r.campaign_id, r.month, r.dims_hash, r.domain, r.url, r.macros,
                 r.misrepresented, r.human)
                for r in session.scalars(select(PixelUrlMonth))
            },
        }  # fmt: skip


def full_grain_groups(db: Database) -> dict[str, set[tuple[object, ...]]]:
    """The coarse tables' contents computed from pixel_rollups by GROUP BY (hashes aside)."""
    R = PixelRollup
    human = func.sum(R.hits).filter(R.traffic_type == "human")
    with db.transaction() as session:
        site = session.execute(
            select(
                R.campaign_id,
                R.date,
                R.domain,
                R.macros,
                R.misrepresented,
                func.coalesce(human, 0),
                func.coalesce(func.sum(R.hits).filter(R.traffic_type == "bot"), 0),
                func.coalesce(func.sum(R.hits).filter(R.traffic_type == "ai_agent"), 0),
            ).group_by(R.campaign_id, R.date, R.domain, R.macros, R.misrepresented)
        ).all()
        url_day = session.execute(
            select(R.campaign_id, R.date, R.domain, R.url, R.macros, R.misrepresented, human)
            .where(R.traffic_type == "human")
            .group_by(R.campaign_id, R.date, R.domain, R.url, R.macros, R.misrepresented)
        ).all()
    months: dict[tuple[object, ...], int] = {}
    for campaign_id, day, domain, url, macros, misrepresented, hits in url_day:
        key = (campaign_id, day.replace(day=1), domain, url, macros, misrepresented)
        months[key] = months.get(key, 0) + hits
    return {
        "site": {tuple(r) for r in site},
        "url_day": {tuple(r) for r in url_day},
        "url_month": {(*k, v) for k, v in months.items()},
    }  # fmt: skip


def without_hash(
    contents: dict[str, set[tuple[object, ...]]],
) -> dict[str, set[tuple[object, ...]]]:
    return {name: {(*r[:2], *r[3:]) for r in rows} for name, rows in contents.items()}


def test_flush_keeps_coarse_rollups_equal_to_the_full_grain(
    db: Database, key_for: Callable[[str], str]
) -> None:
    key_for("acme")
    rng = random.Random(7)
    campaigns = [new_campaign(db), new_campaign(db)]
    for _ in range(4):  # several flushes: increments add up on existing rows
        with db.transaction() as session:
            for campaign_id in campaigns:
                increment(session, random_hits(campaign_id, rng, 150))
    assert without_hash(coarse_contents(db)) == full_grain_groups(db)


def test_migration_backfill_matches_what_the_flush_writes(
    db: Database, key_for: Callable[[str], str]
) -> None:
    key_for("acme")
    campaign_id = new_campaign(db)
    with db.transaction() as session:
        increment(session, random_hits(campaign_id, random.Random(11), 300))
    written = coarse_contents(db)
    with db.engine.begin() as conn:
        for table in (PixelSiteDay, PixelUrlDay, PixelUrlMonth):
            conn.execute(delete(table))
        migration.backfill(conn)
    assert coarse_contents(db) == written  # same rows, same hashes
    # ... so the flush's next increments land on the back-filled rows.
    with db.transaction() as session:
        increment(session, random_hits(campaign_id, random.Random(12), 100))
    assert without_hash(coarse_contents(db)) == full_grain_groups(db)
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM pixel_site_days")) == len(
            full_grain_groups(db)["site"]
        )


def test_upgrade_backfills_rollups_stored_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(Path(migration.__file__).parents[1]))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0005_pixel_reports")  # a database from before the report grain
    old = Database(url)
    try:
        with old.transaction() as session:
            session.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', '2026-01-01')")
            )
            # Core inserts name only the columns that exist at 0005 (the ORM has later ones).
            campaign_id = session.execute(
                insert(PixelCampaign.__table__)
                .values(account_id=1, name="c", use_case="campaign_reporting")
                .returning(PixelCampaign.__table__.c.id)
            ).scalar_one()
            for key, hits in random_hits(campaign_id, random.Random(5), 200).items():
                session.execute(
                    insert(PixelRollup.__table__).values(
                        campaign_id=key.campaign_id, date=key.date, dims_hash=key.dims_hash,
                        domain=key.domain, url=key.url, device=key.device, geo=key.geo,
                        traffic_type=key.traffic_type, agent=key.agent, macros=key.macros,
                        misrepresented=key.misrepresented, hits=hits,
                    )
                )  # fmt: skip
        upgrade_database(url)
        assert without_hash(coarse_contents(old)) == full_grain_groups(old)
        assert coarse_contents(old)["site"]
        with old.transaction() as session:
            increment(session, random_hits(campaign_id, random.Random(5), 50))
        assert without_hash(coarse_contents(old)) == full_grain_groups(old)
    finally:
        old.dispose()
