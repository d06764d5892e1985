"""Campaign reports (seed 000): every example, and exact counts for each dimension and filter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beacon.contextual.classification_repository import save_classification
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker
from beacon.pixel.agents import IVT_REASONS
from beacon.pixel.rollups import RollupKey, canonical_macros, increment
from beacon.pixel.tasks import report_job

D1, D2, LATER = dt.date(2026, 1, 15), dt.date(2026, 1, 16), dt.date(2026, 2, 20)
NYT_MACRO = canonical_macros({"google-site": "nytimes.com"})
SEED_FIELDS = [
    "id",
    "status",
    "campaign_id",
    "start_date",
    "end_date",
    "dimensions",
    "include_classification",
    "created_date",
    "processed_date",
    "summary",
    "data",
]
TECH = {
    "iab_categories": [{"id": "IAB19-6", "name": "Technology & Computing", "confidence": 0.93}],
    "keywords": ["AI chips", "semiconductor", "GPU"],
    "entities": [{"name": "NVIDIA", "type": "brand", "confidence": 0.91}],
    "sentiment": {"label": "positive", "score": 0.72},
}
SPORTS = {
    "iab_categories": [{"id": "IAB17-44", "name": "Sports", "confidence": 0.96}],
    "keywords": ["football", "Premier League"],
    "entities": [{"name": "Premier League", "type": "thing", "confidence": 0.94}],
    "sentiment": {"label": "neutral", "score": 0.51},
}


def new_campaign(client: TestClient, headers: dict[str, str], use_case: str) -> int:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": "c", "use_case": use_case}, headers=headers
    )
    assert response.status_code == 201
    return int(response.json()["id"])


def add_hits(db: Database, counts: dict[RollupKey, int]) -> None:
    with db.transaction() as session:
        increment(session, counts)


def run_worker(db: Database, settings: Settings) -> None:
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()


def report(
    client: TestClient, db: Database, settings: Settings, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    created = client.post("/v1/pixel/reports/campaign", json=body, headers=headers)
    assert created.status_code == 201, created.text
    run_worker(db, settings)
    response = client.get(f"/v1/pixel/reports/campaign/{created.json()['id']}", headers=headers)
    assert response.status_code == 200
    done: dict[str, Any] = response.json()
    assert done["status"] == "complete", done
    return done


@pytest.fixture
def campaign(client: TestClient, headers: dict[str, str], db: Database) -> int:
    """A campaign_reporting campaign with known hits on two days (and one later day)."""
    cid = new_campaign(client, headers, "campaign_reporting")

    def key(day: dt.date, domain: str, path: str, device: str, geo: str, **kw: Any) -> RollupKey:
        url = f"https://{domain}{path}" if domain else ""
        return RollupKey(cid, day, domain, url, device, geo, **kw)

    add_hits(
        db,
        {
            key(D1, "nytimes.com", "/a", "desktop", "US", macros=NYT_MACRO): 5,
            key(D1, "nytimes.com", "/b", "mobile", "GB"): 3,
            key(D1, "bbc.com", "/x", "desktop", "GB"): 4,
            key(D1, "nytimes.com", "/a", "desktop", "US", traffic_type="bot", agent="Googlebot"): 2,
            key(
                D1, "nytimes.com", "/a", "desktop", "US", traffic_type="ai_agent", agent="GPTBot"
            ): 1,
            key(D2, "cheap.biz", "/z", "mobile", "US", macros=NYT_MACRO, misrepresented=True): 6,
            key(D2, "bbc.com", "/x", "tablet", "DE"): 2,
            key(D2, "", "", "ctv", ""): 1,
            key(LATER, "nytimes.com", "/a", "desktop", "US"): 100,
        },
    )
    other = new_campaign(client, headers, "campaign_reporting")
    add_hits(
        db, {RollupKey(other, D1, "nytimes.com", "https://nytimes.com/a", "desktop", "US"): 50}
    )
    return cid


def reasons(**counts: int) -> dict[str, int]:
    """`summary.invalid_traffic.by_reason`: every IVT reason, zero unless given."""
    return {reason: counts.get(reason, 0) for reason in IVT_REASONS}


def body(campaign: int, **extra: Any) -> dict[str, Any]:
    return {"campaign_id": campaign, "start_date": "2026-01-15", "end_date": "2026-01-16", **extra}


MACROS = {"macros": {"google-site": "nytimes.com"}}
MISREP = {"misrepresented": True, "misrepresented_impressions": 6}
# No hit of these campaigns came from the script tag, so nothing was measurable.
UNMEASURED = {"measurable_impressions": 0, "viewable_impressions": 0, "viewability_rate": None}


# --- Seed examples ---------------------------------------------------------------------------


def test_create_returns_pending_report_with_exactly_the_seed_fields(
    client: TestClient, headers: dict[str, str], campaign: int
) -> None:
    response = client.post(
        "/v1/pixel/reports/campaign",
        headers={**headers, "Content-Type": "application/json"},
        json={
            "campaign_id": campaign,
            "start_date": "2026-01-15",
            "end_date": "2026-02-14",
            "dimensions": ["date", "domain"],
            "include_classification": True,
        },
    )
    assert response.status_code == 201
    report = response.json()
    assert list(report) == SEED_FIELDS
    assert isinstance(report["id"], int)
    assert report["created_date"].endswith("Z") and len(report["created_date"]) == 20
    assert {k: v for k, v in report.items() if k not in ("id", "created_date")} == {
        "status": "pending",
        "campaign_id": campaign,
        "start_date": "2026-01-15",
        "end_date": "2026-02-14",
        "dimensions": ["date", "domain"],
        "include_classification": True,
        "processed_date": None,
        "summary": None,
        "data": None,
    }


def test_completed_report_has_summary_data_and_classification_like_the_seed(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    with db.transaction() as session:
        for url, domain, classification in [
            ("https://nytimes.com/a", "nytimes.com", TECH),
            ("https://bbc.com/x", "bbc.com", SPORTS),
        ]:
            save_classification(
                session,
                url=url,
                domain=domain,
                classification=classification,
                engine_version="test",
                classified_at=utcnow(),
            )
    done = report(
        client,
        db,
        settings,
        headers,
        **body(campaign, dimensions=["date", "domain"], include_classification=True),
    )
    assert list(done) == [*SEED_FIELDS, "pagination"]
    assert done["processed_date"].endswith("Z")
    assert done["summary"] == {
        "impressions": 21,
        "unique_urls": 4,
        "unique_domains": 3,
        "invalid_traffic": {
            "bot": 2,
            "ai_agent": 1,
            "by_reason": reasons(known_crawler=2, ai_agent=1),
        },
        "misrepresented_impressions": 6,
        **UNMEASURED,
    }
    assert done["pagination"] == {"limit": 1000, "offset": 0, "total": 6}
    assert rows(done) == [
        {"date": "2026-01-15", "domain": "nytimes.com", "impressions": 5, **MACROS, "classification": TECH},
        {"date": "2026-01-15", "domain": "bbc.com", "impressions": 4, "classification": SPORTS},
        {"date": "2026-01-15", "domain": "nytimes.com", "impressions": 3, "classification": TECH},
        {"date": "2026-01-16", "domain": "cheap.biz", "impressions": 6, **MACROS, **MISREP, "classification": None},
        {"date": "2026-01-16", "domain": "bbc.com", "impressions": 2, "classification": SPORTS},
        {"date": "2026-01-16", "domain": None, "impressions": 1, "classification": None},
    ]  # fmt: skip


def test_without_include_classification_the_field_is_omitted(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    done = report(client, db, settings, headers, **body(campaign, dimensions=["url"]))
    assert done["include_classification"] is False
    assert all("classification" not in row for row in done["data"])


def test_macro_data_row_has_the_seed_shape(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    done = report(
        client,
        db,
        settings,
        headers,
        **body(campaign, end_date="2026-01-15", dimensions=["date", "domain"]),
    )
    assert rows(done)[0] == {
        "date": "2026-01-15",
        "domain": "nytimes.com",
        "impressions": 5,
        "macros": {"google-site": "nytimes.com"},
    }
    assert "macros" not in done["data"][1]


def test_url_classification_null_when_the_store_has_none_and_domain_uses_domain_aggregate(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    with db.transaction() as session:
        save_classification(
            session,
            url="https://nytimes.com/b",
            domain="nytimes.com",
            classification=TECH,
            engine_version="test",
            classified_at=utcnow(),
        )
    by_url = report(
        client,
        db,
        settings,
        headers,
        **body(campaign, dimensions=["url"], include_classification=True),
    )
    classes = {row["url"]: row["classification"] for row in by_url["data"]}
    assert classes["https://nytimes.com/b"] == TECH
    assert classes["https://nytimes.com/a"] is None
    by_device = report(
        client,
        db,
        settings,
        headers,
        **body(campaign, dimensions=["device"], include_classification=True),
    )
    assert all("classification" not in row for row in by_device["data"])


# --- Exact counts per dimension and filter ---------------------------------------------------


def rows(done: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's rows without their viewability measures, checked to be all unmeasured."""
    found = []
    for row in done["data"]:
        assert {key: row.pop(key) for key in UNMEASURED} == UNMEASURED
        found.append(row)
    return found


