"""The stats summaries: what the flush writes equals the migration's back-fill, an upgrade
fills them from existing rollups, and every answer read from them (months plus partial
months' days, at each device / country level) equals a direct count of the raw hits."""

from __future__ import annotations

import datetime as dt
import importlib
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import delete, insert, select, text
from tests.pixel.test_stats import new_campaign

from beacon.core.db import Database, upgrade_database
from beacon.pixel.models import PixelCampaign, PixelRollup
from beacon.pixel.rollups import RollupKey, canonical_macros, increment
from beacon.pixel.stats import repository, service
from beacon.pixel.stats.models import PixelStatsAgent, PixelStatsSite, PixelStatsUrl
from beacon.pixel.stats.schemas import StatsQuery

MIGRATION = "0012_pixel_stats_summaries_stats"
SUMMARIES = (PixelStatsAgent, PixelStatsSite, PixelStatsUrl)
FIRST = dt.date(2026, 1, 25)  # hits from here for 40 days: across January, February, March
NYT = canonical_macros({"google-site": "nytimes.com"})


def random_hits(campaign_id: int, rng: random.Random, n: int) -> dict[RollupKey, int]:
    """``n`` draws of rollup keys over 40 days, every dimension varied, with counts."""
    counts: Counter[RollupKey] = Counter()
    for _ in range(n):
        domain = rng.choice(["nytimes.com", "bbc.com", "cheap.biz", "", "a.org"])
        kind, agent = rng.choice(
            [("human", ""), ("human", ""), ("human", ""), ("bot", "Googlebot"),
             ("ai_agent", "ClaudeBot"), ("bot", ""), ("givt_other", "x")]
        )  # fmt: skip
        spoof = domain == "cheap.biz" and rng.random() < 0.5
        key = RollupKey(
            campaign_id, FIRST + dt.timedelta(days=rng.randrange(40)), domain,
            f"https://{domain}/{rng.randrange(25)}" if domain else "",
            rng.choice(["desktop", "mobile", "tablet", ""]), rng.choice(["US", "GB", "DE", ""]),
            kind, agent, NYT if spoof else (NYT if rng.random() < 0.2 else ""), spoof,
        )  # fmt: skip
        counts[key] += rng.randrange(1, 5)
    return dict(counts)


def contents(db: Database) -> dict[str, set[tuple[Any, ...]]]:
    """Every summary row, without its id."""
    found = {}
    with db.engine.connect() as conn:
        for model in SUMMARIES:
            table = model.__table__  # type: ignore[attr-defined]
            columns = [c for c in table.columns if c.name != "id"]
            found[table.name] = {tuple(row) for row in conn.execute(select(*columns))}
    return found


def migration_module() -> Any:
    return importlib.import_module(f"beacon.migrations.versions.{MIGRATION}")


def test_backfill_writes_what_the_flush_writes(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    cid = new_campaign(client, headers, "campaign_reporting")
    with db.transaction() as session:
        increment(session, random_hits(cid, random.Random(3), 400))
    written = contents(db)
    assert all(written.values())
    with db.engine.begin() as conn:
        for model in SUMMARIES:
            conn.execute(delete(model))
        migration_module().backfill(conn)
    assert contents(db) == written  # same rows, same hashes
    # ... so later flushes add to the back-filled rows: flush + back-fill = back-fill of all.
    with db.transaction() as session:
        increment(session, random_hits(cid, random.Random(4), 200))
    flushed = contents(db)
    with db.engine.begin() as conn:
        for model in SUMMARIES:
            conn.execute(delete(model))
        migration_module().backfill(conn)
    assert contents(db) == flushed


def _values(query: dict[str, Any], name: str) -> set[str]:
    value = query.get(name, [])
    return {v for part in ([value] if isinstance(value, str) else value) for v in part.split(",")}


def _direct(counts: dict[RollupKey, int], query: dict[str, Any]) -> dict[str, Any]:
    """The stats answer's numbers, counted from the raw hits."""
    start = dt.date.fromisoformat(query["start_date"])
    end = dt.date.fromisoformat(query["end_date"])
    domains, devices, countries = (_values(query, name) for name in ("domain", "device", "country"))
    kept = {
        k: n for k, n in counts.items()
        if start <= k.date <= end and k.traffic_type in ("human", "bot", "ai_agent")
        and (not domains or k.domain in domains) and (not devices or k.device in devices)
        and (not countries or k.geo in countries)
    }  # fmt: skip
    by: dict[str, Counter[Any]] = {name: Counter() for name in ("domain", "device", "geo")}
    per_day: Counter[str] = Counter()
    urls: Counter[str | None] = Counter()
    agents: Counter[tuple[str | None, str]] = Counter()
    kinds: Counter[str] = Counter()
    misrepresented = 0
    for k, n in kept.items():
        kinds[k.traffic_type] += n
        per_day[k.date.isoformat()] += n
        for name in by:
            by[name][getattr(k, name) or None] += n
        if k.traffic_type == "human":
            urls[k.url or None] += n
            misrepresented += n if k.misrepresented else 0
        else:
            agents[(k.agent or None, k.traffic_type)] += n
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]

    def ranked(counter: Counter[Any]) -> list[tuple[Any, int]]:
        return sorted(((v, n) for v, n in counter.items() if n), key=lambda x: (-x[1], x[0] or ""))

    return {
        "totals": (kinds["human"], kinds["bot"], kinds["ai_agent"], misrepresented),
        "series": [(day, per_day[day]) for day in days],
        "domain": ranked(by["domain"]),
        "device": ranked(by["device"]),
        "country": ranked(by["geo"]),
        "url": ranked(urls),
        "agent": sorted(agents.items(), key=lambda x: (-x[1], x[0][0] or "\uffff", x[0][1])),
    }


