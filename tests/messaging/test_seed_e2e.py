"""End to end: every code example of seed 004, unchanged but for the base URL and token,
against a real ``beacon serve`` process with a client made by ``beacon clients create``."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update
from tests.support import LiveServer, run_cli

from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.messaging.models import Campaign, Contact, Execution, Recipient

BASE = ""  # set by the fixture: the live server's /public/v1


# --- seed 004, verbatim but for the base URL ------------------------------------------------


def list_published_campaigns(token: str, channel: str = None) -> list[dict]:  # type: ignore[assignment]  # noqa: RUF013
    params = {"status": "published", "limit": 100, "sortBy": "updatedAt", "sortDirection": "desc"}
    if channel:
        params["channel"] = channel
    r = requests.get(
        f"{BASE}/campaigns",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    body = r.json()
    return body["data"]  # list of campaign summaries


def is_campaign_configured(campaign_id: str, token: str) -> bool:
    r = requests.get(
        f"{BASE}/campaigns/{campaign_id}/summary",
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    data = r.json()["data"]
    has_audience = len(data["audience"]["included"]) > 0
    has_template = data["content"]["template"] is not None
    return has_audience and has_template


TERMINAL_STATES = {"completed", "failed"}


def wait_for_execution(
    campaign_id: str, token: str, poll_interval: float = 10.0, max_polls: int = 60
) -> str:
    """
    Polls GET /status until execution reaches a terminal state.
    Returns the final execution.state value.
    """
    for attempt in range(max_polls):
        r = requests.get(
            f"{BASE}/campaigns/{campaign_id}/status",
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        data = r.json()["data"]
        state = data["execution"]["state"]
        print(f"[{attempt + 1}/{max_polls}] state: {state}")
        if state in TERMINAL_STATES:
            return state
        time.sleep(poll_interval)
    raise TimeoutError(
        f"Campaign {campaign_id} did not reach terminal state after {max_polls} polls"
    )


def get_metrics_row(campaign_id: str, token: str) -> dict:
    """
    Returns a flat dict suitable for loading into a data warehouse or BI table.
    Requires analytics:read scope.
    """
    r = requests.get(
        f"{BASE}/campaigns/{campaign_id}/metrics",
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    data = r.json()["data"]
    counts = data["counts"]
    return {
        "campaign_id": data["campaignId"],
        "pulled_at": datetime.now(UTC).isoformat(),
        **counts,  # scheduled, hydrated, composed, injected, sent, failed
    }


def pull_all_metrics(token: str, channel: str = None) -> list[dict]:  # type: ignore[assignment]  # noqa: RUF013
    """
    Pages through all published campaigns and pulls metrics for each.
    Requires campaigns:read + analytics:read.
    """
    base = BASE
    headers = {"Authorization": f"Bearer {token}"}

    # Step 1: collect all published campaign IDs
    campaign_ids = []
    params = {"status": "published", "limit": 100}
    if channel:
        params["channel"] = channel
    offset, total = 0, None
    while total is None or offset < total:
        r = requests.get(f"{base}/campaigns", params={**params, "offset": offset}, headers=headers)
        r.raise_for_status()
        body = r.json()
        total = body["pagination"]["total"]
        campaign_ids.extend(c["campaignId"] for c in body["data"])
        offset += body["pagination"]["limit"]

    # Step 2: fetch metrics for each
    results = []
    for cid in campaign_ids:
        r = requests.get(f"{base}/campaigns/{cid}/metrics", headers=headers)
        if r.status_code in (404, 409):
            continue  # deleted or unsupported type
        r.raise_for_status()
        results.append(r.json()["data"])
        time.sleep(0.05)  # stay within rate limits
    return results


def fetch_summary_safe(campaign_id: str, token: str):  # type: ignore[no-untyped-def]
    r = requests.get(
        f"{BASE}/campaigns/{campaign_id}/summary",
        headers={"Authorization": f"Bearer {token}"},
    )
    if r.status_code == 409:
        error = r.json().get("error", {})
        campaign_type = error.get("details", {}).get("campaignType", "unknown")
        print(f"Summary not available for campaign type: {campaign_type}")
        return None
    r.raise_for_status()
    return r.json()["data"]


# --- the test --------------------------------------------------------------------------------


@pytest.fixture
def server(database_url: str, db: Database, tmp_path: Path) -> LiveServer:
    live = LiveServer(data_dir=tmp_path / "var", database_url=database_url).start()
    yield live  # type: ignore[misc]
    assert live.stop() in (0, -15)


def _token(server: LiveServer, database_url: str) -> str:
    env = {"BEACON_DATA_DIR": str(server.data_dir), "BEACON_DATABASE_URL": database_url}
    created = run_cli(
        "clients",
        "create",
        "--account",
        "acme",
        "--scopes",
        "campaigns:read campaigns:write analytics:read audiences:read audiences:write "
        "templates:read templates:write",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    credentials = json.loads(created.stdout.strip().splitlines()[-1])
    response = requests.post(
        f"{server.base_url}/public/v1/oauth/token",
        data={"grant_type": "client_credentials", **credentials},
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    return str(response.json()["access_token"])


def _setup(token: str) -> dict[str, list[str]]:
    """Contacts, a segment, a template; three published emails, one draft, one sms."""
    headers = {"Authorization": f"Bearer {token}"}
    contacts = [
        {"externalId": f"c{i}", "email": f"p{i}@example.com", "firstName": f"P{i}"}
        for i in range(4)
    ]
    assert requests.post(f"{BASE}/contacts", json={"contacts": contacts}, headers=headers).ok
    segment = requests.post(
        f"{BASE}/segments",
        json={"name": "All", "rules": {"all": [{"field": "email", "op": "exists"}]}},
        headers=headers,
    ).json()["data"]
    template = requests.post(
        f"{BASE}/templates",
        json={
            "name": "Spring",
            "channel": "email",
            "status": "published",
            "content": {
                "subject": "Hi {{ contact.firstName }}",
                "html": "<a href='{{ unsubscribe_url }}'>unsubscribe</a>",
                "fromAddress": "news@example.com",
            },
        },
        headers=headers,
    ).json()["data"]
    ids: dict[str, list[str]] = {"published": [], "draft": []}
    for i in range(4):
        created = requests.post(
            f"{BASE}/campaigns",
            json={
                "name": f"Campaign {i}",
                "channel": "email",
                "audience": {"included": [segment["id"]]},
                "templateId": template["id"],
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["data"]["campaignId"]
        if i < 3:
            published = requests.post(f"{BASE}/campaigns/{campaign_id}/publish", headers=headers)
            assert published.status_code == 200, published.text
            ids["published"].append(campaign_id)
        else:
            ids["draft"].append(campaign_id)
    sms = requests.post(
        f"{BASE}/campaigns", json={"name": "SMS", "channel": "sms"}, headers=headers
    ).json()["data"]
    ids["draft"].append(sms["campaignId"])
    return ids


def _complete_execution(db: Database, campaign_id: str) -> None:
    """What part 2's engine will do: a finished run with one row per recipient."""
    now = utcnow()
    with db.transaction() as session:
        campaign = session.get(Campaign, uuid.UUID(campaign_id))
        assert campaign is not None
        execution = Execution(
            account_id=campaign.account_id,
            campaign_id=campaign.id,
            status="completed",
            trigger="send_now",
            scheduled_for=now - timedelta(minutes=5),
            started_at=now - timedelta(minutes=5),
            completed_at=now,
        )
        session.add(execution)
        session.flush()
        contact_ids = session.scalars(
            select(Contact.id).where(Contact.account_id == campaign.account_id)
        ).all()
        stages = ["sent", "sent", "sent", "failed"]
        for contact_id, stage in zip(contact_ids, stages, strict=True):
            session.add(
                Recipient(
                    execution_id=execution.id,
                    contact_id=contact_id,
                    stage=stage,
                    failed_stage="sent" if stage == "failed" else None,
                )
            )


