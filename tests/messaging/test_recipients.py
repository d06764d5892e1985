"""GET /campaigns/{id}/executions/{executionId}/recipients: why a recipient failed, paged."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.messaging.engine_helpers import (
    Mailbox,
    person,
    run_execution,
    seed_campaign,
    send_now,
    smtp_server,
)
from tests.messaging.helpers import API

from beacon.core.config import Settings
from beacon.core.db import Database

Bearer = Callable[..., dict[str, str]]


@pytest.fixture
def sent_run(db: Database, settings: Settings, token_for: Bearer) -> tuple[uuid.UUID, uuid.UUID]:
    """A finished run of three: one sent, one bounced (550), one without an email address."""
    token_for()  # the account exists before the campaign
    people = [
        person(0),
        person(1, email="bounce1@example.com"),
        person(2, externalId="no-email"),
    ]
    del people[2]["email"]
    campaign_id = seed_campaign(db, people=people)
    with smtp_server(Mailbox()) as url:
        execution_id = send_now(db, campaign_id)
        run_execution(db, settings.model_copy(update={"smtp_url": SecretStr(url)}))
    return campaign_id, execution_id


def _url(campaign_id: uuid.UUID, execution_id: uuid.UUID | str) -> str:
    return f"{API}/campaigns/{campaign_id}/executions/exec-{execution_id}/recipients"


def _get(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_failed_recipients_with_stage_and_reason(
    client: TestClient, token_for: Bearer, sent_run: tuple[uuid.UUID, uuid.UUID]
) -> None:
    url = _url(*sent_run)
    body = _get(client, url, token_for(), status="failed")
    assert body["pagination"] == {"total": 2, "limit": 20, "offset": 0}
    by_stage = {r["stage"]: r for r in body["data"]}
    bounced, no_email = by_stage["sent"], by_stage["hydrated"]
    assert set(bounced) == {
        "recipientId", "contactId", "channel", "address", "addressMasked", "status", "stage",
        "reason", "updatedAt",
    }  # fmt: skip
    assert bounced["channel"] == "email" and bounced["status"] == "failed"
    assert bounced["stage"] == "sent" and "550" in bounced["reason"]
    assert bounced["address"] == "bounce1@example.com" and bounced["addressMasked"] is False
    assert bounced["updatedAt"].endswith("Z")
    assert no_email["stage"] == "hydrated" and no_email["reason"] == "contact has no email address"
    assert no_email["address"] is None
    everyone = _get(client, url, token_for())
    assert everyone["pagination"]["total"] == 3
    assert sorted(r["status"] for r in everyone["data"]) == ["failed", "failed", "sent"]
    (sent,) = [r for r in everyone["data"] if r["status"] == "sent"]
    assert sent["stage"] == "sent" and sent["reason"] is None
    assert [r["recipientId"] for r in everyone["data"]] == sorted(
        r["recipientId"] for r in everyone["data"]
    )
    assert _get(client, url, token_for(), status="scheduled")["data"] == []


def test_pages_like_the_other_lists(
    client: TestClient, token_for: Bearer, sent_run: tuple[uuid.UUID, uuid.UUID]
) -> None:
    url, auth = _url(*sent_run), token_for()
    first = _get(client, url, auth, status="failed", limit=1)
    second = _get(client, url, auth, status="failed", limit=1, offset=1)
    assert first["pagination"] == {"total": 2, "limit": 1, "offset": 0}
    assert second["pagination"] == {"total": 2, "limit": 1, "offset": 1}
    assert first["data"][0]["recipientId"] < second["data"][0]["recipientId"]
    for params in ({"status": "bounced"}, {"limit": 0}, {"limit": 101}, {"offset": -1}):
        refused = client.get(url, headers=auth, params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert refused.json()["success"] is False
    assert "'failed'" in client.get(url, headers=auth, params={"status": "x"}).text


def test_addresses_are_masked_without_audiences_read(
    client: TestClient, token_for: Bearer, sent_run: tuple[uuid.UUID, uuid.UUID]
) -> None:
    body = _get(client, _url(*sent_run), token_for(scopes="campaigns:read"), status="failed")
    (bounced,) = [r for r in body["data"] if r["stage"] == "sent"]
    assert bounced["address"] == "b***@example.com" and bounced["addressMasked"] is True
    assert "bounce1" not in str(body)


def test_another_accounts_run_is_not_found(
    client: TestClient, token_for: Bearer, sent_run: tuple[uuid.UUID, uuid.UUID]
) -> None:
    campaign_id, execution_id = sent_run
    other = client.get(_url(campaign_id, execution_id), headers=token_for("globex"))
    assert other.status_code == 404
    assert other.json()["success"] is False
    assert other.json()["error"]["code"] == "NOT_FOUND"
    unknown = client.get(_url(campaign_id, uuid.uuid4()), headers=token_for())
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"
    malformed = client.get(_url(campaign_id, "nope"), headers=token_for())
    assert malformed.status_code == 400
