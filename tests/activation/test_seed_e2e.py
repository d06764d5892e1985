"""End to end against a real ``beacon serve`` process: inventory, segment build, activation
and a segment report, polled with the seeds' own ``wait_for_deal_id`` / ``wait_for_report``."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from tests.activation.helpers import PAGES, SEED_DATA_ROWS, classify_pages
from tests.support import LiveServer

from beacon.activation.models import Activation
from beacon.core.db import Database
from beacon.core.timefmt import utcnow

SEED_HOST = "https://api.clsfy.me"


# --- The seeds' polling functions, verbatim (seed 003, then seed 001) -------------------------


def wait_for_deal_id(activation_id: int, api_key: str, poll_interval: int = 60):
    """Poll until a Deal ID is issued. Returns the completed activation object."""
    url = f"https://api.clsfy.me/v1/clsfy/activations/{activation_id}"
    headers = {"X-API-Key": api_key}
    while True:
        activation = requests.get(url, headers=headers).json()
        if activation["status"] == "complete":
            print(f"Deal ID: {activation['deal_id']}")
            print(f"Expires in: {activation['ttl_hours']} hours")
            return activation
        elif activation["status"] == "failed":
            raise RuntimeError(f"Activation {activation_id} failed.")
        print(f"Status: {activation['status']} — retrying in {poll_interval}s")
        time.sleep(poll_interval)


def wait_for_report(report_id: int, api_key: str, poll_interval: int = 30):
    """Poll until a report is ready. Returns the completed report object."""
    url = f"https://api.clsfy.me/v1/clsfy/reports/{report_id}"
    headers = {"X-API-Key": api_key}
    while True:
        report = requests.get(url, headers=headers).json()
        if report["status"] == "complete":
            return report
        elif report["status"] == "failed":
            raise RuntimeError(f"Report {report_id} failed.")
        print(f"Status: {report['status']} — retrying in {poll_interval}s")
        time.sleep(poll_interval)


# ---------------------------------------------------------------------------------------------


@pytest.fixture
def server(database_url: str, db: Database, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(data_dir=tmp_path / "var", database_url=database_url).start()
    yield live
    assert live.stop() in (0, -15)


@pytest.fixture
def seed_host(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the seeds' ``https://api.clsfy.me`` requests to the live server."""
    real_get = requests.get

    def get(url: str, **kwargs: Any) -> requests.Response:
        return real_get(url.replace(SEED_HOST, server.base_url), **kwargs)

    monkeypatch.setattr(requests, "get", get)


def _poll(url: str, headers: dict[str, str], field: str = "status") -> dict[str, Any]:
    for _ in range(100):
        body = requests.get(url, headers=headers).json()
        if body[field] == "complete":
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"{url} did not complete: {body}")


@pytest.mark.e2e
def test_seed_flow_against_real_server(
    server: LiveServer, seed_host: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    key = server.first_key
    assert key
    api = f"{server.base_url}/v1/clsfy"
    headers = {"X-API-Key": key}
    # The store already knows these pages (as if the contextual worker had classified them).
    classify_pages(db)
    added = requests.post(f"{api}/inventory", headers=headers, json={"urls": list(PAGES)})
    assert added.json() == {"received": 5, "added": 5, "queued": 0}
    segment = requests.post(
        f"{api}/segments",
        headers=headers,
        json={"name": "AI chips", "rules": {"iab_categories": ["IAB19"], "min_confidence": 0.5}},
    ).json()
    segment = _poll(f"{api}/segments/{segment['id']}", headers)
    assert segment["url_count"] == 2

    # Activate a segment (seed 003, Python tab; host replaced)
    response = requests.post(
        f"{api}/activations",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        json={
            "segment_ids": [segment["id"]],
            "dsp": "The Trade Desk",
            "buyer_seat": "seat-abc123",
            "start_date": "2026-01-15",
            "end_date": "2026-02-15",
            "geo": ["US", "CA"],
            "formats": ["banner", "video"],
            "devices": ["desktop", "mobile"],
            "kpis": [
                {"metric": "ctr", "target": 0.003},
                {"metric": "viewability", "target": 0.70},
            ],
            "budget": {"amount": 50000, "currency": "USD"},
        },
    )
    activation = response.json()
    print(activation["id"])
    assert response.status_code == 201 and activation["status"] == "pending"

    completed = wait_for_deal_id(activation["id"], key, poll_interval=0.1)
    deal_id = completed["deal_id"]
    assert re.fullmatch(rf"classify-ttd-{segment['id']}-[0-9a-f]{{5}}", deal_id)
    out = capsys.readouterr().out
    assert f"Deal ID: {deal_id}" in out and "Expires in: 720 hours" in out

    rows = [
        {
            "date": "2026-01-15",
            "deal_id": deal_id,
            "device": "desktop",
            "format": "banner",
            "domain": "nytimes.com",
            "geo": "US",
            "impressions": 12400,
            "clicks": 37,
            "spend": 24.80,
        },
        {
            "date": "2026-01-15",
            "deal_id": deal_id,
            "device": "mobile",
            "format": "video",
            "domain": "theguardian.com",
            "geo": "CA",
            "impressions": 8750,
            "clicks": 18,
            "spend": 17.50,
        },
    ]
    ingested = requests.post(
        f"{api}/deliveries", headers=headers, json={"batch_id": "d1", "rows": rows}
    )
    assert ingested.status_code == 201

    # Create a report (seed 001, Python tab; host replaced)
    response = requests.post(
        f"{api}/reports",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        json={
            "segment_ids": [segment["id"]],
            "start_date": "2026-01-15",
            "end_date": "2026-02-14",
            "filters": {
                "devices": ["desktop", "mobile"],
                "formats": ["banner", "video"],
                "geo": ["US", "CA"],
            },
            "dimensions": ["date", "device", "domain"],
        },
    )
    report = response.json()
    print(report["id"])
    assert report["status"] == "pending" and report["deal_ids"] is None

    report = wait_for_report(report["id"], key, poll_interval=0.1)
    if report["status"] == "complete":
        print("Summary:", report["summary"])
        print("Rows:", len(report["data"]))
    assert report["deal_ids"] == [deal_id]
    assert report["summary"] == {
        "impressions": 21150,
        "clicks": 55,
        "spend": 42.30,
        "ctr": 0.0026,
        "ecpm": 2.00,
    }
    assert report["data"] == SEED_DATA_ROWS  # the seed's "Data rows" example, exactly
    assert "Rows: 2" in capsys.readouterr().out

    # Past its TTL the deal stays "complete" (the seed's four states), so the seed's own poller
    # still returns at once instead of looping on an unknown status.
    with db.transaction() as session:
        row = session.get(Activation, activation["id"])
        assert row is not None
        row.processed_date = utcnow() - dt.timedelta(hours=721)
    expired = wait_for_deal_id(activation["id"], key, poll_interval=0.1)
    assert (expired["status"], expired["deal_id"], expired["expired"]) == (
        "complete",
        deal_id,
        True,
    )

    response = requests.get(f"{api}/activations/999999", headers=headers)
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "Activation with ID 999999 not found",
    }
