"""The stats summaries folded off the ingest path: every answer read from folded months plus
the days they do not hold equals the answer from the daily tables and a direct count of the
raw hits, whatever is folded (nothing, part, all), after late hits to a folded day and a new
day not folded yet; the folding job is idempotent and safe when two run at once."""

from __future__ import annotations

import datetime as dt
import importlib
import random
import threading
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text
from tests.pixel.test_stats import add_hits, new_campaign

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import COMPLETE
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker
from beacon.pixel.models import PixelCampaign
from beacon.pixel.rollups import RollupKey, canonical_macros, increment
from beacon.pixel.stats import fold_repository, folds, summaries
from beacon.pixel.stats.models import (
    PixelStatsAgent,
    PixelStatsDomainAgent,
    PixelStatsFold,
    PixelStatsFolded,
    PixelStatsSite,
    PixelStatsUrl,
)
from beacon.pixel.stats.tasks import fold_job_kind, fold_task

domain_migration = importlib.import_module(
    "beacon.migrations.versions.0015_pixel_stats_domain_agents_stats"
)

FIRST = dt.date(2026, 1, 25)  # hits from here for 40 days: across January, February, March
NYT = canonical_macros({"google-site": "nytimes.com"})
SUMMARIES = (
    PixelStatsAgent,
    PixelStatsDomainAgent,
    PixelStatsSite,
    PixelStatsUrl,
    PixelStatsFolded,
)
EVERYTHING = dt.date(2027, 1, 1)  # fold every day of the hits


def random_hits(
    campaign_id: int, rng: random.Random, n: int, first: dt.date = FIRST, days: int = 40
) -> dict[RollupKey, int]:
    """``n`` draws of rollup keys over ``days`` days, every dimension varied, with counts."""
    counts: Counter[RollupKey] = Counter()
    for _ in range(n):
        domain = rng.choice(["nytimes.com", "bbc.com", "cheap.biz", "", "a.org"])
        kind, agent = rng.choice(
            [("human", ""), ("human", ""), ("human", ""), ("bot", "Googlebot"),
             ("ai_agent", "ClaudeBot"), ("bot", ""), ("givt_other", "x")]
        )  # fmt: skip
        spoof = domain == "cheap.biz" and rng.random() < 0.5
        key = RollupKey(
            campaign_id, first + dt.timedelta(days=rng.randrange(days)), domain,
            f"https://{domain}/{rng.randrange(25)}" if domain else "",
            rng.choice(["desktop", "mobile", "tablet", ""]), rng.choice(["US", "GB", "DE", ""]),
            kind, agent, NYT if spoof else (NYT if rng.random() < 0.2 else ""), spoof,
        )  # fmt: skip
        counts[key] += rng.randrange(1, 5)
    return dict(counts)


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
    ("2026-01-27", "2026-03-02"),  # cut at both ends
    ("2026-02-10", "2026-02-12"),  # inside a month: days only
    ("2026-02-02", "2026-02-28"),  # most of a month: the month minus a day
    ("2026-01-01", "2026-03-31"),  # three whole months, hits in part of them
    ("2026-03-01", "2026-03-05"),  # the first days of a month
]
FILTERS = [
    {},
    {"device": "mobile"},
    {"country": "US,GB"},
    {"device": ["desktop", "tablet"]},
    {"device": ["desktop", "tablet"], "country": "DE"},
    {"domain": "nytimes.com,cheap.biz"},
    {"domain": "bbc.com", "device": "mobile", "country": "US"},
]


def campaign_with_hits(
    client: TestClient, headers: dict[str, str], db: Database, *, seed: int, n: int
) -> tuple[int, dict[RollupKey, int]]:
    """A new campaign holding ``n`` random draws of hits (seeded), and their counts."""
    cid = new_campaign(client, headers, "campaign_reporting")
    counts = random_hits(cid, random.Random(seed), n)
    with db.transaction() as session:
        increment(session, counts)
    return cid, counts


def fold(db: Database, cid: int, before: dt.date = EVERYTHING) -> int:
    return folds.fold_campaign(transaction=db.transaction, campaign_id=cid, before=before)


