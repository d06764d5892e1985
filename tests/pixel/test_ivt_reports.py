"""Invalid traffic end to end: hits over HTTP, the flush, then reports by IVT reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.worker import Worker
from beacon.pixel.agents import IVT_REASONS
from beacon.pixel.tasks import report_job

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
HOME = ("71.192.0.1", 40000)  # a US residential address
CLOUD = ("3.5.140.1", 40000)  # AWS
PAGE = "https://www.example.com/story"


@pytest.fixture
def home(pixel_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(pixel_app, client=HOME) as client:
        yield client


def send_hits(pixel_app: FastAPI, home: TestClient, campaign_id: int) -> None:
    """Two people, and one invalid load for every reason."""
    gif = f"/px/{campaign_id}.gif"

    def load(client: TestClient, ua: str, cb: str, **headers: str) -> None:
        response = client.get(
            gif, params={"url": PAGE, "cb": cb}, headers={"User-Agent": ua, **headers}
        )
        assert response.status_code == 200

    load(home, CHROME, f"{campaign_id}-1")
    load(home, CHROME, f"{campaign_id}-2")
    load(home, CHROME, f"{campaign_id}-2")  # the same cache buster again: activity
    load(home, CHROME, f"{campaign_id}-3", **{"Sec-Purpose": "prefetch"})
    load(home, "", f"{campaign_id}-4")
    load(home, "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", "5")
    load(home, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "6")
    load(home, "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/124.0.0.0 Safari/537.36", "7")
    load(TestClient(pixel_app, client=CLOUD), CHROME, f"{campaign_id}-8")
    result = pixel_app.state.pixel.flush()
    assert result.counted == 9 and not result.rejected


def new_campaign(client: TestClient, headers: dict[str, str], use_case: str) -> int:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": "ivt", "use_case": use_case}, headers=headers
    )
    assert response.status_code == 201
    return int(response.json()["id"])


def run_report(
    client: TestClient, db: Database, settings: Settings, headers: dict[str, str], kind: str,
    body: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    created = client.post(f"/v1/pixel/reports/{kind}", json=body, headers=headers)
    assert created.status_code == 201, created.text
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    done = client.get(f"/v1/pixel/reports/{kind}/{created.json()['id']}", headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "complete", done.text
    result: dict[str, Any] = done.json()
    return result


def today_range() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return {"start_date": today, "end_date": today}


def test_campaign_summary_counts_invalid_traffic_by_reason(
    pixel_app: FastAPI, home: TestClient, db: Database, settings: Settings,
    headers: dict[str, str],
) -> None:  # fmt: skip
    cid = new_campaign(home, headers, "campaign_reporting")
    send_hits(pixel_app, home, cid)
    body = {"campaign_id": cid, **today_range()}
    for dimensions in (None, ["domain"], ["device"]):  # report-grain and full-grain plans
        report = run_report(
            home, db, settings, headers, "campaign", {**body, "dimensions": dimensions}
        )
        summary = report["summary"]
        assert summary["impressions"] == 2  # people only
        assert summary["invalid_traffic"] == {
            "bot": 6,
            "ai_agent": 1,
            "by_reason": {reason: 1 for reason in IVT_REASONS},
        }
        assert sum(row["impressions"] for row in report["data"]) == (2 if dimensions else 0)


def test_publisher_report_breaks_loads_down_by_ivt_reason(
    pixel_app: FastAPI, home: TestClient, db: Database, settings: Settings,
    headers: dict[str, str],
) -> None:  # fmt: skip
    cid = new_campaign(home, headers, "publisher_bot_detection")
    send_hits(pixel_app, home, cid)
    body = {"campaign_id": cid, **today_range(), "dimensions": ["traffic_type", "ivt_reason"]}
    report = run_report(home, db, settings, headers, "publisher", body)
    rows = {(row["traffic_type"], row["ivt_reason"]): row["loads"] for row in report["data"]}
    assert rows == {
        ("human", None): 2,
        ("ai_agent", "ai_agent"): 1,
        **{("bot", reason): 1 for reason in IVT_REASONS if reason != "ai_agent"},
    }
    assert report["summary"]["loads"] == 9 and report["summary"]["human"] == 2


def test_ivt_reason_is_not_a_campaign_report_dimension(
    home: TestClient, headers: dict[str, str]
) -> None:
    cid = new_campaign(home, headers, "campaign_reporting")
    response = home.post(
        "/v1/pixel/reports/campaign",
        json={"campaign_id": cid, **today_range(), "dimensions": ["ivt_reason"]},
        headers=headers,
    )
    assert response.status_code == 422
    assert "dimensions" in response.json()["message"]
