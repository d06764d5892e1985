"""Publisher reports: loads by traffic type, named agents with operator and function."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.worker import Worker
from beacon.pixel.rollups import RollupKey, increment
from beacon.pixel.tasks import report_job

URL = "/v1/pixel/reports/publisher"
D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
FIELDS = [
    "id",
    "status",
    "campaign_id",
    "start_date",
    "end_date",
    "dimensions",
    "created_date",
    "processed_date",
    "summary",
    "data",
]


def new_campaign(client: TestClient, headers: dict[str, str], use_case: str) -> int:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": "p", "use_case": use_case}, headers=headers
    )
    assert response.status_code == 201
    return int(response.json()["id"])


@pytest.fixture
def property_id(client: TestClient, headers: dict[str, str], db: Database) -> int:
    cid = new_campaign(client, headers, "publisher_agent_targeting")
    url = "https://news.example.co.uk/story"

    def key(day: dt.date, device: str, traffic: str = "human", agent: str = "") -> RollupKey:
        return RollupKey(cid, day, "example.co.uk", url, device, "GB", traffic, agent)

    with db.transaction() as session:
        increment(
            session,
            {
                key(D1, "desktop"): 10,
                key(D2, "mobile"): 5,
                key(D1, "desktop", "bot", "Googlebot"): 4,
                key(D1, "desktop", "ai_agent", "GPTBot"): 6,
                key(D2, "desktop", "ai_agent", "GPTBot"): 2,
                key(D2, "desktop", "ai_agent", "ChatGPT-User"): 3,
                key(D2, "desktop", "bot", ""): 1,  # empty User-Agent: a bot with no name
            },
        )
    return cid


def body(campaign: int, **extra: Any) -> dict[str, Any]:
    return {"campaign_id": campaign, "start_date": "2026-03-01", "end_date": "2026-03-02", **extra}


def report(
    client: TestClient, db: Database, settings: Settings, headers: dict[str, str], **request: Any
) -> dict[str, Any]:
    created = client.post(URL, json=request, headers=headers)
    assert created.status_code == 201, created.text
    assert list(created.json()) == FIELDS
    assert created.json()["status"] == "pending"
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    done: dict[str, Any] = client.get(f"{URL}/{created.json()['id']}", headers=headers).json()
    assert done["status"] == "complete", done
    return done


def test_summary_counts_loads_by_traffic_type_and_top_agents(
    client: TestClient, headers: dict[str, str], property_id: int, db: Database, settings: Settings
) -> None:
    done = report(client, db, settings, headers, **body(property_id))
    assert list(done) == [*FIELDS, "pagination"]
    assert done["data"] == []
    assert done["summary"] == {
        "loads": 31,
        "human": 15,
        "bot": 5,
        "ai_agent": 11,
        "unique_agents": 3,
        "top_agents": [
            {"name": "GPTBot", "type": "ai_agent", "operator": "OpenAI",
             "function": "Scrapes data to train OpenAI's products.", "loads": 8},
            {"name": "Googlebot", "type": "bot", "operator": None, "function": None, "loads": 4},
            {"name": "ChatGPT-User", "type": "ai_agent", "operator": "OpenAI",
             "function": "AI Assistants", "loads": 3},
        ],
    }  # fmt: skip


def test_traffic_type_and_agent_dimensions(
    client: TestClient, headers: dict[str, str], property_id: int, db: Database, settings: Settings
) -> None:
    done = report(
        client, db, settings, headers, **body(property_id, dimensions=["agent", "traffic_type"])
    )
    assert done["data"] == [
        {"traffic_type": "human", "agent": None, "loads": 15, "human": 15, "bot": 0, "ai_agent": 0},
        {"traffic_type": "ai_agent", "agent": "GPTBot", "operator": "OpenAI",
         "function": "Scrapes data to train OpenAI's products.", "loads": 8, "human": 0, "bot": 0, "ai_agent": 8},
        {"traffic_type": "bot", "agent": "Googlebot", "operator": None, "function": None,
         "loads": 4, "human": 0, "bot": 4, "ai_agent": 0},
        {"traffic_type": "ai_agent", "agent": "ChatGPT-User", "operator": "OpenAI",
         "function": "AI Assistants", "loads": 3, "human": 0, "bot": 0, "ai_agent": 3},
        {"traffic_type": "bot", "agent": None, "loads": 1, "human": 0, "bot": 1, "ai_agent": 0},
    ]  # fmt: skip


def test_date_device_dimensions_and_filters(
    client: TestClient, headers: dict[str, str], property_id: int, db: Database, settings: Settings
) -> None:
    done = report(client, db, settings, headers, **body(property_id, dimensions=["date", "device"]))
    assert [(r["date"], r["device"], r["loads"], r["human"], r["bot"], r["ai_agent"]) for r in done["data"]] == [
        ("2026-03-01", "desktop", 20, 10, 4, 6),
        ("2026-03-02", "desktop", 6, 0, 1, 5),
        ("2026-03-02", "mobile", 5, 5, 0, 0),
    ]  # fmt: skip
    filtered = report(
        client,
        db,
        settings,
        headers,
        **body(property_id, dimensions=["domain", "geo"], filters={"traffic_types": ["ai_agent", "bot"], "devices": ["desktop"]}),
    )  # fmt: skip
    assert filtered["summary"]["loads"] == 16
    assert filtered["summary"]["human"] == 0
    assert filtered["data"] == [
        {"domain": "example.co.uk", "geo": "GB", "loads": 16, "human": 0, "bot": 5, "ai_agent": 11}
    ]


def test_errors_mirror_campaign_reports(
    client: TestClient, headers: dict[str, str], property_id: int
) -> None:
    campaign = new_campaign(client, headers, "campaign_reporting")
    response = client.post(URL, json=body(campaign), headers=headers)
    assert response.status_code == 422
    assert "/v1/pixel/reports/campaign" in response.json()["message"]
    response = client.post(URL, json=body(property_id, dimensions=["operator"]), headers=headers)
    assert response.status_code == 422 and "dimensions[0]" in response.json()["message"]
    response = client.post(
        URL, json=body(property_id, include_classification=True), headers=headers
    )
    assert response.status_code == 400
    assert client.get(f"{URL}/999", headers=headers).json() == {
        "error": "not_found",
        "message": "Publisher report with ID 999 not found",
    }
    first = client.post(URL, json=body(property_id), headers=headers)
    assert client.post(URL, json=body(property_id), headers=headers).status_code == 200
    assert (
        client.get(f"/v1/pixel/reports/campaign/{first.json()['id']}", headers=headers).status_code
        == 404
    )
    assert (
        client.get(
            f"{URL}/{first.json()['id']}", params={"limit": 10001}, headers=headers
        ).status_code
        == 422
    )