def answers(
    client: TestClient, headers: dict[str, str], cid: int, top: int
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every range × filter's whole response body."""
    found = {}
    for start, end in RANGES:
        for filters in FILTERS:
            query = {"start_date": start, "end_date": end, "top": str(top), **filters}
            response = client.get(f"/v1/pixel/campaigns/{cid}/stats", params=query, headers=headers)
            assert response.status_code == 200, response.text
            found[(start, end, repr(filters))] = response.json()
    return found


def check_direct(
    counts: dict[RollupKey, int], bodies: dict[tuple[str, str, str], dict[str, Any]], top: int
) -> None:
    for (start, end, filters), body in bodies.items():
        query = {"start_date": start, "end_date": end, **eval(filters)}
        expected = _direct(counts, query)
        for name in ("domain", "device", "country", "url", "agent"):
            expected[name] = expected[name][:top]
        assert _answered(body) == expected, (start, end, filters)


def contents(db: Database) -> dict[str, set[tuple[Any, ...]]]:
    """Every summary row, without its id."""
    found = {}
    with db.engine.connect() as conn:
        for model in SUMMARIES:
            table = model.__table__  # type: ignore[attr-defined]
            columns = [c for c in table.columns if c.name != "id"]
            found[table.name] = {tuple(row) for row in conn.execute(select(*columns))}
    return found


def force_plans(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Every range read by months, or from the whole rows (when anything is folded)."""

    def forced(session: Any, scope: Any) -> summaries.Plan:
        marks = set(fold_repository.folded(session, campaign_id=scope.campaign_id))
        if kind == "whole" and marks:
            return summaries._from_whole(scope, marks)
        return summaries._by_months(scope, marks)

    monkeypatch.setattr(summaries, "plan", forced)


@pytest.mark.parametrize(
    ("top", "plans"), [(100, "cheapest"), (3, "cheapest"), (3, "months"), (3, "whole")]
)
def test_folded_answers_equal_the_daily_answers(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    top: int,
    plans: str,
) -> None:
    if top == 3:  # URL lists one deep at first: the threshold query has to deepen
        monkeypatch.setattr(summaries, "_URL_DEPTH", 1)
        monkeypatch.setattr(summaries, "_URL_MIN_DEPTH", 1)
    if plans != "cheapest":
        force_plans(monkeypatch, plans)
    cid, counts = campaign_with_hits(client, headers, db, seed=21 + top, n=700)
    daily = answers(client, headers, cid, top)  # nothing folded: the daily tables
    check_direct(counts, daily, top)
    assert fold(db, cid, before=dt.date(2026, 2, 14)) == 20  # Jan 25 .. Feb 13
    assert answers(client, headers, cid, top) == daily  # part folded, open days after
    assert fold(db, cid) == 20
    assert answers(client, headers, cid, top) == daily  # all folded


def test_late_hits_and_a_day_not_folded_yet(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    cid, hits = campaign_with_hits(client, headers, db, seed=5, n=500)
    counts = Counter(hits)
    assert fold(db, cid) == 40
    folded = contents(db)
    # Late hits to a folded day (Feb 10) and hits on a new day (Mar 6) the job has not reached.
    late = random_hits(cid, random.Random(6), 60, first=dt.date(2026, 2, 10), days=1)
    late |= random_hits(cid, random.Random(7), 60, first=dt.date(2026, 3, 6), days=1)
    with db.transaction() as session:
        increment(session, late)
    old = dict(counts)
    counts.update(late)
    bodies = answers(client, headers, cid, 100)
    feb10 = bodies[("2026-02-01", "2026-02-28", "{}")]["series"][9]
    # A folded day shows what it held when folded until the job folds it again ...
    assert feb10["loads"] == sum(
        n
        for k, n in old.items()
        if k.date == dt.date(2026, 2, 10) and k.traffic_type in ("human", "bot", "ai_agent")
    )
    # ... while a day not folded is read live from the daily tables.
    march = bodies[("2026-03-01", "2026-03-05", "{}")]
    assert march["totals"]["loads"] == sum(
        n
        for k, n in counts.items()
        if dt.date(2026, 3, 1) <= k.date <= dt.date(2026, 3, 5)
        and k.traffic_type in ("human", "bot", "ai_agent")
    )
    # The job refolds February (its Feb 10 changed) and folds Mar 6: every answer exact again.
    assert fold(db, cid, before=dt.date(2026, 3, 6)) == 28  # February again (Mar 6 is open)
    check_direct(dict(counts), answers(client, headers, cid, 100), 100)
    assert fold(db, cid) == 1
    check_direct(dict(counts), answers(client, headers, cid, 100), 100)
    assert contents(db) != folded
    # Folding again changes nothing.
    again = contents(db)
    assert fold(db, cid) == 0
    assert contents(db) == again


def test_the_job_folds_through_the_runner_idempotently(
    client: TestClient, headers: dict[str, str], db: Database, database_url: str
) -> None:
    cid, counts = campaign_with_hits(client, headers, db, seed=8, n=300)
    settings = Settings(database_url=database_url, worker_in_process=False)
    kind, task = fold_job_kind(settings), fold_task(settings)
    worker = Worker(db=db, kinds=[kind], periodic=[], concurrency=1)
    task.run(db)
    worker.run_until_idle()
    with db.transaction() as session:
        job = session.scalars(select(PixelStatsFold).where(PixelStatsFold.campaign_id == cid)).one()
        assert job.status == COMPLETE
        assert session.scalar(
            select(func.count())
            .select_from(PixelStatsFolded)
            .where(PixelStatsFolded.campaign_id == cid)
        ) == len({k.date for k in counts if k.traffic_type in ("human", "bot", "ai_agent")})
    folded = contents(db)
    task.run(db)  # pending again; nothing to fold
    worker.run_until_idle()
    assert contents(db) == folded


def test_an_archived_campaigns_late_hits_are_folded_again(
    client: TestClient, headers: dict[str, str], db: Database, database_url: str
) -> None:
    # An archived campaign's pixel keeps counting (docs/console.md), so a late hit to one of
    # its folded days must reach its stats as it does an active campaign's: the queue skipped
    # archived campaigns, and their stats missed such hits for good.
    cid, hits = campaign_with_hits(client, headers, db, seed=12, n=300)
    settings = Settings(database_url=database_url, worker_in_process=False)
    kind, task = fold_job_kind(settings), fold_task(settings)
    worker = Worker(db=db, kinds=[kind], periodic=[], concurrency=1)
    task.run(db)
    worker.run_until_idle()
    with db.transaction() as session:
        archived = session.get(PixelCampaign, cid)
        assert archived is not None
        archived.archived_at = utcnow()
    late = random_hits(cid, random.Random(13), 60, first=dt.date(2026, 2, 10), days=1)
    add_hits(db, late)
    counts = Counter(hits)
    counts.update(late)
    # within the hour of its last fold an archived campaign is not queued again ...
    task.run(db)
    with db.transaction() as session:
        job = session.scalars(select(PixelStatsFold).where(PixelStatsFold.campaign_id == cid)).one()
        assert job.status == COMPLETE
        job.processed_date = (
            utcnow() - fold_repository.ARCHIVED_REFOLD_AFTER - dt.timedelta(seconds=1)
        )
    # ... and after it, it is: the late hits reach its stats
    task.run(db)
    worker.run_until_idle()
    check_direct(dict(counts), answers(client, headers, cid, 100), 100)


def test_two_folds_at_once_add_nothing_twice(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    cid, _ = campaign_with_hits(client, headers, db, seed=11, n=400)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fold(db, cid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    both = contents(db)
    with db.transaction() as session:
        for month in (dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)):
            fold_repository.unfold_month(session, campaign_id=cid, month=month)
    fold(db, cid)
    assert contents(db) == both


def test_totals_without_the_domain_breakdown_read_only_misrepresented_sites(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    cid, _ = campaign_with_hits(client, headers, db, seed=13, n=500)
    fold(db, cid, before=dt.date(2026, 2, 20))
    seen = 0
    for start, end in RANGES:
        for filters in FILTERS[:3]:
            query = {"start_date": start, "end_date": end, **filters}
            url = f"/v1/pixel/campaigns/{cid}/stats"
            whole = client.get(url, params=query, headers=headers).json()
            narrow = client.get(url, params={**query, "dimension": "device"}, headers=headers)
            assert narrow.status_code == 200, narrow.text
            assert narrow.json()["totals"] == whole["totals"]
            seen += whole["totals"]["misrepresented_impressions"]
    assert seen > 0


def test_the_migration_backfills_the_domain_rows_of_folded_days(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    cid, counts = campaign_with_hits(client, headers, db, seed=17, n=400)
    fold(db, cid, before=dt.date(2026, 2, 14))  # January and part of February
    written = contents(db)
    assert written["pixel_stats_domain_agents"]
    with db.engine.begin() as conn:
        conn.execute(delete(PixelStatsDomainAgent))
        domain_migration.backfill(conn)
    assert contents(db) == written  # what the fold wrote: days, months and the whole rows
    # ... so the job's next fold adds onto the back-filled rows, and every answer is exact.
    assert fold(db, cid) == 20
    check_direct(counts, answers(client, headers, cid, 100), 100)


def test_a_large_fold_refreshes_the_summaries_statistics(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    # the planner guesses without statistics (autovacuum comes later, or never): after a fold
    # of many loads (here: any), ANALYZE has counted the summaries' rows
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner keeps no statistics unless asked")
    before = _site_rows(db)
    cid, _ = campaign_with_hits(client, headers, db, seed=6, n=40)
    folds.fold_campaign(
        transaction=db.transaction, campaign_id=cid, before=EVERYTHING, analyze_after=1
    )
    estimate, actual = _site_rows(db)
    assert actual > before[1]
    assert estimate == actual  # a small table is sampled whole


def _site_rows(db: Database) -> tuple[float, int]:
    """The planner's estimate of pixel_stats_sites' rows, and their count."""
    with db.engine.connect() as conn:
        estimate = conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'pixel_stats_sites'")
        )
        actual = conn.scalar(text("SELECT count(*) FROM pixel_stats_sites"))
    return float(estimate), int(actual)
