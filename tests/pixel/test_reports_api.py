"""Campaign report requests: validation, dedup, isolation, failures and worker recovery."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import claim_next
from beacon.core.retry import RetryStrategy
from beacon.core.worker import Worker
from beacon.pixel.reports.models import PixelReport
from beacon.pixel.rollups import RollupKey, increment
from beacon.pixel.tasks import report_job

URL = "/v1/pixel/reports/campaign"


def new_campaign(client: TestClient, headers: dict[str, str], use_case: str) -> int:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": "c", "use_case": use_case}, headers=headers
    )
    assert response.status_code == 201
    return int(response.json()["id"])


@pytest.fixture
def campaign(client: TestClient, headers: dict[str, str], db: Database) -> int:
    cid = new_campaign(client, headers, "campaign_optimization")
    with db.transaction() as session:
        increment(
            session,
            {
                RollupKey(
                    cid, dt.date(2026, 1, d), "a.com", f"https://a.com/{d}", "mobile", "FR"
                ): d
                for d in range(1, 11)
            },
        )
    return cid


def body(campaign: int, **extra: Any) -> dict[str, Any]:
    return {"campaign_id": campaign, "start_date": "2026-01-01", "end_date": "2026-01-31", **extra}


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error", "message"}
    return str(payload["message"])


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"dimensions": ["date", "country"]}, "dimensions[1]"),
        # the repeat is named, as every request list names it (core.lists)
        ({"dimensions": ["date", "date"]}, "dimensions[1]"),
        ({"dimensions": ["domain", "date", "domain"]}, "dimensions[2]"),
        ({"filters": {"domain": ["a.com"]}}, "filters"),
        ({"filters": {"devices": ["phone"]}}, "filters.devices[0]"),
        ({"filters": {"geo": ["XX"]}}, "filters.geo"),
        ({"filters": {"geo": ["USA"]}}, "filters.geo"),
        ({"filters": {"domains": ["not a domain"]}}, "filters.domains"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-31"}, "end_date"),
        ({"start_date": "2025-01-01", "end_date": "2026-01-02"}, "end_date"),
    ],
)
def test_invalid_values_are_422_naming_the_field(
    client: TestClient, headers: dict[str, str], campaign: int, extra: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json=body(campaign, **extra), headers=headers)
    message = error(response, 422)
    assert response.json()["error"] == "validation_error"
    assert f"'{field}'" in message


def test_a_leap_year_of_366_days_is_allowed(
    client: TestClient, headers: dict[str, str], campaign: int
) -> None:
    response = client.post(
        URL, json=body(campaign, start_date="2028-01-01", end_date="2028-12-31"), headers=headers
    )
    assert response.status_code == 201


def test_unknown_filter_key_message_lists_supported_keys(
    client: TestClient, headers: dict[str, str], campaign: int
) -> None:
    message = error(client.post(URL, json=body(campaign, filters={"os": []}), headers=headers), 422)
    assert "unknown filter key 'os'" in message
    assert "domains, devices, geo" in message


@pytest.mark.parametrize(
    "payload",
    [
        {"start_date": "2026-01-01", "end_date": "2026-01-31"},
        {"campaign_id": "abc", "start_date": "2026-01-01", "end_date": "2026-01-31"},
        {"campaign_id": 1, "start_date": "yesterday", "end_date": "2026-01-31"},
        {"campaign_id": 1, "start_date": "2026-01-01", "end_date": "2026-01-31", "extra": 1},
    ],
)
def test_malformed_requests_are_400(
    client: TestClient, headers: dict[str, str], payload: dict[str, Any]
) -> None:
    error(client.post(URL, json=payload, headers=headers), 400)


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "false"])
def test_include_classification_must_be_a_json_boolean(
    client: TestClient, headers: dict[str, str], campaign: int, value: object
) -> None:
    response = client.post(URL, json=body(campaign, include_classification=value), headers=headers)
    assert error(response, 400) == "Invalid type for 'include_classification': expected boolean"


def test_publisher_campaign_points_to_publisher_reports(
    client: TestClient, headers: dict[str, str]
) -> None:
    cid = new_campaign(client, headers, "publisher_bot_detection")
    message = error(client.post(URL, json=body(cid), headers=headers), 422)
    assert "/v1/pixel/reports/publisher" in message
    assert "campaign_id" in message


def test_other_use_case_has_no_reports(client: TestClient, headers: dict[str, str]) -> None:
    cid = new_campaign(client, headers, "other")
    assert "use case 'other'" in error(client.post(URL, json=body(cid), headers=headers), 422)


def test_foreign_or_missing_campaign_and_report_are_404(
    client: TestClient,
    headers: dict[str, str],
    key_for: Callable[[str], str],
    campaign: int,
) -> None:
    intruder = {"X-API-Key": key_for("intruder")}
    message = error(client.post(URL, json=body(campaign), headers=intruder), 404)
    assert message == f"Campaign with ID {campaign} not found"
    created = client.post(URL, json=body(campaign), headers=headers).json()
    message = error(client.get(f"{URL}/{created['id']}", headers=intruder), 404)
    assert message == f"Campaign report with ID {created['id']} not found"
    assert error(client.get(f"{URL}/999", headers=headers), 404) == (
        "Campaign report with ID 999 not found"
    )
    error(client.get(f"/v1/pixel/reports/publisher/{created['id']}", headers=headers), 404)
    error(client.get(f"{URL}/abc", headers=headers), 400)
    error(client.get(f"{URL}/{created['id']}"), 401)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 10001}, 422),
        ({"limit": 0}, 422),
        ({"offset": -1}, 422),
        ({"limit": "many"}, 400),
        ({"limit": 10000}, 200),
    ],
)
def test_page_size_limits(
    client: TestClient,
    headers: dict[str, str],
    campaign: int,
    params: dict[str, Any],
    status: int,
) -> None:
    created = client.post(URL, json=body(campaign), headers=headers).json()
    response = client.get(f"{URL}/{created['id']}", params=params, headers=headers)
    assert response.status_code == status, response.text
    if status == 422:
        assert "limit" in response.json()["message"] or "offset" in response.json()["message"]


def test_identical_request_in_flight_returns_the_existing_report(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    request = body(
        campaign,
        dimensions=["date", "domain"],
        filters={"geo": ["FR", "DE"], "devices": ["mobile"]},
    )
    first = client.post(URL, json=request, headers=headers)
    assert first.status_code == 201
    # filters are sets (stored normalised, not echoed): another spelling is the same request
    same = {**request, "filters": {"geo": ["de", "fr"], "devices": ["mobile"]}}
    second = client.post(URL, json=same, headers=headers)
    assert second.status_code == 200
    assert second.json() == first.json()
    # the report echoes its dimensions as asked: another order is another report
    reordered = client.post(
        URL, json={**request, "dimensions": ["domain", "date"]}, headers=headers
    )
    assert reordered.status_code == 201, reordered.json()
    assert reordered.json()["dimensions"] == ["domain", "date"]
    different = client.post(URL, json={**request, "include_classification": True}, headers=headers)
    assert different.status_code == 201
    assert different.json()["id"] != first.json()["id"]
    with db.transaction() as session:  # still deduplicated while processing
        session.get(PixelReport, first.json()["id"]).status = "processing"  # type: ignore[union-attr]
    assert client.post(URL, json=request, headers=headers).status_code == 200
    with db.transaction() as session:
        session.get(PixelReport, first.json()["id"]).status = "pending"  # type: ignore[union-attr]
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    again = client.post(URL, json=request, headers=headers)  # done: a new request computes anew
    assert again.status_code == 201
    assert again.json()["id"] not in (first.json()["id"], different.json()["id"])
    assert reordered.json()["id"] not in (first.json()["id"], again.json()["id"])


def test_a_report_too_large_fails_saying_why(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    created = client.post(URL, json=body(campaign, dimensions=["date"]), headers=headers).json()
    small = settings.model_copy(update={"report_max_rows": 3})
    Worker(db=db, kinds=[report_job(small)]).run_until_idle()
    failed = client.get(f"{URL}/{created['id']}", headers=headers).json()
    assert failed["status"] == "failed"
    assert failed["summary"] is None and failed["data"] is None
    assert "more than 3 rows" in failed["error"]
    assert "pagination" not in failed


def test_a_worker_killed_mid_report_is_recovered(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    created = client.post(URL, json=body(campaign, dimensions=["date"]), headers=headers).json()
    kind = report_job(settings)
    short = dataclasses.replace(kind, lease_seconds=0.2)
    # The dead worker claims the report and never finishes it (as after kill -9).
    assert claim_next(db=db, kind=short, worker_id="dead-worker") == created["id"]
    processing = client.get(f"{URL}/{created['id']}", headers=headers).json()
    assert processing["status"] == "processing"
    assert processing["summary"] is None and processing["data"] is None
    Worker(db=db, kinds=[kind], worker_id="live").run_until_idle()
    assert client.get(f"{URL}/{created['id']}", headers=headers).json()["status"] == "processing"
    time.sleep(0.3)  # the dead worker's lease expires
    Worker(db=db, kinds=[kind], worker_id="live").run_until_idle()
    done = client.get(f"{URL}/{created['id']}", headers=headers).json()
    assert done["status"] == "complete"
    assert done["summary"]["impressions"] == 55
    assert [r["impressions"] for r in done["data"]] == list(range(1, 11))
    with db.transaction() as session:
        row = session.get(PixelReport, created["id"])
        assert row is not None and row.attempts == 2 and row.lease_owner is None


def test_reports_that_keep_losing_their_worker_fail_after_bounded_attempts(
    client: TestClient, headers: dict[str, str], campaign: int, db: Database, settings: Settings
) -> None:
    created = client.post(URL, json=body(campaign), headers=headers).json()
    short = dataclasses.replace(
        report_job(settings), lease_seconds=0.05, retry=RetryStrategy(max_attempts=2)
    )
    for n in range(2):
        assert claim_next(db=db, kind=short, worker_id=f"dead-{n}") == created["id"]
        time.sleep(0.1)
    assert claim_next(db=db, kind=short, worker_id="dead-2") is None
    failed = client.get(f"{URL}/{created['id']}", headers=headers).json()
    assert failed["status"] == "failed"
    assert "gave up after 2 attempts" in failed["error"]
