"""End to end: the real server process driven with the seed's Python examples (requests)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from tests.support import LiveServer

from beacon.core.db import Database


@pytest.fixture
def server(database_url: str, db: Database, tmp_path: Path) -> LiveServer:
    live = LiveServer(data_dir=tmp_path / "var", database_url=database_url).start()
    yield live  # type: ignore[misc]
    assert live.stop() in (0, -15)


def test_seed_examples_against_real_server(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert server.first_key, "the first start prints a ready API key"
    api = server.base_url
    key = server.first_key

    # Register a campaign (seed 002, Python tab, host replaced)
    response = requests.post(
        f"{api}/v1/pixel/campaigns",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        json={
            "name": "H1 2026 EV Campaign",
            "use_case": "campaign_optimization",
            "description": "Classify curation deal tracking for EV segment",
        },
    )
    campaign = response.json()
    print(campaign["id"])
    assert response.status_code == 201

    # List campaigns
    response = requests.get(f"{api}/v1/pixel/campaigns", headers={"X-API-Key": key})
    campaigns = response.json()
    for c in campaigns:
        print(f"{c['id']}: {c['name']} ({c['use_case']})")
    out = capsys.readouterr().out
    assert f"{campaign['id']}: H1 2026 EV Campaign (campaign_optimization)" in out

    # Update a campaign
    response = requests.put(
        f"{api}/v1/pixel/campaigns/{campaign['id']}",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        json={
            "name": "H1 2026 EV Campaign — Updated",
            "description": "Updated tracking configuration",
        },
    )
    updated = response.json()
    assert updated["name"] == "H1 2026 EV Campaign — Updated"
    assert updated["use_case"] == "campaign_optimization"

    # Error response
    response = requests.get(f"{api}/v1/pixel/campaigns/999999", headers={"X-API-Key": key})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Campaign with ID 999999 not found"}
    assert requests.get(f"{api}/readyz").status_code == 200
