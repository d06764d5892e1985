"""Segment reports (seed 001): the examples, every dimension and filter, scope, rounding, paging."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.activation.helpers import (
    API,
    PAGES,
    SEED_DATA_ROWS,
    built_segment,
    classify_pages,
    issued_deal,
    run_jobs,
    upload_inventory,
)

from beacon.activation.models import SegmentReport
from beacon.activation.reports import service as reports
from beacon.activation.reports.schemas import MAX_ROW_COUNT, MAX_UNPAGED_REPORT_ROWS
from beacon.activation.reports.service import metrics
from beacon.core.config import Settings
from beacon.core.db import Database

Headers = dict[str, str]

SEED_FILTERS = {
    "devices": ["desktop", "mobile"],
    "formats": ["banner", "video"],
    "geo": ["US", "CA"],
}


class World:
    def __init__(self, segment: int, deal: str, other_segment: int, other_deal: str) -> None:
        self.segment, self.deal = segment, deal
        self.other_segment, self.other_deal = other_segment, other_deal


def _row(
    date: str,
    deal: str,
    device: str,
    fmt: str,
    domain: str,
    geo: str,
    imp: int,
    clk: int,
    spend: float,
) -> dict[str, Any]:
    return {
        "date": date,
        "deal_id": deal,
        "device": device,
        "format": fmt,
        "domain": domain,
        "geo": geo,
        "impressions": imp,
        "clicks": clk,
        "spend": spend,
    }


@pytest.fixture
def world(client: TestClient, headers: Headers, db: Database, settings: Settings) -> World:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    other = built_segment(client, headers, db, settings, {"keywords": ["pasta"]}, name="Food")
    deal = issued_deal(client, headers, db, settings, [segment["id"]])["deal_id"]
    other_deal = issued_deal(client, headers, db, settings, [other["id"]])["deal_id"]
    rows = [
        _row("2026-01-15", deal, "desktop", "banner", "nytimes.com", "US", 12400, 37, 24.80),
        _row("2026-01-15", deal, "mobile", "video", "theguardian.com", "CA", 8750, 18, 17.50),
        _row("2026-02-14", deal, "desktop", "banner", "nytimes.com", "US", 4801950, 14414, 9603.90),
        _row("2026-01-20", deal, "tablet", "banner", "nytimes.com", "US", 1000, 10, 5.00),
        _row("2026-01-20", deal, "desktop", "native", "nytimes.com", "US", 1000, 10, 5.00),
        _row("2026-01-20", deal, "desktop", "banner", "nytimes.com", "GB", 1000, 10, 5.00),
        _row("2026-02-15", deal, "desktop", "banner", "nytimes.com", "US", 1000, 10, 5.00),
        _row("2026-01-15", other_deal, "desktop", "banner", "example.com", "US", 500, 5, 1.00),
    ]
    response = client.post(
        f"{API}/deliveries", headers=headers, json={"batch_id": "all", "rows": rows}
    )
    assert response.status_code == 201, response.text
    return World(segment["id"], deal, other["id"], other_deal)


def _report(
    client: TestClient, headers: Headers, db: Database, settings: Settings, **body: Any
) -> dict[str, Any]:
    response = client.post(f"{API}/reports", headers=headers, json=body)
    assert response.status_code == 201, response.text
    run_jobs(db, settings)
    report = client.get(f"{API}/reports/{response.json()['id']}", headers=headers).json()
    assert report["status"] == "complete"
    return dict(report)


def test_seed_report_example(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> None:
    body = {
        "segment_ids": [world.segment],
        "start_date": "2026-01-15",
        "end_date": "2026-02-14",
        "filters": SEED_FILTERS,
        "dimensions": ["date", "device", "domain"],
    }
    response = client.post(f"{API}/reports", headers=headers, json=body)
    assert response.status_code == 201
    pending = response.json()
    assert pending == {
        "id": pending["id"],
        "status": "pending",
        "segment_ids": [world.segment],
        "deal_ids": None,
        "start_date": "2026-01-15",
        "end_date": "2026-02-14",
        "filters": SEED_FILTERS,
        "dimensions": ["date", "device", "domain"],
        "created_date": pending["created_date"],
        "processed_date": None,
        "summary": None,
        "data": None,
    }
    polled = client.get(f"{API}/reports/{pending['id']}", headers=headers).json()
    assert polled == pending
    run_jobs(db, settings)
    report = client.get(f"{API}/reports/{pending['id']}", headers=headers).json()
    assert report["status"] == "complete" and report["processed_date"] is not None
    assert report["deal_ids"] == [world.deal]
    assert report["summary"] == {
        "impressions": 4823100,
        "clicks": 14469,
        "spend": 9646.20,
        "ctr": 0.003,
        "ecpm": 2.00,
    }
    assert report["data"] == [
        {
            "date": "2026-01-15",
            "device": "desktop",
            "domain": "nytimes.com",
            "impressions": 12400,
            "clicks": 37,
            "spend": 24.80,
            "ctr": 0.003,
            "ecpm": 2.00,
        },
        {
            "date": "2026-01-15",
            "device": "mobile",
            "domain": "theguardian.com",
            "impressions": 8750,
            "clicks": 18,
            "spend": 17.50,
            "ctr": 0.0021,
            "ecpm": 2.00,
        },
        {
            "date": "2026-02-14",
            "device": "desktop",
            "domain": "nytimes.com",
            "impressions": 4801950,
            "clicks": 14414,
            "spend": 9603.90,
            "ctr": 0.003,
            "ecpm": 2.00,
        },
    ]
    # The first two rows are the seed's "Data rows" example, value for value.
    assert report["data"][:2] == SEED_DATA_ROWS
    assert report["pagination"] == {"limit": None, "offset": 0, "total": 3}
    page = client.get(f"{API}/reports/{pending['id']}?limit=2&offset=1", headers=headers).json()
    assert page["data"] == report["data"][1:] and page["pagination"] == {
        "limit": 2,
        "offset": 1,
        "total": 3,
    }
    assert page["summary"] == report["summary"]


def _report_of_1200_rows(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> dict[str, Any]:
    # 40 days x 30 domains: 1,200 rows, more than a default page of the other lists.
    days = [f"2026-03-{d:02d}" for d in range(1, 32)] + [f"2026-04-{d:02d}" for d in range(1, 10)]
    rows = [
        _row(day, world.deal, "desktop", "banner", f"site{n:02d}.example", "US", 100, 1, 0.20)
        for day in days
        for n in range(30)
    ]
    posted = client.post(
        f"{API}/deliveries", headers=headers, json={"batch_id": "many", "rows": rows}
    )
    assert posted.status_code == 201, posted.text
    report = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-03-01",
        end_date="2026-04-30",
        dimensions=["date", "domain"],
    )
    return report


def test_without_a_limit_a_report_returns_every_row(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> None:
    report = _report_of_1200_rows(client, headers, db, settings, world)
    # The seed's example reads len(report["data"]): every row, not a first page of 1,000.
    assert len(report["data"]) == 1200
    assert report["pagination"] == {"limit": None, "offset": 0, "total": 1200}
    assert report["data"][0]["date"] == "2026-03-01" and report["data"][-1]["date"] == "2026-04-09"
    assert sum(r["impressions"] for r in report["data"]) == report["summary"]["impressions"]
    url = f"{API}/reports/{report['id']}"
    tail = client.get(f"{url}?offset=1150", headers=headers).json()
    assert tail["data"] == report["data"][1150:]
    assert tail["pagination"] == {"limit": None, "offset": 1150, "total": 1200}
    page = client.get(f"{url}?limit=500&offset=1000", headers=headers).json()
    assert page["data"] == report["data"][1000:]
    assert page["pagination"] == {"limit": 500, "offset": 1000, "total": 1200}


def test_a_report_too_large_to_return_unpaged_says_to_page(
    client: TestClient,
    headers: Headers,
    db: Database,
    settings: Settings,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = _report_of_1200_rows(client, headers, db, settings, world)
    monkeypatch.setattr(reports, "MAX_UNPAGED_REPORT_ROWS", 1000)
    url = f"{API}/reports/{report['id']}"
    response = client.get(url, headers=headers)
    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "validation_error",
            "message": f"Report {report['id']} has 1,200 rows, more than the 1,000 returned "
            "without paging: page through them with ?limit= (at most 10,000) and ?offset=",
        },
    )
    # What is left after an offset may fit; paging always works.
    assert len(client.get(f"{url}?offset=200", headers=headers).json()["data"]) == 1000
    assert len(client.get(f"{url}?limit=10000", headers=headers).json()["data"]) == 1200


def test_a_report_with_more_rows_than_the_setting_fails_saying_why(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> None:
    """Every row is built in memory: past BEACON_SEGMENT_REPORT_MAX_ROWS the job fails with a
    message instead of growing without bound; the limit itself completes."""
    body = {"start_date": "2026-01-01", "end_date": "2026-02-28", "dimensions": ["date"]}
    created = client.post(f"{API}/reports", headers=headers, json=body).json()
    run_jobs(db, settings.model_copy(update={"segment_report_max_rows": 3}))
    failed = client.get(f"{API}/reports/{created['id']}", headers=headers).json()
    assert failed["status"] == "failed"
    assert failed["error"] == (
        "The report has more than 3 rows; narrow the date range, the filters or the dimensions"
    )
    created = client.post(f"{API}/reports", headers=headers, json=body).json()
    run_jobs(db, settings.model_copy(update={"segment_report_max_rows": 4}))  # 4 days: 4 rows
    done = client.get(f"{API}/reports/{created['id']}", headers=headers).json()
    assert done["status"] == "complete" and len(done["data"]) == 4


def test_the_unpaged_maximum_is_the_documented_one() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "activate.md").read_text()
    assert f"for reports of up to {MAX_UNPAGED_REPORT_ROWS:,} rows" in doc


def test_all_deals_summary_only_then_by_format(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> None:
    report = _report(client, headers, db, settings, start_date="2026-01-01", end_date="2026-02-28")
    assert report["deal_ids"] == sorted([world.deal, world.other_deal])
    assert (
        report["segment_ids"] is None and report["filters"] is None and report["dimensions"] is None
    )
    assert report["summary"] == {
        "impressions": 4827600,
        "clicks": 14514,
        "spend": 9667.20,
        "ctr": 0.003,
        "ecpm": 2.00,
    }
    assert report["data"] == [] and report["pagination"]["total"] == 0
    report = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-01-01",
        end_date="2026-02-28",
        dimensions=["format"],
    )
    assert report["data"] == [
        {
            "format": "banner",
            "impressions": 4817850,
            "clicks": 14486,
            "spend": 9644.70,
            "ctr": 0.003,
            "ecpm": 2.00,
        },
        {
            "format": "native",
            "impressions": 1000,
            "clicks": 10,
            "spend": 5.00,
            "ctr": 0.01,
            "ecpm": 5.00,
        },
        {
            "format": "video",
            "impressions": 8750,
            "clicks": 18,
            "spend": 17.50,
            "ctr": 0.0021,
            "ecpm": 2.00,
        },
    ]


def test_a_repeated_segment_or_deal_is_refused_not_echoed(
    client: TestClient, headers: Headers, world: World
) -> None:
    """The report object echoes its scope: [61, 61] was stored and echoed as asked."""
    dates = {"start_date": "2026-01-01", "end_date": "2026-01-31"}
    segments = [world.segment, world.segment]
    deals = [world.deal, world.other_deal, world.deal]
    by_segment = client.post(
        f"{API}/reports", headers=headers, json={**dates, "segment_ids": segments}
    )
    by_deal = client.post(f"{API}/reports", headers=headers, json={**dates, "deal_ids": deals})
    assert (by_segment.status_code, by_deal.status_code) == (422, 422)
    assert by_segment.json() == {
        "error": "validation_error",
        "message": f"Invalid value for 'segment_ids[1]': {world.segment} is listed twice "
        "(first at segment_ids[0])",
    }
    assert by_deal.json()["message"] == (
        f"Invalid value for 'deal_ids[2]': '{world.deal}' is listed twice (first at deal_ids[0])"
    )


def test_deal_scope_device_dimension_and_geo_filter(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> None:
    by_deal = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-01-01",
        end_date="2026-02-28",
        deal_ids=[world.other_deal],
        dimensions=["device"],
    )
    assert by_deal["deal_ids"] == [world.other_deal]
    assert by_deal["data"] == [
        {
            "device": "desktop",
            "impressions": 500,
            "clicks": 5,
            "spend": 1.00,
            "ctr": 0.01,
            "ecpm": 2.00,
        }
    ]
    gb = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-01-01",
        end_date="2026-02-28",
        filters={"geo": ["GB"]},
        dimensions=["domain", "date"],
    )
    assert gb["filters"] == {"geo": ["GB"]}
    assert gb["data"] == [
        {
            "domain": "nytimes.com",
            "date": "2026-01-20",
            "impressions": 1000,
            "clicks": 10,
            "spend": 5.00,
            "ctr": 0.01,
            "ecpm": 5.00,
        }
    ]
    tablets = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-01-20",
        end_date="2026-01-20",
        segment_ids=[world.segment],
        filters={"devices": ["tablet"], "formats": ["banner"]},
    )
    assert tablets["summary"] == {
        "impressions": 1000,
        "clicks": 10,
        "spend": 5.00,
        "ctr": 0.01,
        "ecpm": 5.00,
    }
    both = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-01-01",
        end_date="2026-02-28",
        segment_ids=[world.segment],
        deal_ids=[world.other_deal],
    )
    assert both["deal_ids"] == []
    assert both["summary"] == {"impressions": 0, "clicks": 0, "spend": 0.0, "ctr": 0.0, "ecpm": 0.0}


def test_reposting_a_batch_does_not_double_report_totals(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> None:
    first = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-01-15",
        end_date="2026-01-15",
        deal_ids=[world.other_deal],
    )
    rows = [
        _row("2026-01-15", world.other_deal, "desktop", "banner", "example.com", "US", 500, 5, 1.00)
    ]
    client.post(f"{API}/deliveries", headers=headers, json={"batch_id": "other", "rows": rows})
    client.post(f"{API}/deliveries", headers=headers, json={"batch_id": "other", "rows": rows})
    second = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-01-15",
        end_date="2026-01-15",
        deal_ids=[world.other_deal],
    )
    assert first["summary"]["impressions"] == 500 and second["summary"]["impressions"] == 1000
    assert second["summary"]["spend"] == 2.00


def test_spend_at_its_cap_sums_past_64_bits_exactly(
    client: TestClient, headers: Headers, db: Database, settings: Settings, world: World
) -> None:
    # A row's spend may be up to 10**12, stored as 10**18 micros: ten such rows sum past
    # 2**63 - 1, which SQLite's SUM() refuses ("integer overflow"), so the report failed; twenty
    # pass 2**64, past what the stored row's JSON (orjson) writes as an integer.
    cap = MAX_ROW_COUNT
    rows = [
        _row("2026-03-01", world.other_deal, "desktop", "banner", "example.com", "US", 1, 0, cap)
        for _ in range(20)
    ]
    rows.append(
        _row(
            "2026-03-01", world.other_deal, "mobile", "banner", "example.com", "US", 1, 0, 0.000001
        )
    )
    response = client.post(f"{API}/deliveries", headers=headers, json={"rows": rows})
    assert response.status_code == 201, response.text
    report = _report(
        client,
        headers,
        db,
        settings,
        start_date="2026-03-01",
        end_date="2026-03-01",
        deal_ids=[world.other_deal],
        dimensions=["device"],
    )
    assert 20 * cap * 1_000_000 > 2**64
    assert report["summary"]["spend"] == 20 * cap
    assert [row["spend"] for row in report["data"]] == [20 * cap, 0.0]
    with db.transaction() as session:
        account_id = session.get_one(SegmentReport, report["id"]).account_id
        stored = reports.stored_rows(session=session, account_id=account_id, report_id=report["id"])
        by_device = reports.breakdowns(stored, ["device"])["device"]
    assert [row["spend"] for row in by_device] == [20 * cap, 0.0]


def test_rounding_rules() -> None:
    assert metrics(impressions=3, clicks=1, spend_micros=5_000) == {
        "impressions": 3,
        "clicks": 1,
        "spend": 0.01,
        "ctr": 0.3333,
        "ecpm": 1.67,
    }
    assert metrics(impressions=0, clicks=0, spend_micros=1_234_567) == {
        "impressions": 0,
        "clicks": 0,
        "spend": 1.23,
        "ctr": 0.0,
        "ecpm": 0.0,
    }
    assert metrics(impressions=7, clicks=2, spend_micros=10_000_000)["ctr"] == 0.2857
    # ctr: 4 decimal places, half up (the seed's 0.003 and 0.0021); spend and ecpm: cents.
    assert metrics(impressions=20_000, clicks=1, spend_micros=0)["ctr"] == 0.0001
    assert metrics(impressions=30_000, clicks=1, spend_micros=0)["ctr"] == 0.0
    assert metrics(impressions=8, clicks=0, spend_micros=45_000)["ecpm"] == 5.63


# (body, status, part of the message naming the field)
REPORT_VALIDATION_CASES: list[tuple[dict[str, Any], int, str]] = [
    (
        {"start_date": "2026-02-01", "end_date": "2026-01-01"},
        422,
        "Invalid value for 'end_date': end_date 2026-01-01 is before start_date 2026-02-01",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "segment_ids": [999]},
        422,
        "Invalid value for 'segment_ids': segment 999 not found",
    ),
    (  # a repeat is refused at its second occurrence, as an activation refuses it
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "segment_ids": [7, 8, 7]},
        422,
        "Invalid value for 'segment_ids[2]': 7 is listed twice (first at segment_ids[0])",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "deal_ids": ["d-1", " d-1 "]},
        422,
        "Invalid value for 'deal_ids[1]': 'd-1' is listed twice (first at deal_ids[0])",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "filters": {"geo": ["US", "US"]}},
        422,
        "Invalid value for 'filters.geo[1]': 'US' is listed twice",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "segment_ids": ["1"]},
        400,
        "Invalid type for 'segment_ids[0]': expected integer",
    ),
    (
        {
            "start_date": "2026-01-01",
            "end_date": "2026-01-31",
            "deal_ids": ["classify-ttd-1-zzzzz"],
        },
        422,
        "Invalid value for 'deal_ids': deal 'classify-ttd-1-zzzzz' not found",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "dimensions": ["hour"]},
        422,
        "Invalid value for 'dimensions[0]': 'hour'",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "dimensions": ["date", "date"]},
        422,
        "Invalid value for 'dimensions[1]': 'date' is listed twice (first at dimensions[0])",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "filters": {"geo": ["XX"]}},
        422,
        "Invalid value for 'filters.geo[0]'",
    ),
    (
        {"start_date": "2026-01-01", "end_date": "2026-01-31", "filters": {"devices": ["tv"]}},
        422,
        "Invalid value for 'filters.devices[0]': 'tv'",
    ),
    (
        {
            "start_date": "2026-01-01",
            "end_date": "2026-01-31",
            "filters": {"domains": ["a.com"]},
        },
        400,
        "Unknown parameter 'filters.domains'",
    ),
    ({"end_date": "2026-01-31"}, 400, "Missing required parameter 'start_date'"),
]


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        ("2016-01-01", "2026-01-01", "the range covers 3654 days; at most 366 are allowed"),
        ("2024-01-01", "2025-01-01", "the range covers 367 days; at most 366 are allowed"),
        ("2026-02-01", "2026-01-01", "end_date 2026-01-01 is before start_date 2026-02-01"),
    ],
)
def test_a_report_range_is_refused_as_measure_refuses_it(
    client: TestClient, headers: Headers, start: str, end: str, problem: str
) -> None:
    """Seed 001 states no longest range: Measure's cap of 366 days applies, in its words."""
    dates = {"start_date": start, "end_date": end}
    segment = client.post(f"{API}/reports", headers=headers, json=dates)
    measure = client.post(
        "/v1/pixel/reports/campaign", headers=headers, json={"campaign_id": 1, **dates}
    )
    expected = {"error": "validation_error", "message": f"Invalid value for 'end_date': {problem}"}
    assert (segment.status_code, segment.json()) == (422, expected)
    assert (measure.status_code, measure.json()) == (422, expected)


