"""The report planner: every report shape it sends to a report-grain rollup returns exactly what
aggregating the full grain returns (rows, their order, and the summary)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from beacon.core.db import Database
from beacon.pixel.models import PixelCampaign
from beacon.pixel.reports import build, planner, repository
from beacon.pixel.reports.models import CAMPAIGN, PixelReport
from beacon.pixel.reports.planner import FULL_GRAIN, Grain, Periods, split_periods
from beacon.pixel.rollups import RollupKey, canonical_macros, increment

DOMAINS = ("nytimes.com", "bbc.co.uk", "cheap.biz", "")
MACROS = ("", canonical_macros({"google-site": "nytimes.com"}), canonical_macros({"p": "x"}))
TRAFFIC = (("human", ""), ("human", ""), ("human", ""), ("bot", "Googlebot"), ("ai_agent", "GPTBot"))  # fmt: skip
RANGES = (
    (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),  # whole months only
    (dt.date(2026, 1, 10), dt.date(2026, 3, 5)),  # partial months at both edges
    (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
    (dt.date(2026, 2, 3), dt.date(2026, 2, 3)),
    (dt.date(2026, 1, 20), dt.date(2026, 2, 10)),  # no whole month
    (dt.date(2025, 12, 15), dt.date(2026, 1, 31)),
    (dt.date(2026, 1, 2), dt.date(2026, 3, 30)),  # edge months read whole, edge days subtracted
    (dt.date(2026, 2, 2), dt.date(2026, 2, 27)),  # one month minus a day at each end
)
DIMENSION_SETS = [
    list(c) for n in range(4) for c in itertools.combinations(("date", "domain", "url"), n)
]
FILTERS: tuple[dict[str, list[str]], ...] = ({}, {"domains": ["nytimes.com", "cheap.biz"]})


# --- Periods ---------------------------------------------------------------------------------


def day_range(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def covered_days(periods: Periods) -> Counter[dt.date]:
    """How many times each day is counted: months and days added, excluded days subtracted."""
    days: Counter[dt.date] = Counter()
    for month in periods.months:
        days.update(
            d for d in day_range(month, month + dt.timedelta(days=40)) if d.month == month.month
        )
    for first, last in periods.days:
        days.update(day_range(first, last))
    for first, last in periods.excluded:
        days.subtract(day_range(first, last))
    return +days


def test_periods_count_each_day_of_the_range_once() -> None:
    rng = random.Random(3)
    for _ in range(1000):
        start = dt.date(2025, 11, 1) + dt.timedelta(days=rng.randrange(120))
        end = start + dt.timedelta(days=rng.randrange(200))
        periods = split_periods(start, end)
        assert covered_days(periods) == Counter(day_range(start, end))
        assert all(month.day == 1 for month in periods.months)
        read_by_day = sum((b - a).days + 1 for a, b in (*periods.days, *periods.excluded))
        assert read_by_day <= 31  # at most about half of each of the two edge months


def test_periods_examples() -> None:
    jan, feb, mar = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)
    assert split_periods(jan, dt.date(2026, 3, 31)) == Periods((jan, feb, mar), ())
    assert split_periods(dt.date(2026, 1, 10), dt.date(2026, 3, 5)) == Periods(
        (jan, feb), ((mar, dt.date(2026, 3, 5)),), ((jan, dt.date(2026, 1, 9)),)
    )
    assert split_periods(dt.date(2026, 2, 3), dt.date(2026, 2, 3)) == Periods(
        (), ((dt.date(2026, 2, 3), dt.date(2026, 2, 3)),)
    )
    assert split_periods(dt.date(2026, 2, 2), dt.date(2026, 2, 27)) == Periods(
        (feb,), (), ((feb, feb), (dt.date(2026, 2, 28), dt.date(2026, 2, 28)))
    )


def test_plans() -> None:
    site, urls = Grain.SITE_DAYS, Grain.URL_PERIODS
    assert planner.plan_campaign(["date", "domain"], []).rows is site
    assert planner.plan_campaign([], ["domains"]).totals is site
    assert planner.plan_campaign(["url"], []).rows is urls
    assert planner.plan_campaign(["domain", "url"], []).unique_urls is urls
    assert planner.plan_campaign(["date", "url"], []).rows is Grain.URL_DAYS
    assert planner.plan_campaign(["date", "device"], []) == FULL_GRAIN
    assert planner.plan_campaign(["url"], ["geo"]) == FULL_GRAIN


# --- Equivalence -----------------------------------------------------------------------------


def add_random_hits(db: Database, campaign_id: int, seed: int) -> None:
    rng = random.Random(seed)
    for _flush in range(3):
        counts: dict[RollupKey, int] = {}
        for _ in range(120):
            domain = rng.choice(DOMAINS)
            macros = rng.choice(MACROS)
            traffic, agent = rng.choice(TRAFFIC)
            key = RollupKey(
                campaign_id,
                dt.date(2025, 12, 20) + dt.timedelta(days=rng.randrange(110)),
                domain,
                f"https://{domain}/{rng.randrange(5)}" if domain and rng.random() < 0.9 else "",
                rng.choice(("desktop", "mobile", "")),
                rng.choice(("US", "GB", "")),
                traffic,
                agent,
                macros,
                misrepresented=macros == MACROS[1] and domain != "nytimes.com",
            )
            counts[key] = counts.get(key, 0) + rng.randrange(1, 6)
        with db.transaction() as session:
            increment(session, counts)


def new_campaign(db: Database) -> int:
    with db.transaction() as session:
        campaign = PixelCampaign(account_id=1, name="c", use_case="campaign_reporting")
        session.add(campaign)
        session.flush()
        return campaign.id


def run(
    db: Database,
    campaign_id: int,
    *,
    dimensions: list[str],
    filters: dict[str, list[str]],
    start: dt.date,
    end: dt.date,
    classification: bool = False,
) -> tuple[Any, list[Any]]:
    """(summary, rows) of a campaign report computed by the real report job."""
    with db.transaction() as session:
        report = PixelReport(
            kind=CAMPAIGN,
            account_id=1,
            campaign_id=campaign_id,
            start_date=start,
            end_date=end,
            dimensions=orjson.dumps(dimensions).decode(),
            filters=orjson.dumps(filters).decode(),
            include_classification=classification,
            request_key=f"{random.random()}",
            status="processing",
            attempts=1,
        )
        session.add(report)
        session.flush()
        build.run_report(session, report, max_rows=100_000, max_urls=100_000)
        rows = repository.page_rows(session, report_id=report.id, offset=0, limit=100_000)
        return orjson.loads(report.summary or "null"), [orjson.loads(r) for r in rows]


@pytest.fixture
def campaign_with_hits(db: Database, key_for: Callable[[str], str]) -> int:
    key_for("acme")
    campaign_id = new_campaign(db)
    add_random_hits(db, campaign_id, seed=campaign_id)
    add_random_hits(db, new_campaign(db), seed=99)  # another campaign's rollups stay out
    return campaign_id


def test_every_coarse_plan_matches_the_full_grain(
    db: Database, campaign_with_hits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_campaign = planner.plan_campaign
    shapes = list(itertools.product(RANGES, DIMENSION_SETS, FILTERS))
    for (start, end), dimensions, filters in shapes:
        assert plan_campaign(dimensions, filters).totals is not Grain.FULL
        kwargs: dict[str, Any] = {
            "dimensions": dimensions, "filters": filters, "start": start, "end": end,
            "classification": dimensions == ["url"],
        }  # fmt: skip
        monkeypatch.setattr(planner, "plan_campaign", plan_campaign)
        coarse = run(db, campaign_with_hits, **kwargs)
        monkeypatch.setattr(planner, "plan_campaign", lambda *_: FULL_GRAIN)
        full = run(db, campaign_with_hits, **kwargs)
        assert coarse == full, (start, end, dimensions, filters)
        if dimensions and (end - start).days > 7:
            assert full[1], "the random hits should give every shape some rows"
    misrepresented = run(db, campaign_with_hits, dimensions=["domain"], filters={},
                         start=RANGES[0][0], end=RANGES[0][1])  # fmt: skip
    assert misrepresented[0]["misrepresented_impressions"] > 0
    assert any(row.get("misrepresented") for row in misrepresented[1])