def test_seed_examples_against_real_server(
    server: LiveServer, database_url: str, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    global BASE
    BASE = f"{server.base_url}/public/v1"
    token = _token(server, database_url)
    ids = _setup(token)

    # Getting campaign IDs: list published, then the offset pagination loop verbatim
    published = list_published_campaigns(token, channel="email")
    assert {c["campaignId"] for c in published} == set(ids["published"])
    url = f"{BASE}/campaigns"
    params = {"status": "published", "limit": 2}
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[str] = []
    offset, total = 0, None
    while total is None or offset < total:
        r = requests.get(url, params={**params, "offset": offset}, headers=headers)
        body = r.json()
        total = body["pagination"]["total"]
        offset += body["pagination"]["limit"]
        seen.extend(c["campaignId"] for c in body["data"])
    assert sorted(seen) == sorted(ids["published"])

    # 1 - configuration readiness
    assert is_campaign_configured(ids["published"][0], token) is True
    assert is_campaign_configured(ids["draft"][1], token) is False  # sms: no audience, template

    # 2 - monitor execution state (a finished run written as the engine will write it)
    _complete_execution(db, ids["published"][0])
    assert wait_for_execution(ids["published"][0], token, poll_interval=0.1, max_polls=3) == (
        "completed"
    )
    assert "[1/3] state: completed" in capsys.readouterr().out
    with pytest.raises(TimeoutError):
        wait_for_execution(ids["published"][1], token, poll_interval=0.05, max_polls=2)

    # 3 - metrics row
    row = get_metrics_row(ids["published"][0], token)
    assert row["campaign_id"] == ids["published"][0]
    assert {
        k: row[k] for k in ("scheduled", "hydrated", "composed", "injected", "sent", "failed")
    } == {
        "scheduled": 4,
        "hydrated": 4,
        "composed": 4,
        "injected": 4,
        "sent": 3,
        "failed": 1,
    }

    # 4 - metrics for every published campaign; an unsupported type is skipped (409)
    with db.transaction() as session:
        session.execute(
            update(Campaign)
            .where(Campaign.id == uuid.UUID(ids["published"][2]))
            .values(campaign_type="triggered")
        )
    results = pull_all_metrics(token, channel="email")
    assert sorted(r["campaignId"] for r in results) == sorted(ids["published"][:2])

    # Unsupported campaign types: 409 with details.campaignType
    assert fetch_summary_safe(ids["published"][2], token) is None
    assert "Summary not available for campaign type: triggered" in capsys.readouterr().out
    summary = fetch_summary_safe(ids["published"][0], token)
    assert summary["latestExecution"]["status"] == "completed"
    assert summary["links"]["self"] == f"/public/v1/campaigns/{ids['published'][0]}/summary"
