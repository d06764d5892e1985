"""Dates and times far outside any real use (year 1, year 9999 with a zone that pushes it past
Python's range) are a 422 naming the accepted range in each family's envelope, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError
from tests.messaging.conftest import token_for as token_for

from beacon.core.timefmt import EARLIEST, LATEST, ISODateTime

RANGE = f"expected a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}"


@pytest.fixture
def strict(app: FastAPI) -> TestClient:
    """A client that answers a server error with its response (a 500 fails the assertions)."""
    return TestClient(app, raise_server_exceptions=False)


def _campaign(client: TestClient, headers: dict[str, str]) -> int:
    made = client.post(
        "/v1/pixel/campaigns",
        json={"name": "site", "use_case": "publisher_bot_detection"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"]
)
def test_a_pixel_event_out_of_range(
    strict: TestClient, headers: dict[str, str], timestamp: str
) -> None:
    cid = _campaign(strict, headers)
    event = {"timestamp": timestamp, "url": "https://example.com/a"}
    response = strict.post(
        "/v1/pixel/events", json={"campaign_id": cid, "events": [event]}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "validation_error",
        "message": f"Invalid value for 'events[0].timestamp': {RANGE}",
    }


def test_the_range_edges_are_accepted(strict: TestClient, headers: dict[str, str]) -> None:
    edges = TypeAdapter(ISODateTime)
    assert edges.validate_python("1970-01-01T00:00:00-14:00").year == 1970
    assert edges.validate_python("2999-12-31T23:59:59+14:00").year == 2999
    # by its UTC day too: 2999-12-31T23:59:59-12:00 is 3000-01-01 in UTC
    with pytest.raises(ValidationError, match="expected a date from 1970-01-01 to 2999-12-31"):
        edges.validate_python("2999-12-31T23:59:59-12:00")
    # and by the UTC instant alone: the day as written once refused an instant in range
    for inside in (
        "3000-01-01T13:59:59.999999+14:00",  # 2999-12-31T23:59:59.999999Z
        "2999-12-31T11:59:59-12:00",
        "1970-01-01T14:00:00+14:00",  # 1970-01-01T00:00:00Z
        "1969-12-31T12:00:00-12:00",
    ):
        assert edges.validate_python(inside).tzinfo is not None, inside
    for outside in (
        "3000-01-01T14:00:00+14:00",
        "2999-12-31T12:00:00-12:00",
        "1970-01-01T13:59:59+14:00",
        "1969-12-31T11:59:59-12:00",
    ):
        with pytest.raises(ValidationError, match=RANGE):
            edges.validate_python(outside)
    with pytest.raises(ValidationError, match="expected date-time, use ISO 8601"):
        edges.validate_python(1_700_000_000)  # a Unix time is not an ISO 8601 date-time
    cid = _campaign(strict, headers)
    stats = strict.get(
        f"/v1/pixel/campaigns/{cid}/stats",
        params={"start_date": "2999-12-01", "end_date": "2999-12-31"},
        headers=headers,
    )
    assert stats.status_code == 200, stats.text


def test_stats_dates_out_of_range(strict: TestClient, headers: dict[str, str]) -> None:
    cid = _campaign(strict, headers)
    response = strict.get(
        f"/v1/pixel/campaigns/{cid}/stats",
        params={"start_date": "9999-12-01", "end_date": "9999-12-31"},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["message"] == f"Invalid value for 'start_date': {RANGE}"


@pytest.mark.parametrize(
    ("send_at", "timezone"),
    [
        ("9999-12-31T23:59:59", "America/New_York"),
        ("0001-01-01T00:00:00", "Asia/Tokyo"),
        ("9999-12-31T23:00:00Z", "Pacific/Kiritimati"),
    ],
)
def test_a_messaging_schedule_out_of_range(
    app: FastAPI, token_for: Callable[..., dict[str, str]], send_at: str, timezone: str
) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    auth = token_for()
    schedule = {"mode": "at", "sendAt": send_at, "timezone": timezone}
    response = client.post(
        "/public/v1/campaigns",
        json={"name": "Far", "channel": "email", "schedule": schedule},
        headers=auth,
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"] == f"Invalid value for 'schedule.sendAt': {RANGE}"
    listed = client.get("/public/v1/campaigns", headers=auth)
    assert listed.status_code == 200 and listed.json()["data"] == []  # nothing stored
