"""Pixel campaign registration, against every example of seed 002."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from beacon.core.db import Database
from beacon.pixel import service as pixel_service
from beacon.pixel.rollups import RollupKey, increment

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SEED_CREATE = {
    "name": "H1 2026 EV Campaign",
    "use_case": "campaign_optimization",
    "description": "Classify curation deal tracking for EV segment",
}


def create(client: TestClient, headers: dict[str, str], **overrides: object) -> dict[str, object]:
    response = client.post(
        "/v1/pixel/campaigns", json={**SEED_CREATE, **overrides}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_register_campaign_matches_seed_response(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = create(client, headers)
    assert set(body) == {
        "id",
        "name",
        "use_case",
        "description",
        "created_date",
        "last_updated_date",
    }
    assert isinstance(body["id"], int)
    assert body["name"] == "H1 2026 EV Campaign"
    assert body["use_case"] == "campaign_optimization"
    assert body["description"] == "Classify curation deal tracking for EV segment"
    assert TIMESTAMP.match(str(body["created_date"]))
    assert body["created_date"] == body["last_updated_date"]


def test_list_campaigns_oldest_first_with_null_description(
    client: TestClient, headers: dict[str, str]
) -> None:
    first = create(
        client,
        headers,
        name="H2 2025 Winter Campaign",
        use_case="campaign_reporting",
        description=None,
    )
    second = create(client, headers)
    response = client.get("/v1/pixel/campaigns", headers=headers)
    assert response.status_code == 200
    listed = response.json()
    assert [c["id"] for c in listed] == [first["id"], second["id"]]
    assert listed[0]["description"] is None
    assert listed[0]["use_case"] == "campaign_reporting"


def test_description_is_optional(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": "No description", "use_case": "other"}, headers=headers
    )
    assert response.status_code == 201
    assert response.json()["description"] is None


def test_get_campaign(client: TestClient, headers: dict[str, str]) -> None:
    created = create(client, headers)
    response = client.get(f"/v1/pixel/campaigns/{created['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == created


def test_update_is_partial_and_moves_last_updated(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = create(client, headers)
    time.sleep(1.05)
    response = client.put(
        f"/v1/pixel/campaigns/{created['id']}",
        json={
            "name": "H1 2026 EV Campaign — Updated",
            "description": "Updated tracking configuration",
        },
        headers=headers,
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "H1 2026 EV Campaign — Updated"
    assert updated["description"] == "Updated tracking configuration"
    assert updated["use_case"] == "campaign_optimization"
    assert updated["created_date"] == created["created_date"]
    assert updated["last_updated_date"] > created["last_updated_date"]
    again = client.get(f"/v1/pixel/campaigns/{created['id']}", headers=headers).json()
    assert again == updated


def test_update_use_case_and_clear_description(client: TestClient, headers: dict[str, str]) -> None:
    created = create(client, headers)
    response = client.put(
        f"/v1/pixel/campaigns/{created['id']}",
        json={"use_case": "publisher_bot_detection", "description": None},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["use_case"] == "publisher_bot_detection"
    assert response.json()["description"] is None
    assert response.json()["name"] == SEED_CREATE["name"]


def test_all_five_use_cases_accepted(client: TestClient, headers: dict[str, str]) -> None:
    for use_case in (
        "campaign_optimization",
        "campaign_reporting",
        "publisher_bot_detection",
        "publisher_agent_targeting",
        "other",
    ):
        assert create(client, headers, use_case=use_case)["use_case"] == use_case


def test_name_at_limits(client: TestClient, headers: dict[str, str]) -> None:
    assert create(client, headers, name="x")["name"] == "x"
    assert create(client, headers, name="y" * 200)["name"] == "y" * 200


def test_tenant_isolation(
    client: TestClient, key_for: Callable[[str], str], headers: dict[str, str]
) -> None:
    created = create(client, headers)
    other = {"X-API-Key": key_for("globex")}
    missing = client.get("/v1/pixel/campaigns/999999", headers=other)
    foreign = client.get(f"/v1/pixel/campaigns/{created['id']}", headers=other)
    assert foreign.status_code == 404
    assert foreign.json() == {
        "error": "not_found",
        "message": f"Campaign with ID {created['id']} not found",
    }
    assert missing.json()["error"] == foreign.json()["error"]
    assert client.get("/v1/pixel/campaigns", headers=other).json() == []
    put = client.put(f"/v1/pixel/campaigns/{created['id']}", json={"name": "stolen"}, headers=other)
    assert put.status_code == 404
    assert (
        client.get(f"/v1/pixel/campaigns/{created['id']}", headers=headers).json()["name"]
        == SEED_CREATE["name"]
    )


def test_impressions_of_the_last_30_days_end_today(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    """The campaigns list's figures cover the same days as the dashboard's default range: a
    load dated tomorrow (a server-side event may be up to an hour ahead, across midnight UTC)
    is in neither, until tomorrow."""
    created = client.post(
        "/v1/pixel/campaigns", json={"name": "c", "use_case": "other"}, headers=headers
    )
    cid = int(created.json()["id"])
    today = dt.date(2026, 3, 10)
    with db.transaction() as session:
        increment(
            session,
            {
                RollupKey(cid, today - dt.timedelta(days=30), "a.com"): 1,  # before the 30 days
                RollupKey(cid, today - dt.timedelta(days=29), "a.com"): 2,
                RollupKey(cid, today, "a.com"): 4,
                RollupKey(cid, today + dt.timedelta(days=1), "a.com"): 8,
            },
        )
    with db.transaction() as session:
        figures = pixel_service.campaign_impressions(
            session=session, campaign_ids=[cid], today=today
        )
    assert (figures[cid].today, figures[cid].last_30_days) == (4, 6)
