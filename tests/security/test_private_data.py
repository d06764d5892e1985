"""Personal data and operator secrets stay out of logs, error bodies and preflight results."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.messaging.helpers import make_audience, make_campaign, make_template, post

from beacon.core.db import Database
from beacon.messaging.audiences import repository as audience_repository

API = "/public/v1"


def test_a_failed_contact_batch_logs_no_sql_parameters(
    client: TestClient,
    db: Database,
    bearer_for: Callable[..., dict[str, str]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database refuses one row of a batch: the 500's log names the error, not the batch."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores a non-finite JSON number; PostgreSQL refuses the batch")
    real_upsert = audience_repository.upsert_contacts

    def poisoned(session: Any, rows: list[dict[str, Any]]) -> None:
        rows[-1]["attributes"] = {"score": float("inf")}  # PostgreSQL's jsonb refuses Infinity
        real_upsert(session, rows)

    monkeypatch.setattr(audience_repository, "upsert_contacts", poisoned)
    batch = [
        {"email": "ada.private@example.com", "firstName": "Ada", "phone": "+14155550199"},
        {"email": "bob.private@example.com", "firstName": "Bob"},
    ]
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            f"{API}/contacts", headers=bearer_for("acme"), json={"contacts": batch}
        )
    assert response.status_code == 500
    assert "unhandled error" in caplog.text and "jsonb" in caplog.text.lower()
    for secret in ("ada.private@example.com", "bob.private@example.com", "+14155550199"):
        assert secret not in caplog.text
        assert secret not in response.text
    assert "hide_parameters" in caplog.text  # SQLAlchemy's note that the parameters are hidden


def test_preflight_names_the_sms_provider_host_only(
    app: FastAPI, client: TestClient, bearer_for: Callable[..., dict[str, str]]
) -> None:
    """The operator's SMS URL may carry credentials: a tenant's preflight shows its host."""
    app.state.settings = app.state.settings.model_copy(
        update={
            "sms_api_base_url": "https://AC42:op-secret@sms.internal.example:8443/v1?key=k-secret",
            "sms_account_sid": "AC42",
            "sms_auth_token": SecretStr("tok-secret"),
            "sms_from_number": "+15005550006",
        }
    )
    auth = bearer_for("acme")
    segment = make_audience(client, auth)
    template = make_template(client, auth, channel="sms")
    campaign = make_campaign(client, auth, segment_id=segment, template_id=template, channel="sms")
    response = post(client, f"/campaigns/{campaign['campaignId']}/preflight", auth)
    (check,) = [c for c in response.json()["data"]["checks"] if c["id"] == "delivery_provider"]
    assert check == {
        "id": "delivery_provider",
        "status": "passed",
        "message": "Delivered through SMS API sms.internal.example:8443",
    }
    assert "secret" not in response.text and "AC42" not in response.text