@pytest.mark.parametrize(
    ("dimensions", "expected"),
    [
        (
            ["date"],
            [
                {"date": "2026-01-15", "impressions": 7},
                {"date": "2026-01-15", "impressions": 5, **MACROS},
                {"date": "2026-01-16", "impressions": 6, **MACROS, **MISREP},
                {"date": "2026-01-16", "impressions": 3},
            ],
        ),
        (
            ["domain"],
            [
                {"domain": "bbc.com", "impressions": 6},
                {"domain": "cheap.biz", "impressions": 6, **MACROS, **MISREP},
                {"domain": "nytimes.com", "impressions": 5, **MACROS},
                {"domain": "nytimes.com", "impressions": 3},
                {"domain": None, "impressions": 1},
            ],
        ),
        (
            ["url"],
            [
                {"url": "https://bbc.com/x", "impressions": 6},
                {"url": "https://cheap.biz/z", "impressions": 6, **MACROS, **MISREP},
                {"url": "https://nytimes.com/a", "impressions": 5, **MACROS},
                {"url": "https://nytimes.com/b", "impressions": 3},
                {"url": None, "impressions": 1},
            ],
        ),
        (
            ["device"],
            [
                {"device": "mobile", "impressions": 6, **MACROS, **MISREP},
                {"device": "desktop", "impressions": 5, **MACROS},
                {"device": "desktop", "impressions": 4},
                {"device": "mobile", "impressions": 3},
                {"device": "tablet", "impressions": 2},
                {"device": "ctv", "impressions": 1},
            ],
        ),
        (
            ["geo"],
            [
                {"geo": "US", "impressions": 11, **MACROS, **MISREP},
                {"geo": "GB", "impressions": 7},
                {"geo": "DE", "impressions": 2},
                {"geo": None, "impressions": 1},
            ],
        ),
        (
            ["geo", "date", "device"],  # any request order; rows keep the documented order
            [
                {"date": "2026-01-15", "device": "desktop", "geo": "US", "impressions": 5, **MACROS},
                {"date": "2026-01-15", "device": "desktop", "geo": "GB", "impressions": 4},
                {"date": "2026-01-15", "device": "mobile", "geo": "GB", "impressions": 3},
                {"date": "2026-01-16", "device": "mobile", "geo": "US", "impressions": 6, **MACROS, **MISREP},
                {"date": "2026-01-16", "device": "tablet", "geo": "DE", "impressions": 2},
                {"date": "2026-01-16", "device": "ctv", "geo": None, "impressions": 1},
            ],
        ),
    ],
)  # fmt: skip
def test_each_dimension_counts_human_impressions_exactly(
    client: TestClient,
    headers: dict[str, str],
    campaign: int,
    db: Database,
    settings: Settings,
    dimensions: list[str],
    expected: list[dict[str, Any]],
) -> None:
    done = report(client, db, settings, headers, **body(campaign, dimensions=dimensions))
    assert rows(done) == expected
    assert done["dimensions"] == dimensions
    assert done["summary"]["impressions"] == 21


