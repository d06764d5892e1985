"""One page, one row: GIF hits naming a page in several spellings (a macro's raw path, a
link's lower-case escapes, location.href's escapes) count under the page's canonical key in
the stats URL breakdown and in a campaign report by url."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.contextual.classification_repository import save_classification
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker
from beacon.pixel.models import PixelRollup
from beacon.pixel.tasks import report_job

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
HOME = ("71.192.0.1", 40000)  # a US residential address
SPELLINGS = [
    "https://www.example.com/ü",
    "https://www.example.com/%c3%bc",
    "https://www.example.com/%C3%BC",
    'https://www.example.com/a"b',
    "https://www.example.com/a%22b",
]
UMLAUT, QUOTE = "https://www.example.com/%C3%BC", "https://www.example.com/a%22b"
TECH = {
    "iab_categories": [{"id": "IAB19-6", "name": "Technology & Computing", "confidence": 0.93}],
    "keywords": ["GPU"],
    "entities": [],
    "sentiment": {"label": "neutral", "score": 0.5},
}


@pytest.fixture
def home(pixel_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(pixel_app, client=HOME) as client:
        yield client


@pytest.fixture
def campaign(pixel_app: FastAPI, home: TestClient, headers: dict[str, str]) -> int:
    response = home.post(
        "/v1/pixel/campaigns",
        json={"name": "pages", "use_case": "campaign_reporting"},
        headers=headers,
    )
    assert response.status_code == 201
    cid = int(response.json()["id"])
    for n, url in enumerate(SPELLINGS):
        hit = home.get(
            f"/px/{cid}.gif",
            params={"url": url, "cb": f"{cid}-{n}"},
            headers={"User-Agent": CHROME},
        )
        assert hit.status_code == 200
    result = pixel_app.state.pixel.flush()
    assert result.counted == len(SPELLINGS) and not result.rejected
    return cid


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def test_stats_url_breakdown_has_one_row_per_page(
    home: TestClient, db: Database, headers: dict[str, str], campaign: int
) -> None:
    with db.transaction() as session:  # the key the stats tables' md5 url_hash is taken of
        stored = session.scalars(select(PixelRollup.url).where(PixelRollup.campaign_id == campaign))
        assert set(stored) == {UMLAUT, QUOTE}
    response = home.get(
        f"/v1/pixel/campaigns/{campaign}/stats",
        params={"start_date": today(), "end_date": today()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    rows = response.json()["breakdowns"]["url"]
    assert [(r["url"], r["impressions"]) for r in rows] == [(UMLAUT, 3), (QUOTE, 2)]


def test_campaign_report_by_url_has_one_row_per_page(
    home: TestClient, db: Database, settings: Settings, headers: dict[str, str], campaign: int
) -> None:
    body: dict[str, Any] = {
        "campaign_id": campaign,
        "start_date": today(),
        "end_date": today(),
        "dimensions": ["url"],
        "include_classification": True,
    }
    with db.transaction() as session:  # Understand was asked for the raw spelling
        save_classification(
            session,
            url="https://www.example.com/ü",
            domain="example.com",
            classification=TECH,
            engine_version="test",
            classified_at=utcnow(),
        )
    created = home.post("/v1/pixel/reports/campaign", json=body, headers=headers)
    assert created.status_code == 201, created.text
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    done = home.get(f"/v1/pixel/reports/campaign/{created.json()['id']}", headers=headers)
    report = done.json()
    assert report["status"] == "complete", report
    assert [(r["url"], r["impressions"]) for r in report["data"]] == [(UMLAUT, 3), (QUOTE, 2)]
    classified = [r["classification"] is not None for r in report["data"]]
    assert classified == [True, False]
    assert report["summary"]["unique_urls"] == 2
