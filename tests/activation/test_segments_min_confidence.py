"""Segment rules with ``min_confidence`` over calibrated classifications (issue 16): builds on
both databases with the engine's own output, and the validation envelope."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.activation.helpers import API, built_segment, store_classifications, upload_inventory

from beacon.contextual import calibration, engine
from beacon.core.config import Settings
from beacon.core.db import Database

Headers = dict[str, str]

# Real pages for the engine: a match report, a short sports item, a food page that mentions a
# match (sports only as its secondary category), a page with too little evidence to answer,
# and a technology page. Their stored classifications are what the engine answers.
STRONG = "https://www.espn.com/football/report"
MEDIUM = "https://www.localnews.com/sports-centre"
SECONDARY = "https://www.example.com/bakery-by-the-ground"
ABSTAINED = "https://www.example.org/sunday-notes"
TECH = "https://www.theverge.com/ai-chips"
TEXTS = {
    STRONG: (
        "Liverpool beat Arsenal 3-1 in the Premier League",
        "Liverpool beat Arsenal 3-1 at Anfield on Sunday. Salah scored twice in the first half "
        "and the striker added a third after the break. The goalkeeper saved a penalty, the "
        "manager praised the defence, and the win lifts the club to the top of the league "
        "table ahead of the cup final. Fans celebrated the victory long after the match.",
    ),
    MEDIUM: (
        "Town plans new sports centre",
        "The council approved plans for a new sports centre with a swimming pool next to the "
        "school, funded by a local tax.",
    ),
    SECONDARY: (
        "A bakery by the ground",
        "The bakery next to the football ground sells pies, bread and cakes to fans on match days.",
    ),
    ABSTAINED: (
        "Sunday notes",
        "We took the kids to the market, then had lunch at a cafe and walked home along the "
        "river before the rain started.",
    ),
    TECH: (
        "Nvidia unveils a faster AI chip for data centers",
        "Nvidia announced a new GPU for data centers that trains machine learning models twice "
        "as fast. The chip uses a new memory design, and cloud providers plan to offer it to "
        "software developers for artificial intelligence workloads next year.",
    ),
}


def _sports_confidence(classification: dict[str, Any]) -> float | None:
    return max(
        (c["confidence"] for c in classification["iab_categories"] if c["id"].startswith("IAB17")),
        default=None,
    )


def test_min_confidence_keeps_the_confident_pages_on_both_databases(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> None:
    stored = {
        url: engine.classify_text(text=text, title=title).to_dict()
        for url, (title, text) in TEXTS.items()
    }
    sports = {url: _sports_confidence(c) for url, c in stored.items()}
    assert stored[ABSTAINED]["iab_categories"] == []
    assert stored[ABSTAINED]["notes"] == ["low_confidence"]
    assert stored[SECONDARY]["iab_categories"][0]["id"].startswith("IAB8")
    strong, medium, secondary = sports[STRONG], sports[MEDIUM], sports[SECONDARY]
    assert strong is not None and medium is not None and secondary is not None
    threshold = calibration.abstain_threshold(settings.classification_min_confidence)
    assert strong > medium > threshold > secondary > 0, sports
    assert sports[TECH] is None
    store_classifications(db, stored)
    upload_inventory(client, headers, list(TEXTS))

    def members(rules: dict[str, Any], name: str) -> set[str]:
        segment = built_segment(client, headers, db, settings, rules, name=name)
        assert segment["rules"] == rules
        page = client.get(f"{API}/segments/{segment['id']}/urls", headers=headers).json()
        assert segment["url_count"] == len(page["data"])
        return {m["url"] for m in page["data"]}

    assert members({"iab_categories": ["IAB17"]}, "Sports") == {STRONG, MEDIUM, SECONDARY}
    for cut, expected in [
        (round((secondary + medium) / 2, 3), {STRONG, MEDIUM}),
        (medium, {STRONG, MEDIUM}),  # at least the confidence: equal counts
        (round((medium + strong) / 2, 3), {STRONG}),
        (min(1.0, strong + 0.001), set()),
        (0.0, {STRONG, MEDIUM, SECONDARY}),
    ]:
        rules = {"iab_categories": ["IAB17"], "min_confidence": cut}
        assert members(rules, f"Sports at {cut}") == expected, (cut, sports)


def test_invalid_min_confidence_answers_the_documented_envelope(
    client: TestClient, headers: Headers
) -> None:
    for value, status, error, message in [
        (
            -0.1,
            422,
            "validation_error",
            "Invalid value for 'rules.min_confidence': must be at least 0.0",
        ),
        (
            1.01,
            422,
            "validation_error",
            "Invalid value for 'rules.min_confidence': must be at most 1.0",
        ),
        ("0.5", 400, "bad_request", "Invalid type for 'rules.min_confidence': expected number"),
    ]:
        body = {"name": "x", "rules": {"iab_categories": ["IAB17"], "min_confidence": value}}
        response = client.post(f"{API}/segments", headers=headers, json=body)
        assert response.status_code == status, response.text
        assert response.json() == {"error": error, "message": message}
