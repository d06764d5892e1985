"""POST /v1/pixel/events: server-side events take the collector's path into the rollups."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.core.db import Database
from beacon.pixel.models import PixelRollup

GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"


def _campaign(client: TestClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/v1/pixel/campaigns",
        json={"name": "site", "use_case": "publisher_bot_detection"},
        headers=headers,
    )
    return int(response.json()["id"])


def test_events_are_counted_like_hits(
    client: TestClient, app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    cid = _campaign(client, headers)
    events = [
        {
            "timestamp": "2026-01-15T10:00:00Z",
            "url": "https://www.example.com/a",
            "user_agent": GPTBOT,
            "ip": "81.2.69.142",
        },
        {
            "timestamp": "2026-01-15T11:00:00+01:00",
            "url": "https://www.example.com/a",
            "user_agent": GPTBOT,
            "country": "gb",
        },
        {
            "timestamp": "2026-01-16T00:30:00",
            "url": "https://example.com/b",
            "user_agent": "",
            "macros": {"site": "example.com"},
        },
        {
            "timestamp": "2026-01-16T00:30:00Z",
            "url": "https://example.com/b",
            "macros": {f"k{i}": "v" for i in range(21)},
        },
    ]
    response = client.post(
        "/v1/pixel/events", json={"campaign_id": cid, "events": events}, headers=headers
    )
    assert response.status_code == 202
    assert response.json() == {
        "campaign_id": cid,
        "accepted": 3,
        "rejected": 1,
        "rejections": [{"index": 3, "reason": "too_many_macros"}],
    }
    assert app.state.pixel.flush().counted == 3
    with db.transaction() as session:
        rows = sorted(
            (str(r.date), r.url, r.geo, r.traffic_type, r.agent, r.macros, r.hits)
            for r in session.scalars(select(PixelRollup))
        )
    assert rows == [
        ("2026-01-15", "https://www.example.com/a", "GB", "ai_agent", "GPTBot", "", 2),
        ("2026-01-16", "https://example.com/b", "", "bot", "", '{"site":"example.com"}', 1),
    ]


def test_bad_event_is_422_naming_its_index(client: TestClient, headers: dict[str, str]) -> None:
    cid = _campaign(client, headers)
    good = {"timestamp": "2026-01-15T10:00:00Z", "url": "https://example.com/"}
    cases = [
        ({**good, "timestamp": "yesterday"}, "events[1].timestamp"),
        ({"url": "https://example.com/"}, "events[1].timestamp"),
        ({**good, "url": "ftp://example.com/"}, "events[1].url"),
        ({**good, "ip": "300.1.1.1"}, "events[1].ip"),
        ({**good, "country": "GBR"}, "events[1].country"),
        ({**good, "timestamp": "2999-01-01T00:00:00Z"}, "events[1].timestamp"),
        ({**good, "extra": 1}, "events[1].extra"),
    ]
    for bad, field in cases:
        response = client.post(
            "/v1/pixel/events", json={"campaign_id": cid, "events": [good, bad]}, headers=headers
        )
        assert response.status_code == 422, bad
        assert field in response.json()["message"]
    too_many = client.post(
        "/v1/pixel/events", json={"campaign_id": cid, "events": [good] * 10_001}, headers=headers
    )
    assert too_many.status_code == 422 and "events" in too_many.json()["message"]


def test_foreign_campaign_is_404(
    client: TestClient, headers: dict[str, str], key_for: Callable[[str], str]
) -> None:
    cid = _campaign(client, headers)
    event = {"timestamp": "2026-01-15T10:00:00Z", "url": "https://example.com/"}
    response = client.post(
        "/v1/pixel/events",
        json={"campaign_id": cid, "events": [event]},
        headers={"X-API-Key": key_for("other")},
    )
    assert response.status_code == 404


def test_the_campaign_id_is_a_json_integer(client: TestClient, headers: dict[str, str]) -> None:
    """As every /v1 body id (the activations' segment_ids too): never "1" or true; 1.0 is the
    integer JSON Schema reads it as."""
    cid = _campaign(client, headers)
    event = {"timestamp": "2026-01-15T10:00:00Z", "url": "https://example.com/"}
    for loose in (str(cid), True):
        events = client.post(
            "/v1/pixel/events", json={"campaign_id": loose, "events": [event]}, headers=headers
        )
        assert events.status_code == 400, (loose, events.text)
        assert events.json() == {
            "error": "bad_request",
            "message": "Invalid type for 'campaign_id': expected integer",
        }
        report = client.post(
            "/v1/pixel/reports/campaign",
            json={"campaign_id": loose, "start_date": "2026-01-01", "end_date": "2026-01-31"},
            headers=headers,
        )
        assert report.status_code == 400, (loose, report.text)
        assert report.json()["message"] == "Invalid type for 'campaign_id': expected integer"
    written = client.post(
        "/v1/pixel/events", json={"campaign_id": float(cid), "events": [event]}, headers=headers
    )
    assert written.status_code == 202, written.text
    assert written.json()["campaign_id"] == cid and written.json()["accepted"] == 1


def test_a_malformed_or_unix_timestamp_is_told_in_words(
    client: TestClient, headers: dict[str, str]
) -> None:
    cid = _campaign(client, headers)
    cases = [
        (
            "2026-13-15T10:00:00Z",
            "'2026-13-15T10:00:00Z' is not a valid ISO 8601 date-time "
            "(month value is outside expected range of 1-12)",
        ),
        # A string of digits is not taken as Unix time (pydantic would read 2023-11-14).
        ("1700000000", "expected date-time, use ISO 8601"),
    ]
    for timestamp, words in cases:
        event = {"timestamp": timestamp, "url": "https://example.com/", "country": "US"}
        response = client.post(
            "/v1/pixel/events", json={"campaign_id": cid, "events": [event]}, headers=headers
        )
        assert response.status_code == 422, timestamp
        assert response.json() == {
            "error": "validation_error",
            "message": f"Invalid value for 'events[0].timestamp': {words}",
        }


def test_a_country_is_two_letters_in_any_case(client: TestClient, headers: dict[str, str]) -> None:
    # 'USA' answered pydantic's "String should match pattern". A code naming no country (ZZ,
    # EU, XX) is read as the CDN headers are: unknown, the ip decides; it is not a reason to
    # refuse a batch of 10,000 events, nor is XK (Kosovo, a code GeoIP databases use).
    cid = _campaign(client, headers)
    event = {"timestamp": "2026-01-15T10:00:00Z", "url": "https://example.com/"}
    for country in ("USA", "1A", "", "ü1"):
        response = client.post(
            "/v1/pixel/events",
            json={"campaign_id": cid, "events": [{**event, "country": country}]},
            headers=headers,
        )
        assert response.status_code == 422, country
        assert response.json() == {
            "error": "validation_error",
            "message": f"Invalid value for 'events[0].country': {country!r} is not a "
            "two-letter country code (ISO 3166-1 alpha-2)",
        }
    accepted = client.post(
        "/v1/pixel/events",
        json={
            "campaign_id": cid,
            "events": [{**event, "country": c} for c in ("de", "xk", "ZZ", "eu")],
        },
        headers=headers,
    )
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 4


def test_a_code_naming_no_country_leaves_the_country_to_the_ip() -> None:
    from beacon.pixel.events import parse_event

    event = {"timestamp": "2026-01-15T10:00:00Z", "url": "https://example.com/"}
    stated = {c: parse_event({**event, "country": c}, 0).country for c in ("zz", "EU", "xk", "de")}
    assert stated == {"zz": None, "EU": None, "xk": "XK", "de": "DE"}