def test_a_report_may_cover_a_leap_year(client: TestClient, headers: Headers) -> None:
    dates = {"start_date": "2024-01-01", "end_date": "2024-12-31"}
    assert client.post(f"{API}/reports", headers=headers, json=dates).status_code == 201


def test_report_validation_not_found_paging_limits_and_isolation(
    client: TestClient, headers: Headers, key_for: Callable[[str], str]
) -> None:
    for body, status, message in REPORT_VALIDATION_CASES:
        response = client.post(f"{API}/reports", headers=headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["message"], (body, response.json())
    response = client.get(f"{API}/reports/999", headers=headers)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Report with ID 999 not found"}
    created = client.post(
        f"{API}/reports",
        headers=headers,
        json={"start_date": "2026-01-01", "end_date": "2026-01-31"},
    ).json()
    for query in ("limit=10001", "limit=0", "offset=-1", f"offset={2**63}"):
        response = client.get(f"{API}/reports/{created['id']}?{query}", headers=headers)
        assert response.status_code == 422, query
    other = client.get(f"{API}/reports/{created['id']}", headers={"X-API-Key": key_for("other")})
    assert other.status_code == 404


def test_a_failed_report_says_why(client: TestClient, headers: Headers, db: Database) -> None:
    created = client.post(
        f"{API}/reports",
        headers=headers,
        json={"start_date": "2026-01-01", "end_date": "2026-01-31"},
    ).json()
    with db.transaction() as session:
        row = session.get(SegmentReport, created["id"])
        assert row is not None
        row.status, row.error = "failed", "gave up after 3 attempts: worker lost"
    failed = client.get(f"{API}/reports/{created['id']}", headers=headers).json()
    assert failed == {
        **created,
        "status": "failed",
        "error": "gave up after 3 attempts: worker lost",
    }


def test_list_reports_is_the_accounts_own_newest_first_and_paged(db: Database) -> None:
    from beacon.activation.reports.schemas import ReportCreate
    from beacon.core import auth

    with db.transaction() as session:
        mine = auth.issue_api_key(session=session, account_name="list-mine").account_id
        theirs = auth.issue_api_key(session=session, account_name="list-theirs").account_id
        asked = [
            reports.create_report(
                session=session,
                account_id=account,
                data=ReportCreate.model_validate(
                    {"start_date": f"2026-11-0{day}", "end_date": "2026-11-09"}
                ),
            ).id
            for account, day in ((mine, 1), (theirs, 2), (mine, 3), (mine, 4))
        ]
    with db.transaction() as session:
        first, total = reports.list_reports(session=session, account_id=mine, limit=2)
        rest, _ = reports.list_reports(session=session, account_id=mine, limit=2, offset=2)
    assert total == 3
    assert [r.id for r in first + rest] == [asked[3], asked[2], asked[0]]
    assert [str(r.start_date) for r in first] == ["2026-11-04", "2026-11-03"]


def test_console_breakdowns_sum_unrounded_spend_and_read_any_size(
    client: TestClient,
    headers: Headers,
    db: Database,
    settings: Settings,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The console's per-day, device, format and domain tables add the rows' spend before
    rounding, as the summary does: 100 rows of $1.004999 are $100.50 that day, not 100 rows
    each rounded to $1.00; and a report over the unpaged maximum still shows its tables."""
    from tests.console.in_process import member, sign_in

    from beacon.core.permissions import Role

    rows = [
        _row(
            "2026-05-01", world.deal, "desktop", "banner", f"s{n}.example", "US", 1000, 1, 1.004999
        )
        for n in range(100)
    ]
    posted = client.post(f"{API}/deliveries", headers=headers, json={"batch_id": "b", "rows": rows})
    assert posted.status_code == 201, posted.text
    report = _report(
        client, headers, db, settings, start_date="2026-05-01", end_date="2026-05-01",
        dimensions=["date", "device", "format", "domain"],
    )  # fmt: skip
    assert report["summary"]["spend"] == 100.5
    monkeypatch.setattr(reports, "MAX_UNPAGED_REPORT_ROWS", 10)
    sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    page = client.get(f"/app/activate/reports/{report['id']}")
    assert page.status_code == 200, page.text[:300]
    for table in ("by-date", "by-device", "by-format"):
        body = page.text.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
        assert '<td class="num">100.50</td>' in body, (table, body[:400])