def test_no_dimensions_is_summary_only(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    done = report(client, db, settings, headers, **body(campaign))
    assert done["dimensions"] is None
    assert done["data"] == []
    assert done["pagination"] == {"limit": 1000, "offset": 0, "total": 0}
    assert done["summary"]["impressions"] == 21
    wider = report(client, db, settings, headers, **body(campaign, end_date="2026-02-28"))
    assert wider["summary"]["impressions"] == 121
    assert wider["summary"]["unique_urls"] == 4


@pytest.mark.parametrize(
    ("filters", "summary", "data"),
    [
        (
            {"domains": ["www.nytimes.com"]},  # normalised to the registrable domain
            {"impressions": 8, "unique_urls": 2, "unique_domains": 1,
             "invalid_traffic": {"bot": 2, "ai_agent": 1, "by_reason": reasons(known_crawler=2, ai_agent=1)}, "misrepresented_impressions": 0},
            [{"domain": "nytimes.com", "impressions": 5, **MACROS},
             {"domain": "nytimes.com", "impressions": 3}],
        ),
        (
            {"devices": ["mobile"]},
            {"impressions": 9, "unique_urls": 2, "unique_domains": 2,
             "invalid_traffic": {"bot": 0, "ai_agent": 0, "by_reason": reasons()}, "misrepresented_impressions": 6},
            [{"domain": "cheap.biz", "impressions": 6, **MACROS, **MISREP},
             {"domain": "nytimes.com", "impressions": 3}],
        ),
        (
            {"geo": ["gb", "DE"]},
            {"impressions": 9, "unique_urls": 2, "unique_domains": 2,
             "invalid_traffic": {"bot": 0, "ai_agent": 0, "by_reason": reasons()}, "misrepresented_impressions": 0},
            [{"domain": "bbc.com", "impressions": 6}, {"domain": "nytimes.com", "impressions": 3}],
        ),
        (
            {"domains": ["bbc.com", "cheap.biz"], "devices": ["tablet", "mobile"], "geo": ["DE"]},
            {"impressions": 2, "unique_urls": 1, "unique_domains": 1,
             "invalid_traffic": {"bot": 0, "ai_agent": 0, "by_reason": reasons()}, "misrepresented_impressions": 0},
            [{"domain": "bbc.com", "impressions": 2}],
        ),
    ],
)  # fmt: skip
def test_filters_narrow_summary_and_rows_exactly(
    client: TestClient,
    headers: dict[str, str],
    campaign: int,
    db: Database,
    settings: Settings,
    filters: dict[str, list[str]],
    summary: dict[str, Any],
    data: list[dict[str, Any]],
) -> None:
    done = report(
        client, db, settings, headers, **body(campaign, dimensions=["domain"], filters=filters)
    )
    assert done["summary"] == {**summary, **UNMEASURED}
    assert rows(done) == data


# --- Ordering and paging ---------------------------------------------------------------------


def test_pages_are_stable_and_ordered(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings
) -> None:
    cid = new_campaign(client, headers, "campaign_optimization")
    counts = {}
    for n in range(25):
        for day in (D1, D2):
            url = f"https://site{n:02d}.com/p"
            counts[RollupKey(cid, day, f"site{n:02d}.com", url, "desktop", "US")] = 1 + n % 4
    add_hits(db, counts)
    done = report(client, db, settings, headers, **body(cid, dimensions=["date", "url"]))
    everything = done["data"]
    assert done["pagination"]["total"] == 50
    expected = sorted(everything, key=lambda r: (r["date"], -r["impressions"], r["url"]))
    assert everything == expected
    pages: list[dict[str, Any]] = []
    for offset in range(0, 60, 7):
        page = client.get(
            f"/v1/pixel/reports/campaign/{done['id']}",
            params={"limit": 7, "offset": offset},
            headers=headers,
        ).json()
        assert page["pagination"] == {"limit": 7, "offset": offset, "total": 50}
        pages.extend(page["data"])
    assert pages == everything
    again = client.get(f"/v1/pixel/reports/campaign/{done['id']}", headers=headers).json()
    assert again["data"] == everything
