"""The campaign-report filter ``brand_safety_max_risk``: only impressions on pages whose stored
overall brand-safety risk is at most the level count, in the rows and in the summary alike;
pages without a brand-safety classification are left out and counted apart."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from tests.pixel.test_reports import new_campaign, reasons, report, run_worker

from beacon.contextual.classification_repository import save_classification
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel.rollups import RollupKey, increment
from beacon.pixel.viewability_models import PixelViewability

D1, D2 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
SAFE, NEWS, BAD = "https://safe.com/a", "https://news.com/b", "https://bad.com/c"
UNCLASSIFIED, LEGACY = "https://safe.com/u", "https://old.com/o"
TECH = {"iab_categories": [{"id": "IAB19", "name": "Technology & Computing", "confidence": 0.9}]}
EXCLUDED = ("brand_safety_excluded_impressions", "brand_safety_unclassified_impressions")


def classified(level: str) -> dict[str, Any]:
    return {**TECH, "brand_safety": {"overall": level, "categories": {}}}


@pytest.fixture
def campaign(client: TestClient, headers: dict[str, str], db: Database) -> int:
    """Hits on pages classified none / medium / floor, one unclassified page, one classified
    before brand safety existed, and loads without a URL."""
    cid = new_campaign(client, headers, "campaign_reporting")

    def key(day: dt.date, url: str, device: str, **kw: Any) -> RollupKey:
        domain = url.split("/")[2] if url else ""
        return RollupKey(cid, day, domain, url, device, "US", **kw)

    hits = {
        key(D1, SAFE, "desktop"): 5,
        key(D1, SAFE, "desktop", traffic_type="bot", agent="Googlebot"): 2,
        key(D1, NEWS, "mobile"): 3,
        key(D1, NEWS, "mobile", traffic_type="ai_agent", agent="GPTBot"): 1,
        key(D2, BAD, "desktop"): 4,
        key(D2, BAD, "desktop", traffic_type="bot", agent="Googlebot"): 1,
        key(D2, UNCLASSIFIED, "mobile"): 2,
        key(D2, LEGACY, "desktop"): 1,
        key(D2, "", "ctv"): 1,
    }
    with db.transaction() as session:
        increment(session, hits)
        for url, classification in [
            (SAFE, classified("none")),
            (NEWS, classified("medium")),
            (BAD, classified("floor")),
            (LEGACY, TECH),
        ]:
            save_classification(
                session,
                url=url,
                domain=url.split("/")[2],
                classification=classification,
                engine_version="test",
                classified_at=utcnow(),
            )
        for n, (day, url, measurable, viewable) in enumerate(
            [(D1, SAFE, 4, 2), (D2, BAD, 3, 3), (D2, UNCLASSIFIED, 2, 2)]
        ):
            session.add(
                PixelViewability(
                    campaign_id=cid, dims_hash=f"view-{n}", date=day, domain=url.split("/")[2],
                    url=url, device="mobile" if url == UNCLASSIFIED else "desktop", geo="US",
                    macros="", measurable=measurable, viewable=viewable,
                )
            )  # fmt: skip
    return cid


def body(campaign: int, **extra: Any) -> dict[str, Any]:
    return {"campaign_id": campaign, "start_date": "2026-03-01", "end_date": "2026-03-31", **extra}


def run(
    client: TestClient,
    db: Database,
    settings: Settings,
    headers: dict[str, str],
    campaign: int,
    filters: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    done = report(client, db, settings, headers, **body(campaign, filters=filters, **extra))
    if extra.get("dimensions"):
        # Rows and summary always agree.
        assert sum(r["impressions"] for r in done["data"]) == done["summary"]["impressions"]
        for measure in ("measurable_impressions", "viewable_impressions"):
            assert sum(r[measure] for r in done["data"]) == done["summary"][measure]
    return done


def test_low_counts_only_the_page_without_risk(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    done = run(
        client, db, settings, headers, campaign, {"brand_safety_max_risk": "low"},
        dimensions=["url"],
    )  # fmt: skip
    assert done["summary"] == {
        "impressions": 5,
        "unique_urls": 1,
        "unique_domains": 1,
        "invalid_traffic": {"bot": 2, "ai_agent": 0, "by_reason": reasons(known_crawler=2)},
        "misrepresented_impressions": 0,
        "measurable_impressions": 4,
        "viewable_impressions": 2,
        "viewability_rate": 0.5,
        # medium 3 + floor 4, and unclassified 2 + pre-brand-safety 1 + no URL 1
        "brand_safety_excluded_impressions": 11,
        "brand_safety_unclassified_impressions": 4,
    }
    assert done["data"] == [
        {"url": SAFE, "impressions": 5, "measurable_impressions": 4,
         "viewable_impressions": 2, "viewability_rate": 0.5},
    ]  # fmt: skip


def test_floor_counts_every_classified_page_and_never_the_unclassified(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    done = run(
        client, db, settings, headers, campaign, {"brand_safety_max_risk": "floor"},
        dimensions=["domain"],
    )  # fmt: skip
    summary = done["summary"]
    assert summary["impressions"] == 12
    assert (summary["unique_urls"], summary["unique_domains"]) == (3, 3)
    assert summary["invalid_traffic"] == {
        "bot": 3,
        "ai_agent": 1,
        "by_reason": reasons(known_crawler=3, ai_agent=1),
    }
    assert (summary["measurable_impressions"], summary["viewable_impressions"]) == (7, 5)
    assert [summary[k] for k in EXCLUDED] == [4, 4]
    assert [(r["domain"], r["impressions"]) for r in done["data"]] == [
        ("safe.com", 5),
        ("bad.com", 4),
        ("news.com", 3),
    ]


@pytest.mark.parametrize(
    ("dimensions", "include_classification"),
    [
        (["date", "url", "device", "geo"], False),
        (["date"], False),
        (["url"], True),  # rows shaped in Python
        (["domain", "device"], True),
    ],
)
def test_rows_and_summary_agree_for_any_dimensions(
    client: TestClient,
    headers: dict[str, str],
    campaign: int,
    db: Database,
    settings: Settings,
    dimensions: list[str],
    include_classification: bool,
) -> None:
    done = run(
        client, db, settings, headers, campaign, {"brand_safety_max_risk": "medium"},
        dimensions=dimensions, include_classification=include_classification,
    )  # fmt: skip
    assert done["summary"]["impressions"] == 8
    if "url" in dimensions:
        assert {r["url"] for r in done["data"]} == {SAFE, NEWS}


@pytest.mark.parametrize(
    ("filters", "impressions", "excluded", "unclassified"),
    [
        # bad.com's 4 are above medium; safe.com/u is outside the domains filter
        ({"domains": ["news.com", "www.bad.com"]}, 3, 4, 0),
        # safe.com/a and bad.com/c; old.com/o (desktop) has no brand safety
        ({"devices": ["desktop"]}, 9, 1, 1),
        ({"domains": ["safe.com"], "devices": ["mobile"]}, 0, 2, 2),
    ],
)
def test_combines_with_the_domain_and_device_filters(
    client: TestClient,
    headers: dict[str, str],
    campaign: int,
    db: Database,
    settings: Settings,
    filters: dict[str, Any],
    impressions: int,
    excluded: int,
    unclassified: int,
) -> None:
    max_risk = "floor" if "devices" in filters and "domains" not in filters else "medium"
    done = run(
        client, db, settings, headers, campaign, {**filters, "brand_safety_max_risk": max_risk},
        dimensions=["url", "device"],
    )  # fmt: skip
    summary = done["summary"]
    assert summary["impressions"] == impressions
    assert [summary[k] for k in EXCLUDED] == [excluded, unclassified]


def test_without_the_filter_the_report_is_unchanged(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    done = run(client, db, settings, headers, campaign, {}, dimensions=["url"])
    assert done["summary"]["impressions"] == 16
    assert not set(EXCLUDED) & set(done["summary"])
    assert len(done["data"]) == 6


def test_an_unknown_level_is_422_in_the_error_envelope(
    client: TestClient, headers: dict[str, str], campaign: int
) -> None:
    response = client.post(
        "/v1/pixel/reports/campaign",
        json=body(campaign, filters={"brand_safety_max_risk": "severe"}),
        headers=headers,
    )
    assert response.status_code == 422, response.text
    payload = response.json()
    assert set(payload) == {"error", "message"}
    assert payload["error"] == "validation_error"
    assert "'filters.brand_safety_max_risk'" in payload["message"]


def test_publisher_reports_do_not_take_the_filter(
    client: TestClient, headers: dict[str, str]
) -> None:
    cid = new_campaign(client, headers, "publisher_bot_detection")
    response = client.post(
        "/v1/pixel/reports/publisher",
        json=body(cid, filters={"brand_safety_max_risk": "low"}),
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert "unknown filter key 'brand_safety_max_risk'" in response.json()["message"]


def test_each_level_is_its_own_report(
    client: TestClient, headers: dict[str, str], campaign: int
) -> None:
    ids = {
        client.post(
            "/v1/pixel/reports/campaign",
            json=body(campaign, filters={"brand_safety_max_risk": level}),
            headers=headers,
        ).json()["id"]
        for level in ("low", "medium", "low")
    }
    assert len(ids) == 2


def test_a_report_over_more_page_urls_than_allowed_fails_with_a_clear_message(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    # the pixel is public, so anyone can spread a campaign over many URLs: the set of URLs a
    # brand-safety filter looks up is bounded (BEACON_REPORT_BRAND_SAFETY_MAX_URLS)
    request = body(campaign, filters={"brand_safety_max_risk": "low"})
    created = client.post("/v1/pixel/reports/campaign", json=request, headers=headers)
    assert created.status_code == 201, created.text
    run_worker(db, settings.model_copy(update={"report_brand_safety_max_urls": 2}))
    done = client.get(f"/v1/pixel/reports/campaign/{created.json()['id']}", headers=headers)
    assert done.json()["status"] == "failed", done.text
    assert "more than 2 page URLs" in str(done.json()["error"])
    # within the bound the same report completes
    assert run(client, db, settings, headers, campaign, {"brand_safety_max_risk": "low"})


def test_a_page_stored_under_its_hosts_root_dot_is_found_by_the_filter(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings
) -> None:
    # A page classified before 'example.com.' and 'example.com' were one store key is read
    # under its dotted key by reports and segments (older_url_keys); the filter looked up the
    # URL's own key only and left its impressions out as unclassified.
    import hashlib

    from beacon.contextual.models import OK, UrlClassification

    cid = new_campaign(client, headers, "campaign_reporting")
    dotted = "https://example.com./d"
    with db.transaction() as session:
        increment(session, {RollupKey(cid, D1, "example.com", dotted, "desktop", "US"): 3})
        session.add(
            UrlClassification(
                url_hash=hashlib.sha1(dotted.encode(), usedforsecurity=False).hexdigest(),
                url=dotted, domain="example.com", status=OK,
                classification=orjson.dumps(classified("none")).decode(),
            )
        )  # fmt: skip
    done = run(client, db, settings, headers, cid, {"brand_safety_max_risk": "low"})
    assert done["summary"]["impressions"] == 3
    assert done["summary"]["brand_safety_unclassified_impressions"] == 0
