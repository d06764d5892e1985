"""Segment rules with ``brand_safety.max_risk``: matching, builds on both databases, validation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.activation.helpers import (
    API,
    built_segment,
    classification,
    store_classifications,
    upload_inventory,
)

from beacon.activation.models import InventoryUrl
from beacon.activation.schemas import SegmentRules
from beacon.activation.segments import service as segments
from beacon.activation.segments.rules import SegmentMatcher
from beacon.contextual.brand_safety import CATEGORIES
from beacon.core.config import Settings
from beacon.core.db import Database

Headers = dict[str, str]


def _page(overall: str | None, category: str = "IAB17") -> dict[str, Any]:
    page = classification([(category, 0.9)], ["match report"], [], "neutral")
    if overall is not None:
        levels = dict.fromkeys(CATEGORIES, "none")
        levels["death_injury_military_conflict"] = overall
        page["brand_safety"] = {"overall": overall, "categories": levels}
    return page


# Each URL's overall level; None is a classification stored before brand safety existed.
PAGES: dict[str, str | None] = {
    "https://www.espn.com/football/report": "none",
    "https://www.bbc.co.uk/news/world-report": "low",
    "https://www.example.com/war-film-review": "medium",
    "https://www.gore.example.net/uncut": "high",
    "https://www.porn.example.org/free": "floor",
    "https://www.oldsite.com/sports": None,
}


def _store(db: Database) -> None:
    store_classifications(db, {url: _page(overall) for url, overall in PAGES.items()})


def test_max_risk_keeps_pages_at_or_below_the_level() -> None:
    for max_risk, allowed in [
        ("none", {"none"}),
        ("low", {"none", "low"}),
        ("medium", {"none", "low", "medium"}),
        ("high", {"none", "low", "medium", "high"}),
        ("floor", {"none", "low", "medium", "high", "floor"}),
    ]:
        matcher = SegmentMatcher.from_rules(
            {"iab_categories": ["IAB17"], "brand_safety": {"max_risk": max_risk}}
        )
        for level in ("none", "low", "medium", "high", "floor"):
            assert matcher.matches(_page(level)) is (level in allowed), (max_risk, level)
        # an old classification has no known risk: it never passes a limit
        assert not matcher.matches(_page(None))
        # the other keys still apply
        assert not matcher.matches(_page("none", category="IAB19"))
    assert SegmentMatcher.from_rules({"iab_categories": ["IAB17"]}).matches(_page(None))


def test_segment_build_applies_max_risk(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> None:
    _store(db)
    upload_inventory(client, headers, list(PAGES))
    rules = {"iab_categories": ["IAB17"], "brand_safety": {"max_risk": "low"}}
    segment = built_segment(client, headers, db, settings, rules, name="Safe sports")
    assert segment["rules"] == rules
    assert segment["url_count"] == 2
    members = client.get(f"{API}/segments/{segment['id']}/urls", headers=headers).json()
    assert sorted(m["url"] for m in members["data"]) == [
        "https://www.bbc.co.uk/news/world-report",
        "https://www.espn.com/football/report",
    ]
    # widening the limit rebuilds with the medium and high pages; no limit adds the rest
    for max_risk, count in (("high", 4), ("floor", 5)):
        wider = {"iab_categories": ["IAB17"], "brand_safety": {"max_risk": max_risk}}
        rebuilt = built_segment(client, headers, db, settings, wider, name=max_risk)
        assert rebuilt["url_count"] == count, max_risk
    unlimited = built_segment(client, headers, db, settings, {"iab_categories": ["IAB17"]})
    assert unlimited["url_count"] == len(PAGES)
    # the console's preview matches as the build does
    with db.transaction() as session:
        account_id = session.scalars(select(InventoryUrl.account_id)).first()
        assert account_id is not None
        preview = segments.preview_rules(
            session=session, account_id=account_id, rules=SegmentRules.model_validate(rules)
        )
    assert (preview.url_count, preview.domain_count) == (2, 2)


def test_max_risk_validation_names_the_field(client: TestClient, headers: Headers) -> None:
    for bad in ("severe", "NONE", "", 3):
        response = client.post(
            f"{API}/segments",
            headers=headers,
            json={"name": "x", "rules": {"brand_safety": {"max_risk": bad}}},
        )
        assert response.status_code in (400, 422), bad
        body = response.json()
        assert set(body) == {"error", "message"}
        assert "'rules.brand_safety.max_risk'" in body["message"], body
    response = client.post(
        f"{API}/segments",
        headers=headers,
        json={"name": "x", "rules": {"brand_safety": {"max_risk": "severe"}}},
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_error",
        "message": "Invalid value for 'rules.brand_safety.max_risk': 'severe'. "
        "Allowed values: 'none', 'low', 'medium', 'high' or 'floor'",
    }
    for rules, message in [
        ({"brand_safety": {}}, "Missing required parameter 'rules.brand_safety.max_risk'"),
        (
            {"brand_safety": {"max_risk": "low", "min": "none"}},
            "Unknown parameter 'rules.brand_safety.min'",
        ),
    ]:
        response = client.post(
            f"{API}/segments", headers=headers, json={"name": "x", "rules": rules}
        )
        assert (response.status_code, response.json()["message"]) == (400, message)
    assert client.get(f"{API}/segments", headers=headers).json() == []
