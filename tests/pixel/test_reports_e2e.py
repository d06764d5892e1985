"""End to end: the real server process, its in-process worker, and the seed's polling code."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
from tests.support import LiveServer

from beacon.core.db import Database
from beacon.pixel.rollups import RollupKey, canonical_macros, increment

VENDOR = "https://api.clsfy.me"


# --- seed 000, "Polling for results", verbatim ----------------------------------------------
def wait_for_campaign_report(report_id: int, api_key: str, poll_interval: int = 30):  # type: ignore[no-untyped-def]
    """Poll until a campaign report is ready."""
    url = f"https://api.clsfy.me/v1/pixel/reports/campaign/{report_id}"
    headers = {"X-API-Key": api_key}

    while True:
        report = requests.get(url, headers=headers).json()
        if report["status"] == "complete":
            print(f"Done — {report['summary']['impressions']} impressions")
            return report
        elif report["status"] == "failed":
            raise RuntimeError(f"Report {report_id} failed.")
        print(f"Status: {report['status']} — retrying in {poll_interval}s")
        time.sleep(poll_interval)


# ---------------------------------------------------------------------------------------------


@pytest.fixture
def server(database_url: str, db: Database, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        data_dir=tmp_path / "var",
        database_url=database_url,
        env={"BEACON_WORKER_POLL_INTERVAL": "5"},  # only the wake-up can make it fast
    ).start()
    yield live
    assert live.stop() in (0, -15)


@pytest.fixture
def vendor_host_is_the_server(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's code calls the vendor's host; route it to the live server unchanged."""
    send = requests.adapters.HTTPAdapter.send

    def to_server(self: requests.adapters.HTTPAdapter, request: Any, **kwargs: Any) -> Any:
        request.url = request.url.replace(VENDOR, server.base_url, 1)
        return send(self, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", to_server)


def test_seed_request_and_polling_against_the_real_server(
    server: LiveServer,
    vendor_host_is_the_server: None,
    db: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = server.first_key
    assert key
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    campaign = requests.post(
        f"{VENDOR}/v1/pixel/campaigns",
        headers=headers,
        json={"name": "H1 2026 EV Campaign", "use_case": "campaign_optimization"},
    ).json()
    site = canonical_macros({"google-site": "nytimes.com"})
    day = dt.date(2026, 1, 15)
    with db.transaction() as session:
        increment(
            session,
            {
                RollupKey(campaign["id"], day, "nytimes.com", "https://nytimes.com/a", "desktop", "US", macros=site): 142,
                RollupKey(campaign["id"], day, "bbc.com", "https://bbc.com/b", "mobile", "GB"): 89,
                RollupKey(campaign["id"], day, "bbc.com", "https://bbc.com/b", "mobile", "GB", "bot", "Googlebot"): 7,
            },
        )  # fmt: skip

    # "Create a campaign report", Python tab (campaign id and dates from this test)
    started = time.monotonic()
    response = requests.post(
        "https://api.clsfy.me/v1/pixel/reports/campaign",
        headers={
            "X-API-Key": key,
            "Content-Type": "application/json",
        },
        json={
            "campaign_id": campaign["id"],
            "start_date": "2026-01-15",
            "end_date": "2026-02-14",
            "dimensions": ["date", "domain"],
            "include_classification": True,
        },
    )
    report = response.json()
    print(report["id"])  # e.g. 402
    assert response.status_code == 201 and report["status"] == "pending"

    done = wait_for_campaign_report(report["id"], key, poll_interval=0.1)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"the in-process worker took {elapsed:.2f}s to pick the report up"
    assert "Done — 231 impressions" in capsys.readouterr().out
    # (measured viewability is additive: no hit came from the script tag, nothing measurable)
    unmeasured = {"measurable_impressions": 0, "viewable_impressions": 0, "viewability_rate": None}
    assert done["data"] == [
        {"date": "2026-01-15", "domain": "nytimes.com", "impressions": 142,
         "macros": {"google-site": "nytimes.com"}, **unmeasured, "classification": None},
        {"date": "2026-01-15", "domain": "bbc.com", "impressions": 89, **unmeasured,
         "classification": None},
    ]  # fmt: skip

    # "Get a campaign report", Python tab
    response = requests.get(
        f"https://api.clsfy.me/v1/pixel/reports/campaign/{report['id']}",
        headers={"X-API-Key": key},
    )
    report = response.json()
    if report["status"] == "complete":
        print(f"Impressions: {report['summary']['impressions']}")
        print(f"Domains: {report['summary']['unique_domains']}")
    assert capsys.readouterr().out == "Impressions: 231\nDomains: 2\n"

    # Publisher reports share the worker and the lifecycle.
    publisher = requests.post(
        f"{VENDOR}/v1/pixel/campaigns",
        headers=headers,
        json={"name": "news site", "use_case": "publisher_bot_detection"},
    ).json()
    with db.transaction() as session:
        increment(
            session,
            {
                RollupKey(publisher["id"], day, "bbc.com", "https://bbc.com/b", "mobile", "GB"): 10,
                RollupKey(publisher["id"], day, "bbc.com", "https://bbc.com/b", "desktop", "US", "ai_agent", "GPTBot"): 4,
            },
        )  # fmt: skip
    created = requests.post(
        f"{VENDOR}/v1/pixel/reports/publisher",
        headers=headers,
        json={"campaign_id": publisher["id"], "start_date": "2026-01-15", "end_date": "2026-01-15",
              "dimensions": ["traffic_type"]},
    ).json()  # fmt: skip
    deadline = time.monotonic() + 5
    while (
        result := requests.get(
            f"{VENDOR}/v1/pixel/reports/publisher/{created['id']}", headers=headers
        ).json()
    )["status"] != "complete" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result["summary"]["loads"] == 14
    assert [(r["traffic_type"], r["loads"]) for r in result["data"]] == [
        ("human", 10),
        ("ai_agent", 4),
    ]