def _answered(body: dict[str, Any]) -> dict[str, Any]:
    t, b = body["totals"], body["breakdowns"]
    return {
        "totals": (t["human"], t["bot"], t["ai_agent"], t["misrepresented_impressions"]),
        "series": [(p["period"], p["loads"]) for p in body["series"]],
        "domain": [(r["value"], r["loads"]) for r in b["domain"]],
        "device": [(r["value"], r["loads"]) for r in b["device"]],
        "country": [(r["value"], r["loads"]) for r in b["country"]],
        "url": [(r["url"], r["impressions"]) for r in b["url"]],
        "agent": [((a["agent"], a["type"]), a["loads"]) for a in b["agent"]],
    }


RANGES = [
    ("2026-02-01", "2026-02-28"),  # one whole month: month rows only
    ("2026-01-27", "2026-03-02"),  # cut at both ends: days, a month, days
    ("2026-02-10", "2026-02-12"),  # inside a month: days only
    ("2026-01-01", "2026-03-31"),  # three whole months, hits in part of them
    ("2026-03-01", "2026-03-05"),  # the first days of a month
]
FILTERS = [
    {},
    {"device": "mobile"},
    {"country": "US,GB"},
    {"device": ["desktop", "tablet"], "country": "DE"},
    {"domain": "nytimes.com,cheap.biz"},
    {"domain": "bbc.com", "device": "mobile", "country": "US"},
]


@pytest.mark.parametrize("top", [100, 3])
@pytest.mark.parametrize("shallow", [False, True])
def test_answers_equal_a_direct_count(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    top: int,
    shallow: bool,
) -> None:
    if shallow:  # URL lists one deep at first: the threshold query has to deepen
        monkeypatch.setattr(repository, "_URL_DEPTH", 1)
        monkeypatch.setattr(repository, "_URL_MIN_DEPTH", 1)
    cid = new_campaign(client, headers, "campaign_reporting")
    counts = random_hits(cid, random.Random(21 + top), 700)
    with db.transaction() as session:
        increment(session, counts)
    for start, end in RANGES:
        for filters in FILTERS:
            query = {"start_date": start, "end_date": end, "top": str(top), **filters}
            response = client.get(
                f"/v1/pixel/campaigns/{cid}/stats",
                params=query,
                headers=headers,
            )
            assert response.status_code == 200, response.text
            expected = _direct(counts, query)
            for name in ("domain", "device", "country", "url", "agent"):
                expected[name] = expected[name][:top]
            assert _answered(response.json()) == expected, (start, end, filters)


def test_threshold_and_full_url_answers_agree(
    client: TestClient, headers: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = new_campaign(client, headers, "campaign_reporting")
    with db.transaction() as session:
        increment(session, random_hits(cid, random.Random(9), 900))
    sizes = []
    for start, end in RANGES:
        for filters in FILTERS[:4]:
            scope = repository.Scope(
                cid,
                dt.date.fromisoformat(start),
                dt.date.fromisoformat(end),
                devices=tuple(sorted(_values(filters, "device"))),
                countries=tuple(sorted(_values(filters, "country"))),
            )
            with db.transaction() as session:
                threshold = repository.top_urls(session, scope=scope, top=5)
                monkeypatch.setattr(repository, "_URL_MAX_CELLS", 0)  # every URL summed
                full = repository.top_urls(session, scope=scope, top=5)
                monkeypatch.undo()
            assert threshold == full, (start, end, filters)
            sizes.append(len(full))
    assert max(sizes) == 5 and min(sizes) > 0


def test_upgrade_fills_summaries_from_rollups_stored_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(Path(migration_module().__file__).parents[1]))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0011_pixel_viewability")  # an install from before the summaries
    old = Database(url)
    try:
        with old.transaction() as session:
            session.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', '2026-01-01')")
            )
            campaign_id = session.execute(
                insert(PixelCampaign.__table__)
                .values(account_id=1, name="c", use_case="campaign_reporting")
                .returning(PixelCampaign.__table__.c.id)
            ).scalar_one()
            counts = random_hits(campaign_id, random.Random(5), 300)
            for key, hits in counts.items():
                session.execute(
                    insert(PixelRollup.__table__).values(
                        campaign_id=key.campaign_id, date=key.date, dims_hash=key.dims_hash,
                        domain=key.domain, url=key.url, device=key.device, geo=key.geo,
                        traffic_type=key.traffic_type, agent=key.agent, macros=key.macros,
                        misrepresented=key.misrepresented, hits=hits,
                    )
                )  # fmt: skip
            # The daily report-grain rollups the flush wrote alongside (0006 ran on no rows).
            report_grain = "beacon.migrations.versions.0006_pixel_report_rollups"
            importlib.import_module(report_grain).backfill(session.connection())
        upgrade_database(url)
        query = {"start_date": "2026-01-27", "end_date": "2026-03-02", "top": "100"}
        with old.transaction() as session:
            stats = service.campaign_stats(
                session=session,
                account_id=1,
                campaign_id=campaign_id,
                query=StatsQuery.model_validate(query),
            )
        assert _answered(stats.model_dump(mode="json")) == _direct(counts, query)
    finally:
        old.dispose()
